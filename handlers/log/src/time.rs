//! Time: the [`Clock`] a logger reads when an event carries no exact time of its own, the rule
//! that picks each line's timestamp, and a dependency-free RFC 3339 formatter (UTC, `Z`).
//!
//! The queued lane does not record when an event was emitted, so a line's time comes from the
//! event where the event knows it exactly, and from the clock at handling time otherwise:
//!
//! | event | timestamp |
//! |---|---|
//! | `*.start` in a local span | the span's start (`SpanContext::start_unix_nanos`) |
//! | `*.stop`, `*.exception` in a local span | span start + the `duration` measurement: the exact end |
//! | anything else (and remote contexts) | the clock when the logger handles the event |
//!
//! With [`llm_telemetry_core::Delivery::Inline`] the handling time is the emitting time; on the queued
//! lane it is later by the queueing delay (microseconds on an idle lane).

use std::time::{SystemTime, UNIX_EPOCH};

use llm_telemetry_core::Event;
use llm_telemetry_genai::catalog::keys;

/// Where a logger gets "now", in nanoseconds since the Unix epoch. Inject a fixed clock in tests.
///
/// Any `Fn() -> u64 + Send + Sync` closure is a clock:
/// ```
/// use llm_telemetry_log::Clock;
/// let fixed = || 1_700_000_000_000_000_000u64;
/// assert_eq!(fixed.now_unix_nanos(), 1_700_000_000_000_000_000);
/// ```
pub trait Clock: Send + Sync + 'static {
    /// Nanoseconds since the Unix epoch.
    fn now_unix_nanos(&self) -> u64;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix_nanos(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }
}

impl<F> Clock for F
where
    F: Fn() -> u64 + Send + Sync + 'static,
{
    fn now_unix_nanos(&self) -> u64 {
        self()
    }
}

/// The time a line reports for `event` (see the module table), in nanoseconds since the epoch.
pub fn event_time(event: &Event<'_>, clock: &dyn Clock) -> u64 {
    if let Some(span) = event.span() {
        if !span.is_remote && span.start_unix_nanos != 0 {
            match event.name().phase() {
                "start" => return span.start_unix_nanos,
                "stop" | "exception" => {
                    if let Some(duration) = event.measurement(keys::DURATION) {
                        if duration >= 0.0 {
                            return span.start_unix_nanos.saturating_add(duration as u64);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    clock.now_unix_nanos()
}

/// How many fractional-second digits a timestamp shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fraction {
    /// `.123`
    Millis,
    /// `.123456`
    Micros,
}

/// Appends `unix_nanos` as RFC 3339 in UTC, e.g. `2026-11-21T03:07:27.123456Z`.
pub(crate) fn write_rfc3339(out: &mut Vec<u8>, unix_nanos: u64, fraction: Fraction) {
    let (buf, len) = rfc3339(unix_nanos, fraction);
    out.extend_from_slice(&buf[..len]);
}

/// `unix_nanos` as RFC 3339 in UTC, on the stack: the bytes and how many are used.
pub(crate) fn rfc3339(unix_nanos: u64, fraction: Fraction) -> ([u8; 27], usize) {
    let secs = unix_nanos / 1_000_000_000;
    let nanos = (unix_nanos % 1_000_000_000) as u32;
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let second_of_day = (secs % 86_400) as u32;
    let mut buf = [0u8; 27];
    put4(&mut buf[0..4], year.clamp(0, 9999) as u32);
    buf[4] = b'-';
    put2(&mut buf[5..7], month);
    buf[7] = b'-';
    put2(&mut buf[8..10], day);
    buf[10] = b'T';
    put2(&mut buf[11..13], second_of_day / 3600);
    buf[13] = b':';
    put2(&mut buf[14..16], second_of_day / 60 % 60);
    buf[16] = b':';
    put2(&mut buf[17..19], second_of_day % 60);
    buf[19] = b'.';
    let end = match fraction {
        Fraction::Millis => {
            put_digits(&mut buf[20..23], nanos / 1_000_000);
            23
        }
        Fraction::Micros => {
            put_digits(&mut buf[20..26], nanos / 1_000);
            26
        }
    };
    buf[end] = b'Z';
    (buf, end + 1)
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn put2(out: &mut [u8], value: u32) {
    out[0] = b'0' + (value / 10 % 10) as u8;
    out[1] = b'0' + (value % 10) as u8;
}

fn put4(out: &mut [u8], value: u32) {
    put2(&mut out[0..2], value / 100);
    put2(&mut out[2..4], value % 100);
}

fn put_digits(out: &mut [u8], mut value: u32) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(nanos: u64, fraction: Fraction) -> String {
        let mut out = Vec::new();
        write_rfc3339(&mut out, nanos, fraction);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(format(0, Fraction::Micros), "1970-01-01T00:00:00.000000Z");
        // 2023-11-14T22:13:20Z
        assert_eq!(
            format(1_700_000_000_123_456_789, Fraction::Micros),
            "2023-11-14T22:13:20.123456Z"
        );
        assert_eq!(
            format(1_700_000_000_123_456_789, Fraction::Millis),
            "2023-11-14T22:13:20.123Z"
        );
        // A leap day: 2024-02-29T12:00:00Z = 1709208000.
        assert_eq!(
            format(1_709_208_000_000_000_000, Fraction::Millis),
            "2024-02-29T12:00:00.000Z"
        );
        // The last second of 1999.
        assert_eq!(
            format(946_684_799_000_000_000, Fraction::Millis),
            "1999-12-31T23:59:59.000Z"
        );
    }

    #[test]
    fn every_day_of_four_centuries_round_trips() {
        // Check civil_from_days against a naive day counter from 1970 to 2400.
        let mut days = 0i64;
        for year in 1970..2400i64 {
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
            let lengths = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            for (m, len) in lengths.iter().enumerate() {
                for d in 1..=*len {
                    assert_eq!(civil_from_days(days), (year, m as u32 + 1, d));
                    days += 1;
                }
            }
        }
    }
}
