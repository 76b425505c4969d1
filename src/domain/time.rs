//! Dates in UK local time, timestamps, and durations such as `7d`.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Europe::London;

/// Today in Europe/London.
pub fn today_uk() -> NaiveDate {
    Utc::now().with_timezone(&London).date_naive()
}

/// When a UK day began, in UTC (midnight in London; the first instant after it on the day the
/// clocks go forward).
pub fn uk_day_start(d: NaiveDate) -> NaiveDateTime {
    let midnight = d.and_time(chrono::NaiveTime::MIN);
    London.from_local_datetime(&midnight).earliest().map_or(midnight, |t| t.naive_utc())
}

/// Now in UTC, to the microsecond (what both databases keep).
pub fn now_utc() -> NaiveDateTime {
    let now = Utc::now().naive_utc();
    let micros = now.and_utc().timestamp_micros();
    DateTime::from_timestamp_micros(micros).map_or(now, |d| d.naive_utc())
}

/// A stored UTC timestamp as UK local time.
pub fn uk(t: NaiveDateTime) -> NaiveDateTime {
    London.from_utc_datetime(&t).naive_local()
}

/// RFC 3339 with offset, for a stored UTC timestamp.
pub fn rfc3339(t: NaiveDateTime) -> String {
    t.and_utc().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

pub fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| format!("{s:?} is not a date of the form YYYY-MM-DD"))
}

/// A timestamp as a legacy file may hold it: RFC 3339; `YYYY-MM-DD HH:MM[:SS]` or `YYYY-MM-DD`
/// in UK local time. Returned in UTC.
pub fn parse_timestamp(s: &str) -> Result<NaiveDateTime, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc).naive_utc());
    }
    let local = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .or_else(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)));
    let local = local.ok_or_else(|| format!("{s:?} is not a timestamp (RFC 3339, or YYYY-MM-DD[ HH:MM[:SS]] in UK time)"))?;
    London
        .from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc).naive_utc())
        .ok_or_else(|| format!("{s:?} does not exist in UK time (a clock change)"))
}

/// `90s`, `12h`, `7d`, `30m`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let err = || format!("{s:?} is not a duration such as 7d, 12h, 30m or 90s");
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num.parse().map_err(|_| err())?;
    let secs = match unit.trim() {
        "s" => n,
        "m" => n.checked_mul(60).ok_or_else(err)?,
        "h" => n.checked_mul(3600).ok_or_else(err)?,
        "d" => n.checked_mul(86_400).ok_or_else(err)?,
        _ => return Err(err()),
    };
    Ok(Duration::from_secs(secs))
}

/// A duration as [`parse_duration`] reads it, in the largest unit that holds it whole (`7d`,
/// `12h`, `30m`, `90s`); parts of a second are left out.
pub fn format_duration(d: Duration) -> String {
    match d.as_secs() {
        0 => "0s".into(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Fixtures for unit tests: a date or time written out, or a panic naming it (a typo in a test
/// never becomes 1970-01-01).
#[cfg(test)]
pub mod fixtures {
    use chrono::{NaiveDate, NaiveDateTime};

    /// `YYYY-MM-DD`.
    pub fn date(s: &str) -> NaiveDate {
        super::parse_date(s).expect("a fixture date")
    }

    /// That day at `hour:minute`.
    pub fn at(day: &str, hour: u32, minute: u32) -> NaiveDateTime {
        date(day).and_hms_opt(hour, minute, 0).expect("a fixture time")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(43_200)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("7 weeks").is_err());
        assert!(parse_duration("d").is_err());
    }

    #[test]
    fn durations_print_as_they_are_read() {
        for (secs, text) in [(604_800, "7d"), (43_200, "12h"), (1_800, "30m"), (90, "90s"), (0, "0s"), (86_460, "1441m")] {
            assert_eq!(format_duration(Duration::from_secs(secs)), text);
            assert_eq!(parse_duration(text), Ok(Duration::from_secs(secs)));
        }
    }

    #[test]
    #[should_panic(expected = "a fixture date")]
    fn a_fixture_date_with_a_typo_fails_loudly() {
        fixtures::date("2026-11-31");
    }

    #[test]
    fn timestamps_in_uk_time() {
        let t = |s| parse_timestamp(s).map(rfc3339);
        assert_eq!(t("2026-07-01 09:00").as_deref(), Ok("2026-07-01T08:00:00Z"));
        assert_eq!(t("2026-12-01").as_deref(), Ok("2026-12-01T00:00:00Z"));
        assert_eq!(t("2026-07-01T09:00:00+01:00").as_deref(), Ok("2026-07-01T08:00:00Z"));
        assert!(parse_timestamp("yesterday").is_err());
    }
}
