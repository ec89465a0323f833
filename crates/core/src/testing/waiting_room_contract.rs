//! The behaviour every `WaitingRoom` adapter must show. Each case takes a
//! fresh, empty waiting room; `waiting_room_contract_tests!` turns them into
//! one test each.

use super::{concert_id, user};
use crate::domain::queue_token::{Lane, QueuePolicy, QueueToken, Rejoin, TokenState};
use crate::domain::room::admission_inversions;
use crate::domain::{Timestamp, TokenId};
use crate::ports::{Census, WaitingRoom};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[macro_export]
macro_rules! waiting_room_contract_tests {
    ($make:expr) => {
        $crate::waiting_room_contract_tests!(@cases $make;
            positions_follow_arrival_order_and_reentry_keeps_the_token,
            admission_respects_batch_cap_and_order,
            abandoned_tokens_leave_the_line_and_the_count,
            active_tokens_expire_after_their_ttl,
            payment_expiry_ends_only_tokens_issued_by_then,
            unknown_tokens_and_tokens_of_another_concert_are_not_found,
            asking_again_keeps_a_waiting_token_alive,
            concurrent_entries_get_distinct_consecutive_positions,
            a_reserved_token_waits_without_a_position_until_it_enters,
            tokens_carry_when_they_were_issued,
            admissions_ended_early_join_the_revocation_feed_once,
            the_pre_queue_is_drawn_into_line_ahead_of_later_arrivals,
            polling_many_answers_each_token_and_keeps_them_alive,
            running_totals_count_admissions_and_no_shows,
        );
    };
    (@cases $make:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let room: std::sync::Arc<dyn $crate::ports::WaitingRoom> = $make;
                $crate::testing::waiting_room_contract::$case(room).await;
            }
        )+

        /// Two rooms made the same way: the second is the first after it
        /// lost everything (an empty Redis, a new process).
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_room_that_lost_its_line_takes_each_fan_back_to_their_place() {
            let before: std::sync::Arc<dyn $crate::ports::WaitingRoom> = $make;
            let after: std::sync::Arc<dyn $crate::ports::WaitingRoom> = $make;
            $crate::testing::waiting_room_contract::a_room_that_lost_its_line_takes_each_fan_back_to_their_place(before, after).await;
        }
    };
}

const T0: Timestamp = Timestamp::from_millis(1_893_456_000_000);
static TOKENS: AtomicU64 = AtomicU64::new(1);

fn fresh_token() -> TokenId {
    let n = TOKENS.fetch_add(1, Ordering::SeqCst);
    let mut bytes = [0x5a; 16];
    bytes[8..].copy_from_slice(&n.to_be_bytes());
    TokenId::from_bytes(bytes)
}

fn policy() -> QueuePolicy {
    QueuePolicy {
        admit_batch: 2,
        admit_interval_secs: 1,
        max_active: 3,
        active_ttl_secs: 60,
        abandon_after_secs: 30,
        expired_retention_secs: 600,
        ..QueuePolicy::default()
    }
}

/// How many one admission round admitted.
async fn admit(
    room: &dyn WaitingRoom,
    c: crate::domain::ConcertId,
    now: Timestamp,
    p: &QueuePolicy,
) -> u64 {
    ok(room.admit(c, now, p).await).admitted
}

/// The pairs admitted out of line order, from the room's own record.
async fn inversions(room: &dyn WaitingRoom, c: crate::domain::ConcertId) -> u64 {
    admission_inversions(&ok(room.admissions(c).await))
}

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e:#}"))
}

fn position(t: &QueueToken) -> Option<u64> {
    match t.state {
        TokenState::Waiting { position, .. } => position,
        _ => None,
    }
}

async fn enter(room: &dyn WaitingRoom, who: i64, now: Timestamp) -> QueueToken {
    ok(room
        .enter(
            concert_id(1),
            user(who),
            fresh_token(),
            now,
            &policy(),
            Lane::Line,
        )
        .await)
}

/// Polls a token of concert 1, which every case's tokens are unless they say otherwise.
async fn poll(room: &dyn WaitingRoom, token: TokenId, now: Timestamp) -> QueueToken {
    ok(room.poll(concert_id(1), token, now, &policy()).await)
        .unwrap_or_else(|| panic!("token should be known"))
}

