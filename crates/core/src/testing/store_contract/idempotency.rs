//! The store contract: idempotency keys.

use super::*;

pub async fn idempotency_keys_replay_conflict_and_expire(stores: Stores) {
    let f = fixture(stores).await;
    let claim = |who: i64, amount: &str, now: Timestamp| IdempotencyClaim {
        user_id: user(who),
        scope: IdempotencyScope::Charge,
        key: ok(IdempotencyKey::parse("key-1")),
        fingerprint: Fingerprint::of(IdempotencyScope::Charge, &[amount]),
        now,
        lease_until: now.plus_secs(30),
    };
    let ClaimOutcome::Claimed(ticket) = ok(f.store.claim_idempotency_key(&claim(1, "5", T0)).await)
    else {
        panic!("a new key is claimed")
    };
    assert_eq!(
        ok(f.store.claim_idempotency_key(&claim(1, "5", T0)).await),
        ClaimOutcome::InProgress
    );
    assert_eq!(
        ok(f.store.claim_idempotency_key(&claim(1, "6", T0)).await),
        ClaimOutcome::KeyReused
    );
    // Another user's key of the same name is another key.
    assert!(matches!(
        ok(f.store.claim_idempotency_key(&claim(2, "6", T0)).await),
        ClaimOutcome::Claimed(_)
    ));
    // A successful charge records its answer in its own transaction.
    let attempt = ChargeAttempt {
        user_id: user(1),
        amount: Won::new(5),
        max_balance: Won::new(100),
        now: T0,
        event_id: EventId::from_uuid(uuid()),
    };
    ok(f.store.charge_balance(&attempt, Some(&ticket)).await);
    let ClaimOutcome::Replay(answer) = ok(f.store.claim_idempotency_key(&claim(1, "5", T0)).await)
    else {
        panic!("a finished key replays")
    };
    assert!(answer.contains("Done"), "{answer}");
    // An abandoned claim can be claimed again at once; a dead one after its lease.
    let ClaimOutcome::Claimed(t2) = ok(f.store.claim_idempotency_key(&claim(3, "1", T0)).await)
    else {
        panic!()
    };
    ok(f.store.abandon_idempotency_key(&t2).await);
    assert!(matches!(
        ok(f.store.claim_idempotency_key(&claim(3, "1", T0)).await),
        ClaimOutcome::Claimed(_)
    ));
    let ClaimOutcome::Claimed(t3) = ok(f
        .store
        .claim_idempotency_key(&claim(3, "1", T0.plus_secs(31)))
        .await)
    else {
        panic!("a dead lease is taken over")
    };
    // Finishing a refusal records it (under the lease that stands).
    ok(f.store.finish_idempotency_key(&t3, "{\"Refused\":1}").await);
    assert_eq!(
        ok(f.store
            .claim_idempotency_key(&claim(3, "1", T0.plus_secs(40)))
            .await),
        ClaimOutcome::Replay("{\"Refused\":1}".into())
    );
    // Old records are purged.
    assert_eq!(
        ok(f.store.purge_idempotency_keys(T0.plus_millis(1)).await),
        3
    );
    assert!(matches!(
        ok(f.store
            .claim_idempotency_key(&claim(1, "7", T0.plus_secs(50)))
            .await),
        ClaimOutcome::Claimed(_)
    ));
}

/// A claim of `who`'s key `key` for a request meaning `fields`, at `T0`.
fn keyed(who: i64, scope: IdempotencyScope, key: &str, fields: &[&str]) -> IdempotencyClaim {
    IdempotencyClaim {
        user_id: user(who),
        scope,
        key: ok(IdempotencyKey::parse(key)),
        fingerprint: Fingerprint::of(scope, fields),
        now: T0,
        lease_until: T0.plus_secs(30),
    }
}

/// Whether `result` failed because a fresh ticket's key was taken.
fn taken<T: std::fmt::Debug>(result: anyhow::Result<T>) -> bool {
    match result {
        Err(err) => err.is::<KeyTaken>(),
        Ok(value) => panic!("a taken key must fail the command, got {value:?}"),
    }
}

