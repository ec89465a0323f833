//! The store contract: the relay's side of the outbox.

use super::*;

pub async fn the_outbox_hands_out_events_in_order_until_published(stores: Stores) {
    let f = fixture(stores).await;
    for who in [1, 2, 1, 3] {
        f.charge(who, 1_000).await;
    }
    let lease = T0.plus_secs(30);
    let backlog = ok(f.store.outbox_backlog().await);
    assert_eq!(backlog.unpublished, 4);
    assert!(backlog.oldest_created_at.is_some());
    // Only the oldest event of each key is claimable; user 1's second waits.
    let first = ok(f.store.claim_unpublished(T0, 1, lease, 2).await);
    let keys: Vec<&str> = first.iter().map(|e| e.aggregate_key.as_str()).collect();
    assert_eq!(keys, ["1", "2"]);
    let next = ok(f.store.claim_unpublished(T0, 1, lease, 10).await);
    let keys: Vec<&str> = next.iter().map(|e| e.aggregate_key.as_str()).collect();
    assert_eq!(
        keys,
        ["3"],
        "claimed events and their keys' later events are skipped"
    );
    // Publishing unblocks a key; a released claim is claimable again.
    ok(f.store.mark_published(&[first[0].id], T0).await);
    ok(f.store.release_claims(&[first[1].id], 1).await);
    let again = ok(f.store.claim_unpublished(T0, 1, lease, 10).await);
    let keys: Vec<&str> = again.iter().map(|e| e.aggregate_key.as_str()).collect();
    assert_eq!(keys, ["2", "1"], "oldest first");
    assert_eq!(again[0].id, first[1].id);
    // A lapsed lease frees a claim.
    assert!(ok(f.store.claim_unpublished(T0, 1, lease, 10).await).is_empty());
    let lapsed = ok(f
        .store
        .claim_unpublished(lease, 1, lease.plus_secs(30), 10)
        .await);
    assert_eq!(lapsed.len(), 3);
    assert!(ok(f.store.published_reservations_by_concert().await).is_empty());
    // A published reservation counts towards the ranking's starting point.
    f.charge(6, 500_000).await;
    let hold = f.held(6, 1, T0).await;
    f.pay(6, hold, T0).await;
    let later = T0.plus_secs(120);
    let all: Vec<EventId> = ok(f
        .store
        .claim_unpublished(later, 1, later.plus_secs(30), 100)
        .await)
    .iter()
    .map(|e| e.id)
    .collect();
    assert_eq!(all.len(), 5, "every key's head, lapsed claims included");
    ok(f.store.mark_published(&all, later).await);
    assert_eq!(ok(f.store.outbox_backlog().await).unpublished, 0);
    assert_eq!(
        ok(f.store.published_reservations_by_concert().await),
        vec![(f.concert, 1)]
    );
}

/// A live relay keeps its claims by renewing them; once a claim has lapsed
/// and another relay has taken it, the first can neither renew it nor give
/// it back (decision 0008: a relay that stalled past its lease must stop).
pub async fn a_claim_is_renewed_and_given_back_only_by_the_relay_that_still_holds_it(
    stores: Stores,
) {
    let f = fixture(stores).await;
    for who in [1, 2, 3] {
        f.charge(who, 1_000).await;
    }
    let (first, second, third) = (11, 22, 33);
    let lease = T0.plus_secs(5);
    let mine = ok(f.store.claim_unpublished(T0, first, lease, 10).await);
    let ids: Vec<EventId> = mine.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), 3);
    // Renewed before it lapses: past the first lease, nobody else gets them.
    let renewed = T0.plus_secs(9);
    let kept = ok(f.store.renew_claims(&ids, first, renewed).await);
    assert_eq!(kept, ids, "every claim still held is renewed");
    let past_first_lease = T0.plus_secs(6);
    let rival = ok(f
        .store
        .claim_unpublished(past_first_lease, second, past_first_lease.plus_secs(5), 10)
        .await);
    assert!(rival.is_empty(), "renewed claims outlive their first lease");
    // Another relay can neither renew nor release claims it does not hold.
    assert!(ok(f.store.renew_claims(&ids, second, T0.plus_secs(20)).await).is_empty());
    ok(f.store.release_claims(&ids, second).await);
    let rival = ok(f
        .store
        .claim_unpublished(past_first_lease, second, past_first_lease.plus_secs(5), 10)
        .await);
    assert!(
        rival.is_empty(),
        "a release by another relay gave claims back"
    );
    // One is published; the rest lapse and another relay takes them.
    ok(f.store.mark_published(&ids[..1], T0.plus_secs(7)).await);
    let theirs = ok(f
        .store
        .claim_unpublished(renewed, third, renewed.plus_secs(5), 10)
        .await);
    let theirs: Vec<EventId> = theirs.iter().map(|e| e.id).collect();
    assert_eq!(theirs, ids[1..], "lapsed claims are taken over");
    // The first relay, back from its stall, has lost every one of them.
    let late = renewed.plus_secs(1);
    assert!(
        ok(f.store.renew_claims(&ids, first, late.plus_secs(5)).await).is_empty(),
        "neither a published event nor a claim taken over is renewed"
    );
    ok(f.store.release_claims(&ids, first).await);
    let rival = ok(f
        .store
        .claim_unpublished(late, second, late.plus_secs(5), 10)
        .await);
    assert!(
        rival.is_empty(),
        "the first relay's release left the new holder's claims alone"
    );
    // The new holder gives them back.
    ok(f.store.release_claims(&theirs, third).await);
    let again = ok(f
        .store
        .claim_unpublished(late, second, late.plus_secs(5), 10)
        .await);
    assert_eq!(again.len(), 2);
}

/// An event appended while a request is served carries that request's
/// `traceparent` and request id (docs/events.md); one appended outside any
/// request carries none.
pub async fn events_appended_while_serving_a_request_carry_its_trace(stores: Stores) {
    let f = fixture(stores).await;
    f.charge(1, 500_000).await;
    let hold = f.held(1, 3, T0).await;
    let context = boxoffice_trace::Context {
        traceparent: boxoffice_trace::TraceParent::fresh(),
        request_id: "pay-3".into(),
    };
    boxoffice_trace::scope(context.clone(), f.pay(1, hold, T0.plus_secs(5))).await;
    let events = ok(f
        .store
        .claim_unpublished(T0, 1, T0.plus_secs(30), 100)
        .await);
    let trace_of = |kind: &str| -> Vec<Option<EventTrace>> {
        events
            .iter()
            .filter(|e| e.event_type == kind)
            .map(|e| e.trace.clone())
            .collect()
    };
    let expected = EventTrace {
        traceparent: context.traceparent.to_string(),
        request_id: context.request_id,
    };
    assert_eq!(trace_of(RESERVATION_CONFIRMED), [Some(expected)]);
    let charged: Vec<_> = events
        .iter()
        .filter(|e| e.event_type != RESERVATION_CONFIRMED)
        .collect();
    assert!(!charged.is_empty(), "the charge appended an event");
    assert!(
        charged.iter().all(|e| e.trace.is_none()),
        "the charge was made outside any request: {charged:?}"
    );
}
