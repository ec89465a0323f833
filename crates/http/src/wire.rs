//! Wire formats shared by the routes: instants as RFC 3339 text in UTC.

use boxoffice_core::domain::Timestamp;
use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// RFC 3339 in UTC with exactly three fractional digits, e.g. `2030-01-01T00:00:00.000Z`.
const UTC_MILLIS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// The wire text of an instant (see [`UTC_MILLIS`]).
pub fn instant(ts: Timestamp) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts.as_millis()) * 1_000_000)
        .ok()
        .and_then(|t| t.format(UTC_MILLIS).ok())
        .unwrap_or_default()
}

/// Parses RFC 3339 text (any offset) into an instant from 1970-01-01 UTC to
/// the end of year 9999 UTC: one that [`instant`] writes back. Text whose
/// offset carries it past either end (`9999-12-31T23:59:59-23:59`) is
/// refused, not stored to come back as nothing.
pub fn parse_instant(text: &str) -> Option<Timestamp> {
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    let millis = i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()?;
    let ts = Timestamp::from_millis(millis);
    (millis >= 0 && !instant(ts).is_empty()).then_some(ts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_round_trip_through_rfc3339() {
        let ts = Timestamp::from_millis(1_893_456_000_123);
        let text = instant(ts);
        assert_eq!(text, "2030-01-01T00:00:00.123Z");
        assert_eq!(parse_instant(&text), Some(ts));
        assert_eq!(
            parse_instant("2030-01-01T09:00:00+09:00"),
            Some(Timestamp::from_millis(1_893_456_000_000))
        );
        assert_eq!(parse_instant("yesterday"), None);
    }

    #[test]
    fn an_instant_past_year_9999_or_before_1970_in_utc_is_refused() {
        assert_eq!(parse_instant("9999-12-31T23:59:59-23:59"), None);
        assert_eq!(parse_instant("1969-12-31T23:59:59Z"), None);
        assert_eq!(parse_instant("1970-01-01T00:30:00+01:00"), None);
        let last = parse_instant("9999-12-31T23:59:59.999Z").unwrap();
        assert_eq!(instant(last), "9999-12-31T23:59:59.999Z");
        assert_eq!(
            parse_instant("1970-01-01T00:00:00Z"),
            Some(Timestamp::from_millis(0))
        );
    }
}
