//! Concerts, their dates (schedules) and the seat layout shared by every date.

use super::{ConcertId, ScheduleId, SeatNumber, Timestamp, Won};
use serde::{Deserialize, Serialize};

/// A show that runs on one or more dates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Concert {
    pub id: ConcertId,
    pub title: String,
    pub artist: String,
}

/// What a fan must do before joining a concert's line (its bot gate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EntryRules {
    /// Difficulty of the proof-of-work challenge a token request must
    /// answer, in leading zero bits; `None`: no challenge.
    pub proof_of_work_bits: Option<u8>,
}

/// Why entry rules were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("proofOfWorkBits must be between 1 and {max}", max = super::access::MAX_POW_BITS)]
pub struct EntryRulesRejected;

impl EntryRules {
    pub fn new(proof_of_work_bits: Option<u8>) -> Result<Self, EntryRulesRejected> {
        match proof_of_work_bits {
            Some(bits) if bits == 0 || bits > super::access::MAX_POW_BITS => {
                Err(EntryRulesRejected)
            }
            bits => Ok(Self {
                proof_of_work_bits: bits,
            }),
        }
    }
}

/// One date of a concert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub id: ScheduleId,
    pub concert_id: ConcertId,
    pub starts_at: Timestamp,
    pub venue: String,
    /// When the organiser called the date off: it sells nothing more, and
    /// its reservations are refunded in full ([`crate::domain::cancellation::Canceller::Organiser`]).
    #[serde(default)]
    pub cancelled_at: Option<Timestamp>,
}

/// A schedule with the number of seats a buyer could hold right now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleAvailability {
    pub schedule: Schedule,
    pub available_seats: u32,
}

/// A run of consecutive seats sharing a grade and a price, e.g. seats 1-10 are VIP at 150,000 won.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatBand {
    pub grade: String,
    pub price: Won,
    pub first: i64,
    pub last: i64,
}

/// One seat as it is created for every schedule of a concert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatSpec {
    pub number: SeatNumber,
    pub grade: String,
    pub price: Won,
}

/// A concert as an admin submits it, already validated: build it with [`NewConcert::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConcert {
    title: String,
    artist: String,
    schedules: Vec<NewSchedule>,
    seats: Vec<SeatSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSchedule {
    pub starts_at: Timestamp,
    pub venue: String,
}

/// Why a submitted concert was refused. Every message is safe to show the admin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConcertRejected {
    #[error("{0} must not be blank, at most 200 characters, without control characters")]
    BadText(&'static str),
    #[error("a concert needs between 1 and 100 schedules")]
    ScheduleCount,
    #[error("seat bands must cover seats 1..=N (N at most 50) exactly once, in order")]
    SeatCoverage,
    #[error("every seat price must be between 1 and 10,000,000 won")]
    SeatPrice,
    #[error("a change must change something: a title, an artist or a date")]
    NothingToChange,
    #[error("each date may be changed once per request")]
    ScheduleTwice,
}

/// An operator's change to a concert: its texts, and the time or venue of
/// dates not yet on sale (none of whose seats is held or sold).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcertChange {
    pub title: Option<String>,
    pub artist: Option<String>,
    pub schedules: Vec<ScheduleChange>,
}

/// A new time or venue for one date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleChange {
    pub schedule_id: ScheduleId,
    pub starts_at: Option<Timestamp>,
    pub venue: Option<String>,
}