pub async fn positions_follow_arrival_order_and_reentry_keeps_the_token(
    room: Arc<dyn WaitingRoom>,
) {
    let mut tokens = Vec::new();
    for who in 1..=5 {
        let t = enter(room.as_ref(), who, T0).await;
        assert_eq!(position(&t), Some(who as u64));
        assert_eq!(t.user_id, user(who));
        assert_eq!(t.concert_id, concert_id(1));
        tokens.push(t.token);
    }
    let again = enter(room.as_ref(), 3, T0).await;
    assert_eq!(again.token, tokens[2]);
    assert_eq!(position(&again), Some(3));
    // Another concert has its own line.
    let other = ok(room
        .enter(
            concert_id(2),
            user(3),
            fresh_token(),
            T0,
            &policy(),
            Lane::Line,
        )
        .await);
    assert_eq!(position(&other), Some(1));
    assert_ne!(other.token, tokens[2]);
    assert_eq!(
        ok(room.concerts_in_line().await),
        vec![concert_id(1), concert_id(2)]
    );
}

pub async fn admission_respects_batch_cap_and_order(room: Arc<dyn WaitingRoom>) {
    let mut tokens = Vec::new();
    for who in 1..=6 {
        tokens.push(enter(room.as_ref(), who, T0).await.token);
    }
    let p = policy();
    assert_eq!(admit(room.as_ref(), concert_id(1), T0, &p).await, 2);
    assert_eq!(
        admit(room.as_ref(), concert_id(1), T0, &p).await,
        1,
        "cap of 3"
    );
    assert_eq!(admit(room.as_ref(), concert_id(1), T0, &p).await, 0);
    for (i, token) in tokens.iter().enumerate() {
        let t = poll(room.as_ref(), *token, T0).await;
        if i < 3 {
            assert_eq!(
                t.state,
                TokenState::Active {
                    expires_at: T0.plus_secs(60)
                }
            );
        } else {
            assert_eq!(position(&t), Some(i as u64 - 2));
        }
    }
    assert_eq!(admit(room.as_ref(), concert_id(2), T0, &p).await, 0);
    let log = ok(room.admissions(concert_id(1)).await);
    assert_eq!(log.len(), 3, "every admission is recorded");
    assert_eq!(admission_inversions(&log), 0);
}

pub async fn abandoned_tokens_leave_the_line_and_the_count(room: Arc<dyn WaitingRoom>) {
    let quiet = enter(room.as_ref(), 1, T0).await.token;
    let keen = enter(room.as_ref(), 2, T0).await.token;
    let last = enter(room.as_ref(), 3, T0).await.token;
    let t20 = T0.plus_secs(20);
    poll(room.as_ref(), keen, t20).await;
    poll(room.as_ref(), last, t20).await;
    let t30 = T0.plus_secs(30);
    assert_eq!(position(&poll(room.as_ref(), last, t30).await), Some(2));
    let quiet_now = poll(room.as_ref(), quiet, t30).await;
    assert_eq!(quiet_now.state, TokenState::Expired { expired_at: t30 });
    assert_eq!(admit(room.as_ref(), concert_id(1), t30, &policy()).await, 2);
    assert!(matches!(
        poll(room.as_ref(), keen, t30).await.state,
        TokenState::Active { .. }
    ));
    // An abandoned user who asks again gets a new token at the end of the line.
    let back = enter(room.as_ref(), 1, t30).await;
    assert_ne!(back.token, quiet);
    assert_eq!(position(&back), Some(1));
}

pub async fn active_tokens_expire_after_their_ttl(room: Arc<dyn WaitingRoom>) {
    let a = enter(room.as_ref(), 1, T0).await.token;
    admit(room.as_ref(), concert_id(1), T0, &policy()).await;
    let peeked = ok(room
        .peek(concert_id(1), a, T0.plus_secs(59), &policy())
        .await);
    assert!(matches!(
        peeked.map(|t| t.state),
        Some(TokenState::Active { .. })
    ));
    let later = T0.plus_secs(60);
    assert_eq!(
        poll(room.as_ref(), a, later).await.state,
        TokenState::Expired { expired_at: later }
    );
    // A line that emptied is dropped from the concerts to visit by the next round at the latest.
    assert_eq!(
        admit(room.as_ref(), concert_id(1), later, &policy()).await,
        0
    );
    assert!(ok(room.concerts_in_line().await).is_empty());
    // Expired tokens are remembered for the retention, then forgotten.
    assert!(
        ok(room
            .peek(concert_id(1), a, later.plus_secs(600), &policy())
            .await)
        .is_none()
    );
}

