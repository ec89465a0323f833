//! Forwarding reservations' events (confirmed and cancelled) to the
//! external data platform, one attempt at a time. The consumer loop (in the server) receives an event,
//! calls [`App::deliver_to_platform_once`] until it says the event is
//! settled, waiting the returned backoff between attempts, and then commits
//! the event's offset. So a consumer killed mid-way leaves the event
//! uncommitted and it comes again; the ledger makes the repeat a no-op.
//!
//! A circuit breaker ([`Breaker`]) tells an outage from a poison message:
//! when attempts fail in a row, whatever their events, the consumer stops
//! spending attempts and probes the platform until it answers; and an
//! event's last failed attempt dead-letters it only if the platform answers
//! a probe, that is, only if the event fails on its own.

use super::App;
use crate::domain::delivery::{Breaker, DATA_PLATFORM_CONSUMER, NewDeadLetter};
use crate::domain::events::{OutboxEvent, RESERVATION_CANCELLED, RESERVATION_CONFIRMED};

/// What one delivery attempt settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryStep {
    /// The platform accepted the event.
    Delivered,
    /// Nothing to send: not an event the platform takes, or already delivered.
    Skipped,
    /// The attempt failed; try again after this many milliseconds.
    RetryAfter(u64),
    /// The last allowed attempt failed; the event is in the dead-letter list.
    DeadLettered,
    /// The platform is down (the breaker is open): try the same attempt
    /// again after this many milliseconds; no attempt was spent.
    Paused(u64),
}

impl DeliveryStep {
    /// Whether the consumer may commit the event and move on.
    pub fn is_settled(&self) -> bool {
        !matches!(self, DeliveryStep::RetryAfter(_) | DeliveryStep::Paused(_))
    }
}

impl App {
    /// Attempt number `attempt` (1-based) at delivering `event`. `Err` means
    /// the ledger could not be read or written: the attempt does not count
    /// and the event must not be committed.
    pub async fn deliver_to_platform_once(
        &self,
        event: &OutboxEvent,
        attempt: u32,
    ) -> anyhow::Result<DeliveryStep> {
        let Some(platform) = self.adapters.data_platform.as_ref() else {
            anyhow::bail!("no data platform is configured");
        };
        if ![RESERVATION_CONFIRMED, RESERVATION_CANCELLED].contains(&event.event_type.as_str()) {
            return Ok(DeliveryStep::Skipped);
        }
        let ledger = &self.adapters.ledger;
        if ledger
            .already_consumed(DATA_PLATFORM_CONSUMER, event.id)
            .await?
        {
            return Ok(DeliveryStep::Skipped);
        }
        let policy = self.policies.delivery;
        // Open: the consumer waited a probe interval since the last step.
        if self.breaker(|b| b.is_open()) {
            if let Err(err) = platform.probe().await {
                self.breaker(Breaker::unanswered);
                tracing::debug!(
                    error = format!("{err:#}"),
                    "the data platform is still down"
                );
                return Ok(DeliveryStep::Paused(policy.probe_every_ms));
            }
            self.breaker(Breaker::answered);
            tracing::info!("the data platform answers again; deliveries resume");
        }
        let error = match platform.deliver(event).await {
            Ok(()) => {
                self.breaker(Breaker::answered);
                ledger
                    .record_consumed(DATA_PLATFORM_CONSUMER, event.id, self.now())
                    .await?;
                return Ok(DeliveryStep::Delivered);
            }
            Err(err) => format!("{err:#}"),
        };
        if self.breaker(|b| b.failed(&policy)) {
            tracing::warn!(event = %event.id, error, "the data platform fails every delivery; pausing until it answers a probe");
            return Ok(DeliveryStep::Paused(policy.probe_every_ms));
        }
        if !policy.gives_up_after(attempt) {
            let random = u64::from_le_bytes(self.random_bytes());
            tracing::debug!(event = %event.id, attempt, error, "data platform delivery failed; retrying");
            return Ok(DeliveryStep::RetryAfter(policy.backoff_ms(attempt, random)));
        }
        // The last attempt: a poison message only if the platform answers.
        if platform.probe().await.is_err() {
            self.breaker(Breaker::unanswered);
            tracing::warn!(event = %event.id, error, "the data platform is down; pausing, not dead-lettering");
            return Ok(DeliveryStep::Paused(policy.probe_every_ms));
        }
        tracing::warn!(event = %event.id, attempt, error, "data platform delivery gave up; dead-lettered");
        self.adapters
            .bus
            .publish_dead_letter(DATA_PLATFORM_CONSUMER, event, &error)
            .await?;
        ledger
            .record_dead_letter(&NewDeadLetter {
                consumer: DATA_PLATFORM_CONSUMER.to_owned(),
                event: event.clone(),
                attempts: attempt,
                last_error: error,
                failed_at: self.now(),
            })
            .await?;
        Ok(DeliveryStep::DeadLettered)
    }