impl ConcertChange {
    /// Validates a change as a new concert's texts are validated; it must
    /// change something, and name each date at most once.
    pub fn new(
        title: Option<&str>,
        artist: Option<&str>,
        schedules: Vec<ScheduleChange>,
    ) -> Result<Self, ConcertRejected> {
        let title = title.map(|t| checked_text(t, "title")).transpose()?;
        let artist = artist.map(|a| checked_text(a, "artist")).transpose()?;
        let mut seen = std::collections::HashSet::new();
        let mut checked = Vec::with_capacity(schedules.len());
        for s in schedules {
            if !seen.insert(s.schedule_id) {
                return Err(ConcertRejected::ScheduleTwice);
            }
            if s.starts_at.is_none() && s.venue.is_none() {
                return Err(ConcertRejected::NothingToChange);
            }
            checked.push(ScheduleChange {
                venue: s.venue.map(|v| checked_text(&v, "venue")).transpose()?,
                ..s
            });
        }
        if title.is_none() && artist.is_none() && checked.is_empty() {
            return Err(ConcertRejected::NothingToChange);
        }
        Ok(Self {
            title,
            artist,
            schedules: checked,
        })
    }
}

/// The highest price a single seat may have.
pub const MAX_SEAT_PRICE: Won = Won::new(10_000_000);

impl NewConcert {
    /// Validates a submitted concert: non-blank text, 1-100 schedules, and seat
    /// bands that number the seats 1..=N without gaps or overlaps.
    pub fn new(
        title: &str,
        artist: &str,
        schedules: Vec<NewSchedule>,
        bands: &[SeatBand],
    ) -> Result<Self, ConcertRejected> {
        let title = checked_text(title, "title")?;
        let artist = checked_text(artist, "artist")?;
        if schedules.is_empty() || schedules.len() > 100 {
            return Err(ConcertRejected::ScheduleCount);
        }
        let mut schedules_checked = Vec::with_capacity(schedules.len());
        for s in schedules {
            schedules_checked.push(NewSchedule {
                starts_at: s.starts_at,
                venue: checked_text(&s.venue, "venue")?,
            });
        }
        let seats = seats_from_bands(bands)?;
        Ok(Self {
            title,
            artist,
            schedules: schedules_checked,
            seats,
        })
    }

    pub fn title(&self) -> &str {
        &self.title
    }

    pub fn artist(&self) -> &str {
        &self.artist
    }

    pub fn schedules(&self) -> &[NewSchedule] {
        &self.schedules
    }

    pub fn seats(&self) -> &[SeatSpec] {
        &self.seats
    }
}

fn checked_text(value: &str, field: &'static str) -> Result<String, ConcertRejected> {
    let trimmed = value.trim();
    // A control character (NUL above all, which PostgreSQL's text refuses)
    // has no place in a title, an artist, a venue or a grade.
    if trimmed.is_empty() || trimmed.chars().count() > 200 || trimmed.chars().any(char::is_control)
    {
        Err(ConcertRejected::BadText(field))
    } else {
        Ok(trimmed.to_owned())
    }
}