pub async fn payment_expiry_ends_only_tokens_issued_by_then(room: Arc<dyn WaitingRoom>) {
    let a = enter(room.as_ref(), 1, T0).await.token;
    admit(room.as_ref(), concert_id(1), T0, &policy()).await;
    let paid_at = T0.plus_secs(5);
    let ended = ok(room
        .expire(concert_id(1), user(1), paid_at, paid_at, &policy())
        .await);
    assert_eq!(
        ended.map(|t| (t.token, t.state.status_name())),
        Some((a, "ACTIVE"))
    );
    assert_eq!(
        poll(room.as_ref(), a, paid_at).await.state,
        TokenState::Expired {
            expired_at: paid_at
        }
    );
    assert_eq!(
        ok(room
            .expire(concert_id(1), user(1), paid_at, paid_at, &policy())
            .await),
        None
    );
    // A token issued after the payment survives a late expiry of that payment.
    let newer = enter(room.as_ref(), 1, T0.plus_secs(6)).await.token;
    assert_ne!(newer, a);
    assert_eq!(
        ok(room
            .expire(concert_id(1), user(1), paid_at, T0.plus_secs(7), &policy())
            .await),
        None
    );
    assert_eq!(
        position(&poll(room.as_ref(), newer, T0.plus_secs(7)).await),
        Some(1)
    );
    assert_eq!(
        ok(room
            .expire(concert_id(1), user(9), paid_at, paid_at, &policy())
            .await),
        None
    );
}

pub async fn asking_again_keeps_a_waiting_token_alive(room: Arc<dyn WaitingRoom>) {
    let first = enter(room.as_ref(), 1, T0).await;
    let again = enter(room.as_ref(), 1, T0.plus_secs(25)).await;
    assert_eq!(again.token, first.token);
    // Last seen at +25 s, so still waiting at +50 s (abandon after 30 s).
    let later = poll(room.as_ref(), first.token, T0.plus_secs(50)).await;
    assert_eq!(position(&later), Some(1));
}

pub async fn unknown_tokens_and_tokens_of_another_concert_are_not_found(
    room: Arc<dyn WaitingRoom>,
) {
    let c = concert_id(1);
    assert!(ok(room.poll(c, fresh_token(), T0, &policy()).await).is_none());
    assert!(ok(room.peek(c, fresh_token(), T0, &policy()).await).is_none());
    // A real token asked for under another concert is not found there,
    // and the asking does not count as a sign of life.
    let known = enter(room.as_ref(), 1, T0).await.token;
    let elsewhere = concert_id(2);
    assert!(
        ok(room
            .poll(elsewhere, known, T0.plus_secs(20), &policy())
            .await)
        .is_none()
    );
    assert!(
        ok(room
            .peek(elsewhere, known, T0.plus_secs(20), &policy())
            .await)
        .is_none()
    );
    let abandoned = T0.plus_secs(31);
    assert!(matches!(
        poll(room.as_ref(), known, abandoned).await.state,
        TokenState::Expired { .. }
    ));
}

pub async fn concurrent_entries_get_distinct_consecutive_positions(room: Arc<dyn WaitingRoom>) {
    let entries = (1..=200).map(|who| {
        let room = room.clone();
        tokio::spawn(async move { enter(room.as_ref(), who, T0).await })
    });
    let mut positions: Vec<u64> = futures::future::join_all(entries)
        .await
        .into_iter()
        .map(|r| position(&r.unwrap_or_else(|e| panic!("{e}"))).unwrap_or(0))
        .collect();
    positions.sort_unstable();
    assert_eq!(positions, (1..=200).collect::<Vec<u64>>());
}

