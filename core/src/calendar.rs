//! UTC calendar dates of Unix times, without a date library: [`UtcDate`] turns a count of days
//! since 1970-01-01 (or a Unix time in seconds) into year, month and day of the proleptic
//! Gregorian calendar, with Howard Hinnant's `civil_from_days` algorithm (exact for every `i64`
//! day count a Unix time can reach, before 1970 too). Handlers use it to label UTC days and
//! months (cost budgets) and to write RFC 3339 timestamps (log lines); the time itself comes from
//! a [`crate::Clock`].

use std::fmt;

/// Seconds in one UTC day (Unix time has no leap seconds).
pub const SECONDS_PER_DAY: u64 = 86_400;

/// A date of the proleptic Gregorian calendar, in UTC.
///
/// ```
/// use llm_telemetry_core::UtcDate;
/// // 2024-02-29T23:59:59Z, and one second later.
/// assert_eq!(UtcDate::from_unix_seconds(1_709_251_199).to_string(), "2024-02-29");
/// assert_eq!(UtcDate::from_unix_seconds(1_709_251_200).to_string(), "2024-03-01");
/// assert_eq!(UtcDate::from_days_since_epoch(-1), UtcDate { year: 1969, month: 12, day: 31 });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcDate {
    /// The year (astronomical numbering: 0 is 1 BC).
    pub year: i64,
    /// The month, 1 to 12.
    pub month: u32,
    /// The day of the month, 1 to 31.
    pub day: u32,
}

impl UtcDate {
    /// The date `days` days after 1970-01-01 (before it if negative).
    pub fn from_days_since_epoch(days: i64) -> Self {
        // Hinnant's algorithm counts from 0000-03-01, so that the leap day ends each 4-, 100-
        // and 400-year cycle ("era" = 400 years = 146 097 days).
        let z = i128::from(days) + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z - era * 146_097;
        let year_of_era =
            (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let mp = (5 * day_of_year + 2) / 153;
        // Each is in range by construction: day 1..=31, month 1..=12, and the year of an `i64`
        // day count is at most |days| / 365 + 1970, well inside `i64`.
        let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (year_of_era + era * 400 + i128::from(month <= 2)) as i64;
        UtcDate { year, month, day }
    }

    /// The UTC date of `unix_seconds` seconds since the epoch.
    pub fn from_unix_seconds(unix_seconds: u64) -> Self {
        // u64::MAX / 86 400 < 2^48: the day count fits an `i64`.
        Self::from_days_since_epoch((unix_seconds / SECONDS_PER_DAY) as i64)
    }

    /// Whole months from 1970-01 to this date's month (negative before 1970).
    pub fn months_since_epoch(self) -> i64 {
        (self.year - 1970) * 12 + i64::from(self.month) - 1
    }
}

/// `YYYY-MM-DD` (ISO 8601; years before 0 or after 9999 take more digits and a sign).
impl fmt::Display for UtcDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(year: i64, month: u32, day: u32) -> UtcDate {
        UtcDate { year, month, day }
    }

    fn is_leap(year: i64) -> bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    fn days_in_month(year: i64, month: u32) -> u32 {
        match month {
            2 if is_leap(year) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }

    /// The day after `d`, by counting.
    fn next(d: UtcDate) -> UtcDate {
        if d.day < days_in_month(d.year, d.month) {
            date(d.year, d.month, d.day + 1)
        } else if d.month < 12 {
            date(d.year, d.month + 1, 1)
        } else {
            date(d.year + 1, 1, 1)
        }
    }

    #[test]
    fn every_day_of_eight_centuries_around_1970_follows_the_one_before() {
        // Day 0 is 1970-01-01 and each day is its predecessor's successor by a naive count:
        // 1170 to 2770, which covers every leap rule (1200, 1600 and 2000 leap; 1900, 2100 not).
        let span = 2 * 146_097;
        let mut expected = UtcDate::from_days_since_epoch(-span);
        assert_eq!(expected, date(1170, 1, 1));
        for days in -span..=span {
            let got = UtcDate::from_days_since_epoch(days);
            assert_eq!(got, expected, "day {days}");
            expected = next(got);
        }
        assert_eq!(UtcDate::from_days_since_epoch(0), date(1970, 1, 1));
    }

    #[test]
    fn known_dates() {
        assert_eq!(UtcDate::from_unix_seconds(0), date(1970, 1, 1));
        assert_eq!(
            UtcDate::from_unix_seconds(SECONDS_PER_DAY - 1),
            date(1970, 1, 1)
        );
        assert_eq!(
            UtcDate::from_unix_seconds(SECONDS_PER_DAY),
            date(1970, 1, 2)
        );
        assert_eq!(UtcDate::from_days_since_epoch(-1), date(1969, 12, 31));
        assert_eq!(UtcDate::from_days_since_epoch(-719_468), date(0, 3, 1));
        assert_eq!(UtcDate::from_days_since_epoch(-719_469), date(0, 2, 29));
        // Leap days: 2000 is one (divisible by 400), 1900 and 2100 are not (by 100).
        assert_eq!(UtcDate::from_unix_seconds(951_782_400), date(2000, 2, 29));
        assert_eq!(UtcDate::from_days_since_epoch(-25_508), date(1900, 3, 1));
        assert_eq!(UtcDate::from_days_since_epoch(47_540), date(2100, 2, 28));
        assert_eq!(UtcDate::from_days_since_epoch(47_541), date(2100, 3, 1));
        // 2^31 - 1 seconds: where a signed 32-bit time_t ends, 2038-01-19T03:14:07Z.
        assert_eq!(
            UtcDate::from_unix_seconds(i32::MAX as u64),
            date(2038, 1, 19)
        );
        assert_eq!(UtcDate::from_unix_seconds(1 << 32), date(2106, 2, 7));
        // u64::MAX nanoseconds: 2554-07-21T23:34:33Z.
        assert_eq!(
            UtcDate::from_unix_seconds(u64::MAX / 1_000_000_000),
            date(2554, 7, 21)
        );
        // The largest Unix time in seconds does not overflow.
        let far = UtcDate::from_unix_seconds(u64::MAX);
        assert!(far.year > 500_000_000_000, "{far:?}");
        let early = UtcDate::from_days_since_epoch(i64::MIN);
        assert!(early.year < -25_000_000_000_000_000, "{early:?}");
    }

    #[test]
    fn months_count_from_january_1970() {
        assert_eq!(date(1970, 1, 31).months_since_epoch(), 0);
        assert_eq!(date(1970, 2, 1).months_since_epoch(), 1);
        assert_eq!(date(2021, 4, 1).months_since_epoch(), 51 * 12 + 3);
        assert_eq!(date(1969, 12, 31).months_since_epoch(), -1);
    }

    #[test]
    fn displays_as_iso_8601() {
        assert_eq!(date(2026, 11, 21).to_string(), "2026-11-21");
        assert_eq!(date(987, 1, 2).to_string(), "0987-01-02");
    }
}