    /// `f` on this process's data-platform breaker.
    fn breaker<T>(&self, f: impl FnOnce(&mut Breaker) -> T) -> T {
        let mut breaker = self
            .breaker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut breaker)
    }
}

#[cfg(test)]
mod tests {
    use super::DeliveryStep;
    use crate::domain::EventId;
    use crate::domain::delivery::{DeadLetterFilter, RetryPolicy};
    use crate::domain::events::OutboxEvent;
    use crate::ports::{Clock, DataPlatform};
    use crate::testing::{TestApp, user};
    use crate::use_cases::ReplayError;
    use async_trait::async_trait;
    use std::sync::{Arc, Mutex};

    /// A platform that refuses the first `refusals` deliveries, always
    /// refuses the events in `broken`, and while `down` refuses everything,
    /// probes included.
    #[derive(Debug, Default)]
    struct Platform {
        refusals: Mutex<u32>,
        broken: Mutex<Vec<EventId>>,
        down: Mutex<bool>,
        tried: Mutex<u32>,
        received: Mutex<Vec<EventId>>,
    }

    #[async_trait]
    impl DataPlatform for Platform {
        async fn deliver(&self, event: &OutboxEvent) -> anyhow::Result<()> {
            *self.tried.lock().unwrap_or_else(|e| panic!("{e}")) += 1;
            if self.is_down() {
                anyhow::bail!("503 Service Unavailable");
            }
            let mut refusals = self.refusals.lock().unwrap_or_else(|e| panic!("{e}"));
            if *refusals > 0 {
                *refusals -= 1;
                anyhow::bail!("503 Service Unavailable");
            }
            if self
                .broken
                .lock()
                .unwrap_or_else(|e| panic!("{e}"))
                .contains(&event.id)
            {
                anyhow::bail!("500 Internal Server Error");
            }
            self.received
                .lock()
                .unwrap_or_else(|e| panic!("{e}"))
                .push(event.id);
            Ok(())
        }

        async fn probe(&self) -> anyhow::Result<()> {
            if self.is_down() {
                anyhow::bail!("503 Service Unavailable");
            }
            Ok(())
        }
    }

    impl Platform {
        fn is_down(&self) -> bool {
            *self.down.lock().unwrap_or_else(|e| panic!("{e}"))
        }

        fn set_down(&self, down: bool) {
            *self.down.lock().unwrap_or_else(|e| panic!("{e}")) = down;
        }

        /// Refuses `event` from now on, whatever else it takes.
        fn breaks(&self, event: EventId) {
            self.broken
                .lock()
                .unwrap_or_else(|e| panic!("{e}"))
                .push(event);
        }

        /// Takes every event again.
        fn mend_all(&self) {
            self.broken.lock().unwrap_or_else(|e| panic!("{e}")).clear();
        }

        fn tried(&self) -> u32 {
            *self.tried.lock().unwrap_or_else(|e| panic!("{e}"))
        }