pub async fn a_reserved_token_waits_without_a_position_until_it_enters(room: Arc<dyn WaitingRoom>) {
    let (c, p) = (concert_id(1), policy());
    let reserved = fresh_token();
    let t = ok(room.reserve(c, user(1), reserved, T0, &p).await);
    assert_eq!((t.token, position(&t)), (reserved, None));
    assert_eq!(t.state.status_name(), "WAITING");
    // Asking again returns the reservation, not a second token.
    let again = ok(room.reserve(c, user(1), fresh_token(), T0, &p).await);
    assert_eq!((again.token, position(&again)), (reserved, None));
    assert_eq!(position(&poll(room.as_ref(), reserved, T0).await), None);
    // Someone whose entry arrives first is ahead.
    let direct = enter(room.as_ref(), 2, T0).await;
    assert_eq!(position(&direct), Some(1));
    assert_eq!(
        admit(room.as_ref(), c, T0, &p).await,
        1,
        "a reservation is not admitted"
    );
    let later = T0.plus_secs(5);
    let placed = ok(room
        .place(c, user(1), reserved, later, &p, Lane::Line)
        .await);
    let placed = placed.unwrap_or_else(|| panic!("a reserved token is placed"));
    assert_eq!((placed.token, position(&placed)), (reserved, Some(1)));
    let repeat = ok(room
        .place(c, user(1), reserved, later, &p, Lane::Line)
        .await);
    let repeat = repeat.unwrap_or_else(|| panic!("placing twice answers the token"));
    assert_eq!(
        (repeat.token, position(&repeat)),
        (reserved, Some(1)),
        "placing twice"
    );
    assert_eq!(admit(room.as_ref(), c, later, &p).await, 1);
    let admitted = poll(room.as_ref(), reserved, later).await;
    assert_eq!(admitted.state.status_name(), "ACTIVE");
    // The token was issued when it was reserved: a payment made with it then ends it.
    assert!(ok(room.expire(c, user(1), T0, later, &p).await).is_some());
    // A repeated entry of an ended token brings nothing back.
    assert_eq!(
        ok(room
            .place(c, user(1), reserved, later, &p, Lane::Line)
            .await),
        None
    );
    let ended = poll(room.as_ref(), reserved, later).await;
    assert_eq!(ended.state.status_name(), "EXPIRED");
    let unknown = ok(room
        .place(c, user(9), fresh_token(), later, &p, Lane::Line)
        .await);
    assert_eq!(unknown, None);
    // A reservation nobody polls is abandoned like any waiting token.
    let quiet = ok(room.reserve(c, user(3), fresh_token(), later, &p).await);
    let gone = later.plus_secs(p.abandon_after_secs + 1);
    let abandoned = poll(room.as_ref(), quiet.token, gone).await;
    assert_eq!(abandoned.state.status_name(), "EXPIRED");
    assert_eq!(
        ok(room
            .place(c, user(3), quiet.token, gone, &p, Lane::Line)
            .await),
        None
    );
    assert_eq!(inversions(room.as_ref(), c).await, 0);
}

pub async fn tokens_carry_when_they_were_issued(room: Arc<dyn WaitingRoom>) {
    let first = enter(room.as_ref(), 1, T0).await;
    let second = enter(room.as_ref(), 2, T0.plus_millis(3)).await;
    assert_eq!((first.issued_at, second.issued_at), (T0, T0.plus_millis(3)));
    // Asking again, polling and admission keep the instant of issue.
    let again = enter(room.as_ref(), 1, T0.plus_secs(5)).await;
    assert_eq!(again.issued_at, T0);
    admit(room.as_ref(), concert_id(1), T0.plus_secs(5), &policy()).await;
    let admitted = poll(room.as_ref(), first.token, T0.plus_secs(5)).await;
    assert_eq!(
        (admitted.state.status_name(), admitted.issued_at),
        ("ACTIVE", T0)
    );
    let reserved = ok(room
        .reserve(
            concert_id(2),
            user(3),
            fresh_token(),
            T0.plus_secs(6),
            &policy(),
        )
        .await);
    let placed = ok(room
        .place(
            concert_id(2),
            user(3),
            reserved.token,
            T0.plus_secs(9),
            &policy(),
            Lane::Line,
        )
        .await);
    assert_eq!(placed.map(|t| t.issued_at), Some(T0.plus_secs(6)));
}

