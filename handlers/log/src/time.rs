//! Time: the rule that picks each line's timestamp (an exact time from the event, or the logger's
//! [`Clock`] when the event carries none) and a dependency-free RFC 3339 formatter (UTC, `Z`) over
//! core's [`UtcDate`].
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

use llm_telemetry_core::calendar::SECONDS_PER_DAY;
use llm_telemetry_core::{Clock, Event, UtcDate};
use llm_telemetry_genai::catalog::keys;

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
    let UtcDate { year, month, day } = UtcDate::from_unix_seconds(secs);
    let second_of_day = (secs % SECONDS_PER_DAY) as u32;
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
        let cases = [
            (0, Fraction::Micros, "1970-01-01T00:00:00.000000Z"),
            // The fraction is cut, not rounded: the epoch's first millisecond stays at .000.
            (999_999, Fraction::Millis, "1970-01-01T00:00:00.000Z"),
            (
                1_700_000_000_123_456_789,
                Fraction::Micros,
                "2023-11-14T22:13:20.123456Z",
            ),
            (
                1_700_000_000_123_456_789,
                Fraction::Millis,
                "2023-11-14T22:13:20.123Z",
            ),
            // A leap day: 2024-02-29T12:00:00Z = 1709208000.
            (
                1_709_208_000_000_000_000,
                Fraction::Millis,
                "2024-02-29T12:00:00.000Z",
            ),
            // The last second of 1999.
            (
                946_684_799_000_000_000,
                Fraction::Millis,
                "1999-12-31T23:59:59.000Z",
            ),
            // Either side of the end of a signed 32-bit time_t (2^31 - 1 s).
            (
                2_147_483_647_999_999_999,
                Fraction::Micros,
                "2038-01-19T03:14:07.999999Z",
            ),
            (
                2_147_483_648_000_000_000,
                Fraction::Micros,
                "2038-01-19T03:14:08.000000Z",
            ),
            // The last instant a u64 of nanoseconds holds.
            (u64::MAX, Fraction::Micros, "2554-07-21T23:34:33.709551Z"),
        ];
        for (nanos, fraction, expected) in cases {
            assert_eq!(format(nanos, fraction), expected, "{nanos} ns");
            let (buf, len) = rfc3339(nanos, fraction);
            assert_eq!(&buf[..len], expected.as_bytes());
        }
    }
}
