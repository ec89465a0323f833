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

/// Parses RFC 3339 text (any offset) into an instant.
pub fn parse_instant(text: &str) -> Option<Timestamp> {
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    let millis = t.unix_timestamp_nanos() / 1_000_000;
    i64::try_from(millis).ok().map(Timestamp::from_millis)
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
}