pub async fn admissions_ended_early_join_the_revocation_feed_once(room: Arc<dyn WaitingRoom>) {
    let (c, p) = (concert_id(1), policy());
    let empty = ok(room.revocations_since("", 100).await);
    assert!(empty.revocations.is_empty());
    let admitted = enter(room.as_ref(), 1, T0).await.token;
    let waiting = enter(room.as_ref(), 2, T0).await.token;
    admit(
        room.as_ref(),
        c,
        T0,
        &QueuePolicy {
            admit_batch: 1,
            ..p
        },
    )
    .await;
    let until = T0.plus_secs(p.active_ttl_secs);
    // Ending a waiting token revokes no pass: it never had one.
    assert!(ok(room.expire(c, user(2), T0, T0, &p).await).is_some());
    assert!(ok(room.expire(c, user(1), T0, T0.plus_secs(1), &p).await).is_some());
    let page = ok(room.revocations_since(&empty.cursor, 100).await);
    let tokens: Vec<_> = page
        .revocations
        .iter()
        .map(|r| (r.token, r.pass_expires_at))
        .collect();
    assert_eq!(tokens, vec![(admitted, until)]);
    assert!(!tokens.iter().any(|(t, _)| *t == waiting));
    // Read on from the cursor: nothing new, and the cursor stays.
    let again = ok(room.revocations_since(&page.cursor, 100).await);
    assert!(again.revocations.is_empty());
    assert_eq!(again.cursor, page.cursor);
    // Several revocations come oldest first, a page at a time.
    for who in 10..13 {
        enter(room.as_ref(), who, T0.plus_secs(2)).await;
    }
    admit(
        room.as_ref(),
        c,
        T0.plus_secs(2),
        &QueuePolicy {
            admit_batch: 10,
            max_active: 10,
            ..p
        },
    )
    .await;
    let mut ended = Vec::new();
    for who in 10..13 {
        let token = ok(room
            .expire(c, user(who), T0.plus_secs(2), T0.plus_secs(3), &p)
            .await);
        ended.push(token.map(|t| t.token));
    }
    let first = ok(room.revocations_since(&page.cursor, 2).await);
    let rest = ok(room.revocations_since(&first.cursor, 2).await);
    let read: Vec<_> = first
        .revocations
        .iter()
        .chain(&rest.revocations)
        .map(|r| Some(r.token))
        .collect();
    assert_eq!(read, ended);
}

pub async fn the_pre_queue_is_drawn_into_line_ahead_of_later_arrivals(room: Arc<dyn WaitingRoom>) {
    let (c, p) = (
        concert_id(1),
        QueuePolicy {
            admit_batch: 10,
            max_active: 10,
            ..policy()
        },
    );
    let mut early = Vec::new();
    for who in 1..=3 {
        let t = ok(room
            .enter(c, user(who), fresh_token(), T0, &p, Lane::PreQueue)
            .await);
        assert_eq!(t.state.status_name(), "PRE_QUEUE");
        early.push(t.token);
    }
    // Asking again keeps the pre-queued token; nobody is admitted from the pre-queue.
    let again = ok(room
        .enter(c, user(1), fresh_token(), T0, &p, Lane::PreQueue)
        .await);
    assert_eq!(again.token, early[0]);
    assert_eq!(admit(room.as_ref(), c, T0, &p).await, 0);
    assert_eq!(ok(room.concerts_in_line().await), vec![c]);
    assert_eq!(
        ok(room.census(c, T0, &p).await),
        Census {
            pre_queued: 3,
            waiting: 0,
            active: 0
        }
    );
    let opening = T0.plus_secs(1);
    let taken = ok(room.take_pre_queue(c, opening, &p).await);
    let mut entries = taken.entries.clone();
    entries.sort();
    let mut expected = early.clone();
    expected.sort();
    assert_eq!((entries, taken.placed), (expected, false));
    // Taken: a late pre-queue entry and a new arrival join the line instead.
    let late = ok(room
        .enter(c, user(4), fresh_token(), opening, &p, Lane::PreQueue)
        .await);
    let after = ok(room
        .enter(c, user(5), fresh_token(), opening, &p, Lane::Line)
        .await);
    assert_eq!(late.state.status_name(), "WAITING");
    let pending = ok(room.admit(c, opening, &p).await);
    assert!(
        pending.draw_pending,
        "nobody is admitted before the draw is placed"
    );
    assert_eq!(pending.admitted, 0);
    // Placed in the drawn order, ahead of both; once only.
    let order = vec![early[2], early[0], early[1]];
    assert!(ok(room.place_drawn(c, &order, opening, &p).await));
    assert!(!ok(room.place_drawn(c, &early, opening, &p).await));
    let again = ok(room.take_pre_queue(c, opening, &p).await);
    assert!(again.placed);
    assert_eq!(again.entries.len(), 3);
    for (place, token) in order.iter().chain([&late.token, &after.token]).enumerate() {
        let polled = poll(room.as_ref(), *token, opening).await;
        assert_eq!(position(&polled), Some(place as u64 + 1), "place {place}");
    }
    // Admission takes the drawn order first; the record shows no inversion.
    assert_eq!(
        admit(
            room.as_ref(),
            c,
            opening,
            &QueuePolicy {
                admit_batch: 2,
                ..p
            }
        )
        .await,
        2
    );
    assert_eq!(admit(room.as_ref(), c, opening.plus_secs(1), &p).await, 3);
    for token in [order[0], order[1]] {
        let polled = poll(room.as_ref(), token, opening.plus_secs(1)).await;
        assert_eq!(polled.state.status_name(), "ACTIVE");
    }
    let log = ok(room.admissions(c).await);
    assert_eq!(log.len(), 5);
    assert_eq!(admission_inversions(&log), 0);
}