        fn received(&self) -> Vec<EventId> {
            self.received
                .lock()
                .unwrap_or_else(|e| panic!("{e}"))
                .clone()
        }
    }

    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        initial_backoff_ms: 100,
        max_backoff_ms: 1_000,
        breaker_failures: 3,
        probe_every_ms: 1_000,
    };

    /// `who` buys seat `seat`; returns the sale's `ReservationConfirmed` event.
    async fn sale(t: &TestApp, who: i64, seat: i64) -> OutboxEvent {
        t.buy_seat(user(who), seat).await;
        // Claims of earlier calls have lapsed by then.
        t.clock.advance_secs(60);
        let now = t.clock.now();
        let events = t
            .store
            .claim_unpublished(now, 1, now.plus_secs(30), 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let seat = format!("\"seatNumber\":{seat}");
        events
            .into_iter()
            .find(|e| e.event_type == "ReservationConfirmed" && e.payload.contains(&seat))
            .unwrap_or_else(|| panic!("no ReservationConfirmed event for {seat}"))
    }

    async fn dead_letters(t: &TestApp) -> Vec<crate::domain::delivery::DeadLetter> {
        t.app
            .list_dead_letters(&DeadLetterFilter::default(), 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    async fn step(t: &TestApp, event: &OutboxEvent, attempt: u32) -> DeliveryStep {
        t.app
            .deliver_to_platform_once(event, attempt)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn a_confirmed_reservation_is_delivered_once_however_often_it_comes() {
        let platform = Arc::new(Platform::default());
        let t = TestApp::with_data_platform(platform.clone(), POLICY).await;
        let event = sale(&t, 1, 7).await;
        assert_eq!(step(&t, &event, 1).await, DeliveryStep::Delivered);
        assert_eq!(step(&t, &event, 1).await, DeliveryStep::Skipped);
        assert_eq!(platform.received(), [event.id]);
    }

    #[tokio::test]
    async fn failures_are_retried_with_backoff_then_dead_lettered() {
        let platform = Arc::new(Platform {
            refusals: Mutex::new(2),
            ..Platform::default()
        });
        let t = TestApp::with_data_platform(platform.clone(), POLICY).await;
        let event = sale(&t, 1, 7).await;
        let DeliveryStep::RetryAfter(first) = step(&t, &event, 1).await else {
            panic!("a first failure is retried")
        };
        assert!((50..=100).contains(&first), "{first}");
        let DeliveryStep::RetryAfter(second) = step(&t, &event, 2).await else {
            panic!("a second failure is retried")
        };
        assert!((100..=200).contains(&second), "{second}");
        assert_eq!(step(&t, &event, 3).await, DeliveryStep::Delivered);

        // An event that always fails is dead-lettered on the last attempt.
        let broken = sale(&t, 2, 8).await;
        platform.breaks(broken.id);
        assert!(matches!(
            step(&t, &broken, 1).await,
            DeliveryStep::RetryAfter(_)
        ));
        assert_eq!(step(&t, &broken, 3).await, DeliveryStep::DeadLettered);
        let letters = dead_letters(&t).await;
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].event, broken);
        assert_eq!(letters[0].attempts, 3);
        assert!(
            letters[0].last_error.contains("500"),
            "{}",
            letters[0].last_error
        );

        // A replay while it still fails keeps it; once fixed, it goes through once.
        let id = letters[0].id;
        assert!(matches!(
            t.app.replay_dead_letter(id).await,
            Err(ReplayError::DeliveryFailed(_))
        ));
        platform
            .broken
            .lock()
            .unwrap_or_else(|e| panic!("{e}"))
            .clear();
        let replayed = t
            .app
            .replay_dead_letter(id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(replayed.replayed_at.is_some());
        assert!(matches!(
            t.app.replay_dead_letter(id).await,
            Err(ReplayError::AlreadyReplayed)
        ));
        assert!(matches!(
            t.app.replay_dead_letter(id + 1_000).await,
            Err(ReplayError::NotFound)
        ));
        assert_eq!(platform.received(), [event.id, broken.id]);
    }

    /// A platform whose deliveries wait until `go` is notified, counting them.
    #[derive(Debug, Default)]
    struct Stalled {
        entered: tokio::sync::Notify,
        go: tokio::sync::Notify,
        received: Mutex<Vec<EventId>>,
    }

    #[async_trait]
    impl DataPlatform for Stalled {
        async fn deliver(&self, event: &OutboxEvent) -> anyhow::Result<()> {
            self.entered.notify_one();
            self.go.notified().await;
            self.received
                .lock()
                .unwrap_or_else(|e| panic!("{e}"))
                .push(event.id);
            Ok(())
        }

        async fn probe(&self) -> anyhow::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn an_outage_opens_the_breaker_spends_no_attempts_and_dead_letters_nothing_then_deliveries_resume()
     {
        let platform = Arc::new(Platform::default());
        let t = TestApp::with_data_platform(platform.clone(), POLICY).await;
        let first = sale(&t, 1, 7).await;
        let second = sale(&t, 2, 8).await;
        platform.set_down(true);
        // Failures are retried, spending attempts, until three in a row,
        // of any events, open the breaker.
        assert!(matches!(
            step(&t, &first, 1).await,
            DeliveryStep::RetryAfter(_)
        ));
        assert!(matches!(
            step(&t, &first, 2).await,
            DeliveryStep::RetryAfter(_)
        ));
        assert_eq!(step(&t, &second, 1).await, DeliveryStep::Paused(1_000));
        // Open, no event is sent, even on a last attempt: each step probes,
        // and an unanswered probe pauses again. Nothing is dead-lettered.
        let tried = platform.tried();
        for _ in 0..3 {
            assert_eq!(step(&t, &first, 3).await, DeliveryStep::Paused(1_000));
        }
        assert_eq!(platform.tried(), tried);
        // The platform is back: the next probe closes the breaker and the
        // last attempt, not spent meanwhile, goes through.
        platform.set_down(false);
        assert_eq!(step(&t, &first, 3).await, DeliveryStep::Delivered);
        assert_eq!(step(&t, &second, 1).await, DeliveryStep::Delivered);
        assert_eq!(platform.received(), [first.id, second.id]);
        let letters = dead_letters(&t).await;
        assert!(letters.is_empty(), "{letters:?}");
    }

    #[tokio::test]
    async fn the_last_attempt_of_an_event_dead_letters_it_only_while_the_platform_answers_probes() {
        let platform = Arc::new(Platform::default());
        let t = TestApp::with_data_platform(platform.clone(), POLICY).await;
        let event = sale(&t, 1, 7).await;
        // The platform goes down just as the event's last attempt comes.
        platform.set_down(true);
        assert_eq!(step(&t, &event, 3).await, DeliveryStep::Paused(1_000));
        let letters = dead_letters(&t).await;
        assert!(letters.is_empty(), "an outage is no poison: {letters:?}");
        // Up again, but this event fails on its own: a poison message.
        platform.set_down(false);
        platform.breaks(event.id);
        assert_eq!(step(&t, &event, 3).await, DeliveryStep::DeadLettered);
        let letters = dead_letters(&t).await;
        assert_eq!(letters.len(), 1);
    }

    #[tokio::test]
    async fn two_replays_of_one_letter_at_once_send_it_once_and_the_second_is_told_so() {
        let refusing = Arc::new(Platform::default());
        let t = TestApp::with_data_platform(refusing.clone(), POLICY).await;
        let broken = sale(&t, 1, 7).await;
        refusing.breaks(broken.id);
        assert_eq!(step(&t, &broken, 3).await, DeliveryStep::DeadLettered);
        let id = t
            .app
            .list_dead_letters(&DeadLetterFilter::default(), 1)
            .await
            .unwrap_or_else(|e| panic!("{e}"))[0]
            .id;
        let stalled = Arc::new(Stalled::default());
        let app = t.app_with_data_platform(stalled.clone());
        assert_eq!(
            app.unreplayed_dead_letters()
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            [(
                crate::domain::delivery::DATA_PLATFORM_CONSUMER.to_owned(),
                1
            )]
        );
        let first = tokio::spawn({
            let app = app.clone();
            async move { app.replay_dead_letter(id).await }
        });
        // The first replay is at the platform, not yet answered.
        stalled.entered.notified().await;
        let second = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            app.replay_dead_letter(id),
        )
        .await
        .unwrap_or_else(|_| panic!("the second replay went to the platform too"));
        assert!(matches!(second, Err(ReplayError::InProgress)));
        stalled.go.notify_one();
        let replayed = first.await.unwrap_or_else(|e| panic!("{e}"));
        assert!(replayed.is_ok_and(|letter| letter.replayed_at.is_some()));
        assert_eq!(
            stalled
                .received
                .lock()
                .unwrap_or_else(|e| panic!("{e}"))
                .clone(),
            [broken.id],
            "sent once"
        );
        assert!(matches!(
            app.replay_dead_letter(id).await,
            Err(ReplayError::AlreadyReplayed)
        ));
        assert!(
            app.unreplayed_dead_letters()
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_bulk_replay_takes_the_oldest_waiting_letters_of_its_filter_stops_on_an_outage_and_repeats_nothing()
     {
        let platform = Arc::new(Platform::default());
        let t = TestApp::with_data_platform(platform.clone(), POLICY).await;
        let mut poisoned = Vec::new();
        for seat in 1..=5 {
            let event = sale(&t, seat, seat).await;
            platform.breaks(event.id);
            // A fresh consumer each time: one whose breaker has not opened.
            let consumer = t.app_with_data_platform(platform.clone());
            let last_attempt = consumer.deliver_to_platform_once(&event, 3).await;
            assert_eq!(last_attempt.ok(), Some(DeliveryStep::DeadLettered));
            poisoned.push(event.id);
        }
        let letters = dead_letters(&t).await;
        let oldest_first: Vec<i64> = letters.iter().rev().map(|d| d.id).collect();
        assert_eq!(oldest_first.len(), 5);
        let confirmed = DeadLetterFilter {
            event_type: Some("ReservationConfirmed".to_owned()),
            ..DeadLetterFilter::default()
        };
        let bulk = |limit| {
            let app = t.app.clone();
            let filter = confirmed.clone();
            async move {
                app.replay_dead_letters(&filter, limit)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
            }
        };
        // Still failing: three failures in a row (the breaker's count) stop it.
        let tried = platform.tried();
        let stopped = bulk(100).await;
        assert!(stopped.stopped);
        assert_eq!(
            stopped.failed.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            oldest_first[..3]
        );
        assert!(stopped.replayed.is_empty());
        assert_eq!(platform.tried() - tried, 3, "the last two were not tried");
        // Mended: the oldest four of the filter, then the one left, then nothing.
        platform.mend_all();
        let first = bulk(4).await;
        assert_eq!(first.replayed, oldest_first[..4]);
        assert!(first.failed.is_empty() && !first.stopped);
        assert_eq!(bulk(100).await.replayed, oldest_first[4..]);
        let again = bulk(100).await;
        assert_eq!(
            again,
            crate::use_cases::BulkReplay::default(),
            "nothing left to replay"
        );
        let mut received = platform.received();
        received.sort_unstable();
        poisoned.sort_unstable();
        assert_eq!(received, poisoned, "each delivered once");
        // A filter that takes none of them replays none.
        let other = DeadLetterFilter {
            consumer: Some("someone.else".to_owned()),
            replayed: Some(true),
            ..DeadLetterFilter::default()
        };
        let none = t
            .app
            .replay_dead_letters(&other, 100)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(none.replayed.is_empty() && none.skipped.is_empty());
    }

    #[tokio::test]
    async fn other_events_are_not_sent() {
        let platform = Arc::new(Platform::default());
        let t = TestApp::with_data_platform(platform.clone(), POLICY).await;
        t.charge(user(1), 1_000).await;
        let now = t.clock.now();
        let charged = t
            .store
            .claim_unpublished(now, 1, now.plus_secs(30), 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(step(&t, &charged[0], 1).await, DeliveryStep::Skipped);
        assert!(platform.received().is_empty());
    }
}
