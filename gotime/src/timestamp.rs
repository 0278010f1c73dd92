//! The `--since`/`--until` values of Docker's CLI and the `until=` of its prune filters
//! (`api/types/time`'s `GetTimestamp` and `ParseTimestamps`): a Go duration before now, an
//! RFC 3339 time or a shorter form of one (a time without a zone is local), or Unix seconds
//! with an optional fraction.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime};

/// `GetTimestamp`: `value` as Unix seconds with a fraction (`"1700000000.000000000"`), a
/// duration counting back from `now` (Unix seconds) and a time without a zone read at `local`.
/// Unix seconds come back as given.
pub fn get_timestamp(value: &str, now: i64, local: FixedOffset) -> Result<String, String> {
    if value != "0" {
        if let Ok(ns) = crate::parse_duration(value) {
            return Ok(now.saturating_sub(ns / 1_000_000_000).to_string());
        }
    }
    match parse_time(value, local) {
        Some(t) => Ok(format!(
            "{}.{:09}",
            t.timestamp(),
            t.timestamp_subsec_nanos()
        )),
        // Go: a value with a dash was meant as a time, and its parse error is the answer.
        None if value.contains('-') => {
            Err(format!("parsing time {value:?}: use a duration (10m), an RFC 3339 time or date (2006-01-02T15:04:05Z, 2006-01-02), or Unix seconds"))
        }
        None => parse_timestamps(value)
            .map(|_| value.to_string())
            .map_err(|_| format!("failed to parse value as time or duration: {value:?}")),
    }
}

/// `ParseTimestamps`: `"secs"` or `"secs.nanos"` as seconds and nanoseconds (the fraction's
/// digits as written, up to nine).
pub fn parse_timestamps(value: &str) -> Result<(i64, i64), String> {
    let bad = || format!("invalid timestamp: {value:?}");
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    if frac.is_empty() {
        return Ok((secs, 0));
    }
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let nanos: i64 = format!("{frac:0<9}").parse().map_err(|_| bad())?;
    Ok((secs, nanos))
}

/// `get_timestamp` then `parse_timestamps`: seconds and nanoseconds.
pub fn timestamp_at(value: &str, now: i64, local: FixedOffset) -> Result<(i64, i64), String> {
    parse_timestamps(&get_timestamp(value, now, local)?)
}

/// The time forms `GetTimestamp` reads: with a zone (`Z`, `+01:00`, or a negative offset, when
/// the value has three dashes) or at `local` without one; to the hour, minute, second or
/// fraction, or a date alone.
fn parse_time(value: &str, local: FixedOffset) -> Option<DateTime<FixedOffset>> {
    let zoned = value.contains(['z', 'Z', '+']) || value.matches('-').count() == 3;
    if !zoned {
        let naive = naive_time(value)?;
        return naive.and_local_timezone(local).earliest();
    }
    let (time, zone) = split_zone(value)?;
    let offset = parse_offset(zone)?;
    naive_time(time)?.and_local_timezone(offset).earliest()
}

/// `2006-01-02`, `2006-01-02T15`, `2006-01-02T15:04`, `2006-01-02T15:04:05[.999999999]`.
fn naive_time(s: &str) -> Option<NaiveDateTime> {
    let Some((date, time)) = s.split_once('T') else {
        return NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()?
            .and_hms_opt(0, 0, 0);
    };
    let full = match time.matches(':').count() {
        0 => format!("{date}T{time}:00:00"),
        1 => format!("{date}T{time}:00"),
        _ => s.to_string(),
    };
    NaiveDateTime::parse_from_str(&full, "%Y-%m-%dT%H:%M:%S%.f").ok()
}

/// The time and its zone: a trailing `Z`, or `±hh:mm` after the date's own dashes.
fn split_zone(value: &str) -> Option<(&str, &str)> {
    if let Some(time) = value.strip_suffix(['Z', 'z']) {
        return Some((time, "Z"));
    }
    // The zone's sign is the last `+` or `-`, past the date (`2006-01-02`, 10 bytes).
    let at = value.rfind(['+', '-']).filter(|&i| i >= 10)?;
    Some((&value[..at], &value[at..]))
}

fn parse_offset(zone: &str) -> Option<FixedOffset> {
    if zone == "Z" {
        return FixedOffset::east_opt(0);
    }
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let (h, m) = zone.get(1..)?.split_once(':')?;
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hours: i32) -> FixedOffset {
        FixedOffset::east_opt(hours * 3600).unwrap()
    }

    #[test]
    fn durations_count_back_from_now() {
        assert_eq!(get_timestamp("10m", 1000, at(0)), Ok("400".into()));
        assert_eq!(get_timestamp("1h30m", 10_000, at(0)), Ok("4600".into()));
        assert_eq!(get_timestamp("1.5s", 10, at(0)), Ok("9".into()));
        assert_eq!(get_timestamp("-1h", 0, at(0)), Ok("3600".into()));
    }

    #[test]
    fn unix_seconds_come_back_as_given() {
        for v in ["0", "1700000000", "1700000000.5", "1700000000.000000001"] {
            assert_eq!(get_timestamp(v, 99, at(3)), Ok(v.to_string()), "{v}");
        }
        assert_eq!(
            parse_timestamps("1700000000.5"),
            Ok((1_700_000_000, 500_000_000))
        );
        assert_eq!(parse_timestamps("12"), Ok((12, 0)));
        assert!(parse_timestamps("1.0000000001").is_err());
        assert!(parse_timestamps("1.x").is_err());
    }

    #[test]
    fn times_with_a_zone_are_read_in_it_and_others_at_local() {
        let cases = [
            ("1970-01-01T00:01:00Z", 0, "60.000000000"),
            ("1970-01-01T00:01:00.25Z", 0, "60.250000000"),
            ("1970-01-01T01:01:00+01:00", 0, "60.000000000"),
            ("1970-01-01T00:01:00-01:00", 0, "3660.000000000"),
            ("1970-01-01T02:01:00", 2, "60.000000000"),
            ("1970-01-01T02:01", 2, "60.000000000"),
            ("1970-01-01T02", 2, "0.000000000"),
            ("1970-01-02", 2, "79200.000000000"),
            ("1970-01-02", 0, "86400.000000000"),
            ("1970-01-01T00Z", 5, "0.000000000"),
        ];
        for (value, local, want) in cases {
            assert_eq!(
                get_timestamp(value, 0, at(local)),
                Ok(want.into()),
                "{value}"
            );
        }
    }

    #[test]
    fn anything_else_is_refused_in_gos_words() {
        assert_eq!(
            get_timestamp("yesterday", 0, at(0)).unwrap_err(),
            "failed to parse value as time or duration: \"yesterday\""
        );
        assert!(get_timestamp("2020-13-01", 0, at(0))
            .unwrap_err()
            .contains("use a duration (10m)"));
        assert!(get_timestamp("", 0, at(0)).is_err());
        assert!(
            get_timestamp("5", 0, at(0)).is_ok(),
            "Unix seconds, not a duration"
        );
    }
}