pub async fn polling_many_answers_each_token_and_keeps_them_alive(room: Arc<dyn WaitingRoom>) {
    let p = policy();
    let a = enter(room.as_ref(), 1, T0).await.token;
    let b = enter(room.as_ref(), 2, T0).await.token;
    let elsewhere = ok(room
        .enter(concert_id(2), user(3), fresh_token(), T0, &p, Lane::Line)
        .await)
    .token;
    let t20 = T0.plus_secs(20);
    let seen = ok(room
        .poll_many(concert_id(1), &[a, fresh_token(), b, elsewhere], t20, &p)
        .await);
    let positions: Vec<Option<Option<u64>>> =
        seen.iter().map(|t| t.as_ref().map(position)).collect();
    assert_eq!(positions, vec![Some(Some(1)), None, Some(Some(2)), None]);
    // Seen at +20 s: alive at +40 s, though abandon-after is 30 s.
    let t40 = T0.plus_secs(40);
    assert_eq!(position(&poll(room.as_ref(), b, t40).await), Some(2));
}

pub async fn running_totals_count_admissions_and_no_shows(room: Arc<dyn WaitingRoom>) {
    let (c, p) = (concert_id(1), policy());
    enter(room.as_ref(), 1, T0).await;
    enter(room.as_ref(), 2, T0).await;
    let keen = enter(room.as_ref(), 3, T0).await.token;
    // User 2 leaves; user 1 stops polling and is abandoned.
    assert!(ok(room.expire(c, user(2), T0, T0, &p).await).is_some());
    let later = T0.plus_secs(p.abandon_after_secs - 1);
    poll(room.as_ref(), keen, later).await;
    let outcome = ok(room.admit(c, T0.plus_secs(p.abandon_after_secs), &p).await);
    assert_eq!(
        (
            outcome.admitted,
            outcome.waiting_before,
            outcome.admitted_total,
            outcome.abandoned_total
        ),
        (1, 1, 1, 2)
    );
}

/// The rejoin of `t`'s fan with its ticket (of `t`'s epoch), keyed by arrival.
fn rejoin_of(t: &QueueToken, lane: Lane) -> Rejoin {
    Rejoin {
        concert: t.concert_id,
        user: t.user_id,
        token: t.token,
        issued_at: t.issued_at,
        epoch: t.epoch,
        lane,
        key: t.issued_at.as_millis(),
    }
}

