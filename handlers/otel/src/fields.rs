//! One pass over a stop event's measurements and metadata: the values the conventions read, found
//! by key once instead of by a scan per attribute.
//!
//! Keys outside the table fall back to the event's own lookup, so a lookup is never silently
//! empty. Both follow the event's rule: the last value of a repeated key wins.

use llm_telemetry_core::{Event, Value};
use llm_telemetry_genai::catalog::keys;

const META: usize = 21;
const NUMBERS: usize = 15;

fn meta_slot(key: &str) -> Option<usize> {
    Some(match key {
        keys::PROVIDER => 0,
        keys::MODEL => 1,
        keys::RESPONSE_MODEL => 2,
        keys::OPERATION => 3,
        keys::TENANT => 4,
        keys::STREAMING => 5,
        keys::STATUS => 6,
        keys::ERROR_TYPE => 7,
        keys::EXCEPTION_TYPE => 8,
        keys::EXCEPTION_MESSAGE => 9,
        keys::MAX_TOKENS => 10,
        keys::TEMPERATURE => 11,
        keys::TOP_P => 12,
        keys::SEED => 13,
        keys::STOP_SEQUENCES => 14,
        keys::FINISH_REASONS => 15,
        keys::INPUT => 16,
        keys::OUTPUT => 17,
        keys::IS_QUERY => 18,
        keys::POOLING => 19,
        keys::DEVICE => 20,
        _ => return None,
    })
}

fn number_slot(key: &str) -> Option<usize> {
    Some(match key {
        keys::DURATION => 0,
        keys::INPUT_TOKENS => 1,
        keys::OUTPUT_TOKENS => 2,
        keys::TOTAL_TOKENS => 3,
        keys::CACHE_READ_TOKENS => 4,
        keys::CACHE_WRITE_TOKENS => 5,
        keys::REASONING_TOKENS => 6,
        keys::TIME_TO_FIRST_TOKEN => 7,
        keys::TOKENS_PER_SECOND => 8,
        keys::DIMENSION => 9,
        keys::BATCH_SIZE => 10,
        keys::COST_USD => 11,
        keys::PROMPT_LENGTH => 12,
        keys::RESPONSE_LENGTH => 13,
        keys::TIME_PER_OUTPUT_TOKEN => 14,
        _ => return None,
    })
}

/// The values of one event, by key.
pub(crate) struct Fields<'e, 'a> {
    event: &'e Event<'a>,
    values: [Option<Value<'a>>; META],
    numbers: [Option<f64>; NUMBERS],
}

impl<'e, 'a> Fields<'e, 'a> {
    /// Reads `event` once.
    pub(crate) fn new(event: &'e Event<'a>) -> Self {
        let mut values = [None; META];
        for (key, value) in event.metadata() {
            if let Some(slot) = meta_slot(key) {
                values[slot] = Some(*value);
            }
        }
        let mut numbers = [None; NUMBERS];
        for (key, value) in event.measurements() {
            if let Some(slot) = number_slot(key) {
                numbers[slot] = Some(*value);
            }
        }
        Self {
            event,
            values,
            numbers,
        }
    }

    /// A metadata value.
    pub(crate) fn value(&self, key: &str) -> Option<Value<'a>> {
        match meta_slot(key) {
            Some(slot) => self.values[slot],
            None => self.event.value(key),
        }
    }

    /// A string metadata value.
    pub(crate) fn str(&self, key: &str) -> Option<&'a str> {
        self.value(key).and_then(|v| v.as_str())
    }

    /// A measurement.
    pub(crate) fn measurement(&self, key: &str) -> Option<f64> {
        match number_slot(key) {
            Some(slot) => self.numbers[slot],
            None => self.event.measurement(key),
        }
    }

    /// The event.
    pub(crate) fn event(&self) -> &'e Event<'a> {
        self.event
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_match_the_event() {
        let md = [
            (keys::MODEL, Value::Str("a")),
            (keys::MODEL, Value::Str("b")),
            ("custom", Value::Int(3)),
        ];
        let ms = [
            (keys::INPUT_TOKENS, 1.0),
            (keys::INPUT_TOKENS, 2.0),
            ("custom_n", 4.0),
        ];
        let event = Event::new(
            llm_telemetry_core::EventName::from(&llm_telemetry_genai::catalog::LLM_CHAT_STOP),
            &ms,
            &md,
            None,
        );
        let f = Fields::new(&event);
        for key in [keys::MODEL, "custom", keys::PROVIDER] {
            assert_eq!(f.value(key), event.value(key), "{key}");
        }
        for key in [keys::INPUT_TOKENS, "custom_n", keys::DURATION] {
            assert_eq!(f.measurement(key), event.measurement(key), "{key}");
        }
    }
}