fn seats_from_bands(bands: &[SeatBand]) -> Result<Vec<SeatSpec>, ConcertRejected> {
    let mut seats = Vec::new();
    let mut next = 1i64;
    for band in bands {
        if band.first != next || band.last < band.first {
            return Err(ConcertRejected::SeatCoverage);
        }
        if band.price.amount() < 1 || band.price > MAX_SEAT_PRICE {
            return Err(ConcertRejected::SeatPrice);
        }
        let grade = checked_text(&band.grade, "grade")?;
        for n in band.first..=band.last {
            let number = SeatNumber::new(n).map_err(|_| ConcertRejected::SeatCoverage)?;
            seats.push(SeatSpec {
                number,
                grade: grade.clone(),
                price: band.price,
            });
        }
        next = band.last + 1;
    }
    if seats.is_empty() {
        return Err(ConcertRejected::SeatCoverage);
    }
    Ok(seats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn band(grade: &str, price: i64, first: i64, last: i64) -> SeatBand {
        SeatBand {
            grade: grade.into(),
            price: Won::new(price),
            first,
            last,
        }
    }

    fn one_date() -> Vec<NewSchedule> {
        vec![NewSchedule {
            starts_at: Timestamp::from_millis(0),
            venue: "Hall".into(),
        }]
    }

    #[test]
    fn bands_covering_1_to_50_make_50_priced_seats() {
        let concert = NewConcert::new(
            " Title ",
            "Artist",
            one_date(),
            &[band("VIP", 150_000, 1, 10), band("R", 90_000, 11, 50)],
        )
        .unwrap();
        assert_eq!(concert.title(), "Title");
        assert_eq!(concert.seats().len(), 50);
        assert_eq!(concert.seats()[9].grade, "VIP");
        assert_eq!(concert.seats()[10].price, Won::new(90_000));
    }

    #[test]
    fn gaps_overlaps_and_seats_past_50_are_refused() {
        for bands in [
            vec![band("A", 1, 2, 10)],
            vec![band("A", 1, 1, 10), band("B", 1, 10, 20)],
            vec![band("A", 1, 1, 51)],
            vec![],
        ] {
            assert_eq!(
                NewConcert::new("t", "a", one_date(), &bands),
                Err(ConcertRejected::SeatCoverage)
            );
        }
    }

    #[test]
    fn free_or_absurd_prices_and_blank_titles_are_refused() {
        assert_eq!(
            NewConcert::new("t", "a", one_date(), &[band("A", 0, 1, 5)]),
            Err(ConcertRejected::SeatPrice)
        );
        assert_eq!(
            NewConcert::new("  ", "a", one_date(), &[band("A", 1, 1, 5)]),
            Err(ConcertRejected::BadText("title"))
        );
        assert_eq!(
            NewConcert::new("t", "a", vec![], &[band("A", 1, 1, 5)]),
            Err(ConcertRejected::ScheduleCount)
        );
    }

    #[test]
    fn control_characters_are_refused_in_every_text() {
        for bad in [
            "nul\0here",
            "line\nbreak",
            "tab\tin",
            "bell\u{7}",
            "c1\u{85}x",
        ] {
            assert_eq!(
                NewConcert::new(bad, "a", one_date(), &[band("A", 1, 1, 5)]),
                Err(ConcertRejected::BadText("title")),
                "{bad:?}"
            );
            assert_eq!(
                NewConcert::new("t", bad, one_date(), &[band("A", 1, 1, 5)]),
                Err(ConcertRejected::BadText("artist"))
            );
            assert_eq!(
                NewConcert::new("t", "a", one_date(), &[band(bad, 1, 1, 5)]),
                Err(ConcertRejected::BadText("grade"))
            );
            assert_eq!(
                ConcertChange::new(Some(bad), None, vec![]),
                Err(ConcertRejected::BadText("title"))
            );
        }
        // Letters of any script, marks and emoji are text.
        assert!(
            NewConcert::new(
                "콘서트 – Ünïcödé 🎤",
                "a",
                one_date(),
                &[band("A", 1, 1, 5)]
            )
            .is_ok()
        );
    }

    #[test]
    fn a_concert_change_changes_something_with_valid_texts_and_each_date_once() {
        let date = |id: i64, venue: Option<&str>| ScheduleChange {
            schedule_id: ScheduleId::new(id).unwrap(),
            starts_at: None,
            venue: venue.map(str::to_owned),
        };
        let change = ConcertChange::new(Some(" New title "), None, vec![date(1, Some(" Hall "))]);
        let change = change.unwrap();
        assert_eq!(change.title.as_deref(), Some("New title"));
        assert_eq!(change.schedules[0].venue.as_deref(), Some("Hall"));
        assert_eq!(
            ConcertChange::new(None, None, vec![]),
            Err(ConcertRejected::NothingToChange)
        );
        assert_eq!(
            ConcertChange::new(None, None, vec![date(1, None)]),
            Err(ConcertRejected::NothingToChange)
        );
        assert_eq!(
            ConcertChange::new(Some(" "), None, vec![]),
            Err(ConcertRejected::BadText("title"))
        );
        assert_eq!(
            ConcertChange::new(None, None, vec![date(1, Some("A")), date(1, Some("B"))]),
            Err(ConcertRejected::ScheduleTwice)
        );
    }
}
