//! Test support shared by every crate: a clock tests can move, an app on the
//! in-memory adapters with a sample concert, and the contract suites every
//! adapter of a port must pass. Compiled for this crate's tests and, through
//! the `testing` feature, for other crates' tests; never in the binary.
//!
//! Layout:
//! - [`ManualClock`]: time that moves only when told.
//! - [`TestApp`]: an [`App`] on memory adapters, a concert with two 50-seat
//!   dates, and shortcuts for the steps most tests start from.
//! - [`cache_contract`]: cases every `Cache` must pass (`cache_contract_tests!`).
//! - [`delivery_contract`]: cases every `DeliveryLedger` and `Inbox` must pass
//!   (`delivery_contract_tests!`).
//! - [`lock_contract`]: cases every `Lock` must pass (`lock_contract_tests!`).
//! - [`ranking_contract`]: cases every `Ranking` must pass (`ranking_contract_tests!`).
//! - [`single_use_contract`]: cases every `SingleUse` must pass (`single_use_contract_tests!`).
//! - [`store_contract`]: cases every `Store` must pass (`store_contract_tests!`).
//! - [`waiting_room_contract`]: cases every `WaitingRoom` must pass
//!   (`waiting_room_contract_tests!`).

pub mod cache_contract;
pub mod delivery_contract;
pub mod lock_contract;
pub mod ranking_contract;
pub mod single_use_contract;
pub mod store_contract;
pub mod waiting_room_contract;

use crate::domain::access::{AdmissionPass, PowAnswer, QueueCredential, Ticket};
use crate::domain::concert::{NewConcert, NewSchedule, SeatBand};
use crate::domain::delivery::RetryPolicy;
use crate::domain::queue_token::QueuePolicy;
use crate::domain::queue_token::TokenState;
use crate::domain::seat_hold::Hold;
use crate::domain::{ConcertId, ScheduleId, SeatNumber, Timestamp, UserId, Won};
use crate::memory::MemoryStore;
use crate::ports::{Clock, DataPlatform, EventBus, Store};
use crate::use_cases::{Adapters, App, Policies, TokenView};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A clock that stands still until a test moves it. Starts at 2030-01-01.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl Default for ManualClock {
    fn default() -> Self {
        Self(AtomicI64::new(1_893_456_000_000))
    }
}

impl ManualClock {
    pub fn advance_secs(&self, secs: u64) {
        self.advance_millis(i64::try_from(secs * 1000).unwrap_or(i64::MAX));
    }

    pub fn advance_millis(&self, millis: i64) {
        self.0.fetch_add(millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.0.load(Ordering::SeqCst))
    }
}

pub fn user(id: i64) -> UserId {
    UserId::new(id).unwrap_or_else(|e| panic!("{e}"))
}

pub fn concert_id(id: i64) -> ConcertId {
    ConcertId::new(id).unwrap_or_else(|e| panic!("{e}"))
}

pub fn schedule_id(id: i64) -> ScheduleId {
    ScheduleId::new(id).unwrap_or_else(|e| panic!("{e}"))
}

pub fn seat(n: i64) -> SeatNumber {
    SeatNumber::new(n).unwrap_or_else(|e| panic!("{e}"))
}

/// A concert with `dates` schedules of 50 seats: 1-10 VIP at 150,000 won,
/// 11-50 R at 90,000 won.
pub fn sample_concert(title: &str, dates: usize, first_date: Timestamp) -> NewConcert {
    let schedules = (0..dates)
        .map(|i| NewSchedule {
            starts_at: first_date.plus_secs(86_400 * i as u64),
            venue: "Olympic Hall".to_owned(),
        })
        .collect();
    let bands = [
        SeatBand {
            grade: "VIP".into(),
            price: Won::new(150_000),
            first: 1,
            last: 10,
        },
        SeatBand {
            grade: "R".into(),
            price: Won::new(90_000),
            first: 11,
            last: 50,
        },
    ];
    NewConcert::new(title, "The Testers", schedules, &bands).unwrap_or_else(|e| panic!("{e}"))
}

