//! Demo data for a fresh embedded install: three concerts, three dates each,
//! 50 seats per date. Only written when the catalog is empty.

use boxoffice_core::domain::Won;
use boxoffice_core::domain::concert::{NewSchedule, SeatBand};
use boxoffice_core::ports::Clock;
use boxoffice_core::use_cases::App;

const CONCERTS: [(&str, &str, &str); 3] = [
    (
        "Midnight Echoes World Tour",
        "Aurora Lane",
        "Olympic Hall, Seoul",
    ),
    (
        "Jazz at the Harbor",
        "The Blue Tide Quartet",
        "Busan Cinema Center",
    ),
    (
        "Symphony of Spring",
        "Seoul Philharmonic",
        "Lotte Concert Hall",
    ),
];

/// Seeds the catalog if it is empty; returns how many concerts were created.
/// Instances starting together on an empty database seed it once: the
/// check and the writes happen under a lock.
pub async fn seed_if_empty(app: &App, clock: &dyn Clock) -> anyhow::Result<usize> {
    let lock = &app.adapters().lock;
    let Some(lease) = lock.try_acquire("demo-seed", 60_000).await? else {
        return Ok(0);
    };
    let seeded = seed_unlocked(app, clock).await;
    lock.release(&lease).await?;
    seeded
}

async fn seed_unlocked(app: &App, clock: &dyn Clock) -> anyhow::Result<usize> {
    if !app.list_concerts().await?.is_empty() {
        return Ok(0);
    }
    let now = clock.now();
    let bands = [
        band("VIP", 150_000, 1, 10),
        band("R", 120_000, 11, 30),
        band("S", 90_000, 31, 50),
    ];
    for (i, (title, artist, venue)) in CONCERTS.iter().enumerate() {
        let schedules = (0..3u64)
            .map(|d| NewSchedule {
                starts_at: now.plus_secs(86_400 * (14 + 7 * i as u64 + d)),
                venue: (*venue).to_owned(),
            })
            .collect();
        app.create_concert(title, artist, schedules, &bands).await?;
    }
    Ok(CONCERTS.len())
}

fn band(grade: &str, price: i64, first: i64, last: i64) -> SeatBand {
    SeatBand {
        grade: grade.to_owned(),
        price: Won::new(price),
        first,
        last,
    }
}