pub async fn a_fresh_key_is_written_with_its_answer_once_and_a_taken_one_changes_nothing(
    stores: Stores,
) {
    let f = fixture(stores).await;
    let charge = |amount: i64| ChargeAttempt {
        user_id: user(1),
        amount: Won::new(amount),
        max_balance: Won::new(100),
        now: T0,
        event_id: EventId::from_uuid(uuid()),
    };
    // No claim row before it: the charge writes the key with its answer.
    let claim = keyed(1, IdempotencyScope::Charge, "fresh-1", &["5"]);
    let fresh = claim.fresh_ticket();
    ok(f.store.charge_balance(&charge(5), Some(&fresh)).await);
    let ClaimOutcome::Replay(answer) = ok(f.store.claim_idempotency_key(&claim).await) else {
        panic!("a key written with its answer replays")
    };
    assert!(answer.contains("Done"), "{answer}");
    let backlog = ok(f.store.outbox_backlog().await).unpublished;
    // The same key again, for the same or another request: refused whole.
    assert!(taken(
        f.store.charge_balance(&charge(5), Some(&fresh)).await
    ));
    let reused = keyed(1, IdempotencyScope::Charge, "fresh-1", &["7"]).fresh_ticket();
    assert!(taken(
        f.store.charge_balance(&charge(7), Some(&reused)).await
    ));
    assert_eq!(f.balance(1).await, Won::new(5));
    assert_eq!(ok(f.store.outbox_backlog().await).unpublished, backlog);
    // Twins racing with one fresh key: one charges, the other finds it taken.
    let twin = keyed(2, IdempotencyScope::Charge, "fresh-2", &["9"]).fresh_ticket();
    let (store, attempt) = (f.store.clone(), charge(9));
    let race = (0..2).map(|_| {
        let (store, ticket) = (store.clone(), twin.clone());
        let attempt = ChargeAttempt {
            user_id: user(2),
            event_id: EventId::from_uuid(uuid()),
            ..attempt.clone()
        };
        spawned(async move { store.charge_balance(&attempt, Some(&ticket)).await })
    });
    let results = futures::future::join_all(race).await;
    let charged = results
        .iter()
        .filter(|r| matches!(r, Ok(ChargeOutcome::Charged(_))))
        .count();
    let refused = results
        .iter()
        .filter(|r| r.as_ref().is_err_and(|e| e.is::<KeyTaken>()))
        .count();
    assert_eq!((charged, refused), (1, 1), "{results:?}");
    assert_eq!(f.balance(2).await, Won::new(9));
    // A refusal's answer, recorded on its own, is written the same way once.
    let refusal = keyed(3, IdempotencyScope::Charge, "fresh-3", &["1"]);
    ok(f.store
        .finish_idempotency_key(&refusal.fresh_ticket(), "{\"Refused\":1}")
        .await);
    assert!(taken(
        f.store
            .finish_idempotency_key(&refusal.fresh_ticket(), "{\"Refused\":2}")
            .await
    ));
    assert_eq!(
        ok(f.store.claim_idempotency_key(&refusal).await),
        ClaimOutcome::Replay("{\"Refused\":1}".into())
    );
    f.assert_clean().await;
}