/// The application on in-memory adapters, with one concert of two dates.
#[derive(Debug)]
pub struct TestApp {
    pub app: App,
    pub clock: Arc<ManualClock>,
    pub store: Arc<dyn Store>,
    pub concert: ConcertId,
    /// The concert's first date.
    pub schedule: ScheduleId,
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_queue_policy(QueuePolicy::default()).await
    }

    pub async fn with_queue_policy(queue: QueuePolicy) -> Self {
        Self::build(
            Policies {
                queue,
                ..Policies::default()
            },
            std::convert::identity,
        )
        .await
    }

    /// The application with queue entries published to `entries` (the
    /// `queue.entry = kafka` mode) instead of entering the line directly.
    pub async fn with_queue_entries(entries: Arc<dyn EventBus>) -> Self {
        Self::build(Policies::default(), move |a| Adapters {
            queue_entries: Some(entries),
            ..a
        })
        .await
    }

    /// The application relaying its outbox to `bus` instead of the in-process one.
    pub async fn with_bus(bus: Arc<dyn EventBus>) -> Self {
        Self::build(Policies::default(), move |a| Adapters { bus, ..a }).await
    }

    /// The application on another waiting room (a broken one, for audits).
    pub async fn with_waiting_room(room: Arc<dyn crate::ports::WaitingRoom>) -> Self {
        Self::build(Policies::default(), move |a| Adapters {
            waiting_room: room,
            ..a
        })
        .await
    }

    /// A concert of one date with `seats` seats (1..=seats) at 10,000 won.
    pub async fn small_concert(&self, seats: i64) -> (ConcertId, ScheduleId) {
        let now = self.clock.now();
        let concert = NewConcert::new(
            "Small",
            "The Testers",
            vec![NewSchedule {
                starts_at: now.plus_secs(86_400),
                venue: "Club".into(),
            }],
            &[SeatBand {
                grade: "GA".into(),
                price: Won::new(10_000),
                first: 1,
                last: seats,
            }],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let id = self
            .store
            .create_concert(&concert, now)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let schedule = self
            .store
            .schedules_with_availability(id, now)
            .await
            .unwrap_or_else(|e| panic!("{e}"))[0]
            .schedule
            .id;
        (id, schedule)
    }

    /// Issues a token for `user` on `concert`.
    pub async fn issue_for(&self, user: UserId, concert: ConcertId) -> TokenView {
        self.app
            .issue_token(user, concert, PowAnswer::Missing)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Changes the room of `concert`.
    pub async fn change_room(
        &self,
        concert: ConcertId,
        patch: crate::use_cases::RoomPatch,
    ) -> crate::domain::room::Room {
        self.app
            .change_room(concert, &patch)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The application with a data platform to forward reservations to.
    pub async fn with_data_platform(
        platform: Arc<dyn DataPlatform>,
        delivery: RetryPolicy,
    ) -> Self {
        Self::build(
            Policies {
                delivery,
                ..Policies::default()
            },
            move |a| Adapters {
                data_platform: Some(platform),
                ..a
            },
        )
        .await
    }

    /// The same app on the same adapters, delivering to another platform.
    pub fn app_with_data_platform(&self, platform: Arc<dyn DataPlatform>) -> App {
        let adapters = Adapters {
            data_platform: Some(platform),
            ..self.app.adapters().clone()
        };
        App::new(adapters, *self.app.policies())
    }

    /// The in-process app on a memory store, its adapters adjusted by `extras`.
    async fn build(policies: Policies, extras: impl FnOnce(Adapters) -> Adapters) -> Self {
        let memory = Arc::new(MemoryStore::default());
        let store: Arc<dyn Store> = memory.clone();
        let clock = Arc::new(ManualClock::default());
        let app = crate::memory::in_process_app(store.clone(), memory, clock.clone(), policies);
        let app = App::new(extras(app.adapters().clone()), policies);
        let now = clock.now();
        let concert = store
            .create_concert(
                &sample_concert("Test Concert", 2, now.plus_secs(30 * 86_400)),
                now,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let schedule = store
            .schedules_with_availability(concert, now)
            .await
            .unwrap_or_else(|e| panic!("{e}"))[0]
            .schedule
            .id;
        Self {
            app,
            clock,
            store,
            concert,
            schedule,
        }
    }

    /// Another instance of the application: the same adapters (store,
    /// waiting room...), its own in-process memory (revoked passes, caches).
    pub fn twin(&self) -> App {
        App::new(self.app.adapters().clone(), *self.app.policies())
    }

    /// Issues a token for `user` on the test concert (no bot gate).
    pub async fn issue(&self, user: UserId) -> TokenView {
        self.app
            .issue_token(user, self.concert, PowAnswer::Missing)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The ticket the edge would sign for `view`.
    pub fn ticket_of(view: &TokenView) -> Ticket {
        Ticket {
            token: view.token.token,
            user: view.token.user_id,
            concert: view.token.concert_id,
            issued_at: view.token.issued_at,
            epoch: view.token.epoch,
        }
    }

    /// Polls `view`'s token as its own fan.
    pub async fn poll(&self, view: &TokenView) -> TokenView {
        self.app
            .poll_token(view.token.user_id, Self::ticket_of(view))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Issues a token for `user` and admits it; its ticket.
    pub async fn active_ticket(&self, user: UserId) -> Ticket {
        let view = self.issue(user).await;
        self.app
            .activate_batch_once()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        Self::ticket_of(&view)
    }

    /// Issues a token for `user` and admits it; its ticket as a credential.
    pub async fn active_token(&self, user: UserId) -> QueueCredential {
        QueueCredential::Ticket(self.active_ticket(user).await)
    }

    /// Issues a token for `user` and admits it; the admission pass the
    /// edge would sign for it.
    pub async fn active_pass(&self, user: UserId) -> QueueCredential {
        let ticket = self.active_ticket(user).await;
        let view = self
            .app
            .poll_token(user, ticket)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let TokenState::Active { expires_at } = view.token.state else {
            panic!("user {user} was not admitted: {view:?}");
        };
        QueueCredential::Pass(AdmissionPass::for_admission(
            ticket.token,
            user,
            ticket.concert,
            expires_at,
        ))
    }

    /// Holds seat `seat_number` of the first date with `credential`, as its fan.
    pub async fn hold(&self, credential: QueueCredential, seat_number: i64) -> Hold {
        self.app
            .hold_seat(
                credential.user(),
                credential,
                self.schedule,
                seat(seat_number),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn charge(&self, user: UserId, amount: i64) {
        self.app
            .charge_balance(user, Won::new(amount), None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Charges, enters, holds seat `seat_number` of the first date and pays.
    pub async fn buy_seat(
        &self,
        user: UserId,
        seat_number: i64,
    ) -> crate::domain::reservation::PaymentReceipt {
        self.charge(user, 150_000).await;
        let token = self.active_token(user).await;
        let hold = self.hold(token, seat_number).await;
        self.app
            .pay_for_hold(user, hold.id, None)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Seat `seat_number` of the first date, as the store shows it now.
    pub async fn seat_status(&self, seat_number: i64) -> crate::domain::seat::SeatStatus {
        let seats = self
            .store
            .seats(self.schedule, self.clock.now())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        seats
            .into_iter()
            .find(|s| s.number == seat(seat_number))
            .unwrap_or_else(|| panic!("no seat {seat_number}"))
            .status
    }

    /// When the first date starts.
    pub async fn starts_at(&self) -> Timestamp {
        self.store
            .schedule(self.schedule)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no first date"))
            .starts_at
    }

    /// Moves the clock to `at` (forwards only).
    pub fn advance_to(&self, at: Timestamp) {
        self.clock
            .advance_millis((at.as_millis() - self.clock.now().as_millis()).max(0));
    }

    pub async fn second_concert(&self) -> ConcertId {
        let now = self.clock.now();
        self.store
            .create_concert(&sample_concert("Other", 1, now.plus_secs(86_400)), now)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }
}
