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
    assert!(matches!(
        ok(f.store
            .claim_idempotency_key(&claim(3, "1", T0.plus_secs(31)))
            .await),
        ClaimOutcome::Claimed(_)
    ));
    // Finishing a refusal records it.
    ok(f.store.finish_idempotency_key(&t2, "{\"Refused\":1}").await);
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