pub async fn a_room_that_lost_its_line_takes_each_fan_back_to_their_place(
    before: Arc<dyn WaitingRoom>,
    after: Arc<dyn WaitingRoom>,
) {
    let (c, p) = (
        concert_id(1),
        QueuePolicy {
            heal_window_secs: 5,
            max_active: 10,
            admit_batch: 10,
            ..policy()
        },
    );
    // Four fans in line, a millisecond apart.
    let mut line = Vec::new();
    for who in 1..=4 {
        line.push(enter(before.as_ref(), who, T0.plus_millis(who)).await);
    }
    let lost = T0.plus_secs(10);
    let rejoin = |t: &QueueToken, at: Timestamp| {
        let r = rejoin_of(t, Lane::Line);
        let room = after.clone();
        async move { ok(room.rejoin(&r, at, &p).await) }
    };
    if line[0].epoch == 0 {
        // A room that never loses its line: a token it does not know ended.
        assert!(rejoin(&line[0], lost).await.is_none());
        return;
    }
    assert!(line.iter().all(|t| t.epoch == line[0].epoch));
    // After the loss, someone new arrives before anyone is back.
    let newcomer = enter(after.as_ref(), 9, lost).await;
    assert_ne!(
        newcomer.epoch, line[0].epoch,
        "a room that lost its line starts a new epoch"
    );
    assert_eq!(position(&newcomer), Some(1));
    // Fans 3, 1 and 4 come back, in that order; fan 2 does not poll.
    for (i, back) in [2, 0, 3].into_iter().enumerate() {
        let at = lost.plus_millis(100 + i as i64);
        let t = rejoin(&line[back], at)
            .await
            .unwrap_or_else(|| panic!("fan {} is back", back + 1));
        assert_eq!(
            (t.token, t.user_id, t.issued_at),
            (line[back].token, line[back].user_id, line[back].issued_at)
        );
        assert_eq!((t.state.status_name(), position(&t)), ("WAITING", None));
        assert_eq!(
            t.epoch, newcomer.epoch,
            "the fan's next ticket names the new epoch"
        );
    }
    // A repeat finds the fan back, once.
    let again = rejoin(&line[2], lost.plus_secs(1))
        .await
        .unwrap_or_else(|| panic!("back already"));
    assert_eq!(again.token, line[2].token);
    // A ticket of the current epoch whose token the room does not know
    // proves nothing was lost: it is not brought back.
    let forged = Rejoin {
        token: fresh_token(),
        user: user(7),
        epoch: newcomer.epoch,
        ..rejoin_of(&line[1], Lane::Line)
    };
    assert!(ok(after.rejoin(&forged, lost.plus_secs(1), &p).await).is_none());
    // Nobody is let in during the heal window, not even the newcomer.
    assert_eq!(admit(after.as_ref(), c, lost.plus_secs(4), &p).await, 0);
    assert_eq!(
        poll(after.as_ref(), newcomer.token, lost.plus_secs(4))
            .await
            .state
            .status_name(),
        "WAITING"
    );
    for t in [&line[0], &line[2], &line[3]] {
        assert_eq!(
            position(&poll(after.as_ref(), t.token, lost.plus_secs(5)).await),
            None
        );
    }
    // At its end the fans back are put in line in arrival order, ahead of
    // the newcomer; one round admits one.
    let one = QueuePolicy {
        admit_batch: 1,
        ..p
    };
    let healed = lost.plus_secs(6);
    assert_eq!(admit(after.as_ref(), c, healed, &one).await, 1);
    assert_eq!(
        poll(after.as_ref(), line[0].token, healed)
            .await
            .state
            .status_name(),
        "ACTIVE"
    );
    let mut places = Vec::new();
    for t in [&line[2], &line[3], &newcomer] {
        places.push(position(&poll(after.as_ref(), t.token, healed).await));
    }
    assert_eq!(places, [Some(1), Some(2), Some(3)]);
    for (round, t) in [&line[2], &line[3], &newcomer].into_iter().enumerate() {
        let at = healed.plus_secs(1 + round as u64);
        assert_eq!(admit(after.as_ref(), c, at, &one).await, 1);
        assert_eq!(
            poll(after.as_ref(), t.token, at).await.state.status_name(),
            "ACTIVE"
        );
    }
    assert_eq!(
        inversions(after.as_ref(), c).await,
        0,
        "admitted in line order"
    );
    let healed = healed.plus_secs(3);
    // Fan 2, back after the window, joins the end of the line.
    let another = enter(after.as_ref(), 10, healed).await;
    let late = rejoin(&line[1], healed.plus_secs(1))
        .await
        .unwrap_or_else(|| panic!("a late fan is back"));
    assert_eq!(position(&late), Some(2));
    assert_eq!(
        position(&poll(after.as_ref(), another.token, healed.plus_secs(1)).await),
        Some(1)
    );
    // Before a sale opens, a fan comes back to its pre-queue.
    let early = ok(before
        .enter(
            concert_id(2),
            user(1),
            fresh_token(),
            T0,
            &p,
            Lane::PreQueue,
        )
        .await);
    let back = ok(after
        .rejoin(&rejoin_of(&early, Lane::PreQueue), lost, &p)
        .await)
    .unwrap_or_else(|| panic!("a pre-queued fan is back"));
    assert_eq!(back.state.status_name(), "PRE_QUEUE");
}