pub async fn a_payment_or_cancellation_under_a_taken_fresh_key_sells_and_refunds_nothing(
    stores: Stores,
) {
    let f = fixture(stores).await;
    f.charge(1, 500_000).await;
    let hold = f.held(1, 12, T0).await;
    let claim = keyed(
        1,
        IdempotencyScope::Payment,
        "pay-fresh",
        &[&hold.to_string()],
    );
    let PaymentOutcome::Confirmed(receipt) = ok(f
        .booking
        .confirm_payment(&f.payment(1, hold, T0), Some(&claim.fresh_ticket()))
        .await)
    else {
        panic!("a payment under a fresh key sells")
    };
    let ClaimOutcome::Replay(answer) = ok(f.store.claim_idempotency_key(&claim).await) else {
        panic!("the payment wrote its key with its answer")
    };
    let reservation = receipt.reservations[0].reservation_id;
    assert!(answer.contains(&reservation.to_string()), "{answer}");
    // The key again, for another hold: the seat stays held, the money put.
    let second = f.held(1, 13, T0).await;
    let balance = f.balance(1).await;
    let backlog = ok(f.store.outbox_backlog().await).unpublished;
    let again = keyed(
        1,
        IdempotencyScope::Payment,
        "pay-fresh",
        &[&second.to_string()],
    );
    assert!(taken(
        f.booking
            .confirm_payment(&f.payment(1, second, T0), Some(&again.fresh_ticket()))
            .await
    ));
    assert_eq!(f.status(13, T0).await, SeatStatus::Held);
    assert_eq!(f.balance(1).await, balance);
    // A cancellation under a taken key refunds nothing and keeps the sale.
    let cancel = keyed(1, IdempotencyScope::Cancellation, "pay-fresh", &["x"]);
    ok(f.store
        .finish_idempotency_key(&cancel.fresh_ticket(), "{\"Refused\":1}")
        .await);
    let mine = keyed(
        1,
        IdempotencyScope::Cancellation,
        "pay-fresh",
        &[&reservation.to_string()],
    );
    assert!(taken(
        f.booking
            .cancel_reservation(
                &f.cancellation(1, reservation, T0.plus_secs(60)),
                Some(&mine.fresh_ticket())
            )
            .await
    ));
    assert_eq!(f.status(12, T0).await, SeatStatus::Sold);
    assert_eq!(f.balance(1).await, balance);
    assert_eq!(ok(f.store.outbox_backlog().await).unpublished, backlog);
    // The hold the taken key failed to pay is still payable.
    assert!(matches!(
        f.pay(1, second, T0).await,
        PaymentOutcome::Confirmed(_)
    ));
    f.assert_clean().await;
}

pub async fn a_lease_taken_over_answers_nothing_for_its_first_holder_who_cannot_give_it_back(
    stores: Stores,
) {
    let f = fixture(stores).await;
    let first = keyed(1, IdempotencyScope::Charge, "slow-1", &["5"]);
    let ClaimOutcome::Claimed(slow) = ok(f.store.claim_idempotency_key(&first).await) else {
        panic!("a new key is claimed")
    };
    // The first holder outlives its lease; a repeat takes the key over.
    let later = IdempotencyClaim {
        now: T0.plus_secs(31),
        lease_until: T0.plus_secs(61),
        ..first.clone()
    };
    let ClaimOutcome::Claimed(taker) = ok(f.store.claim_idempotency_key(&later).await) else {
        panic!("a dead lease is taken over")
    };
    let charge = || ChargeAttempt {
        user_id: user(1),
        amount: Won::new(5),
        max_balance: Won::new(100),
        now: T0.plus_secs(31),
        event_id: EventId::from_uuid(uuid()),
    };
    // The slow holder's charge and its refusal's record both fail whole.
    assert!(taken(f.store.charge_balance(&charge(), Some(&slow)).await));
    assert!(taken(
        f.store
            .finish_idempotency_key(&slow, "{\"Refused\":1}")
            .await
    ));
    assert_eq!(f.balance(1).await, Won::new(0));
    // Its give-back leaves the taker's claim standing.
    ok(f.store.abandon_idempotency_key(&slow).await);
    let repeat = IdempotencyClaim {
        now: T0.plus_secs(32),
        lease_until: T0.plus_secs(62),
        ..first.clone()
    };
    assert_eq!(
        ok(f.store.claim_idempotency_key(&repeat).await),
        ClaimOutcome::InProgress
    );
    // The taker charges once and its answer replays.
    assert!(matches!(
        ok(f.store.charge_balance(&charge(), Some(&taker)).await),
        ChargeOutcome::Charged(_)
    ));
    assert_eq!(f.balance(1).await, Won::new(5));
    assert!(matches!(
        ok(f.store.claim_idempotency_key(&repeat).await),
        ClaimOutcome::Replay(_)
    ));
    f.assert_clean().await;
}
