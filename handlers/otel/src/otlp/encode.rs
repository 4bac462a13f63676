//! The OTLP protobuf encoding of one export: an `ExportTraceServiceRequest` with one
//! `ResourceSpans` per project, written straight into one buffer.
//!
//! A project's resource is encoded once, when the project is made ([`resource`]), and copied
//! into every request that carries the project's spans, so a batch of 512 distinct tenants costs
//! 512 byte copies rather than 512 resource conversions. The spans are converted with
//! `opentelemetry-proto`'s own conversion and encoded with prost, so the bytes are the ones the
//! SDK exporter would send for the same spans and resources (field order included: prost
//! writes fields in tag order, as here).

use std::sync::Arc;

use opentelemetry::{InstrumentationScope, KeyValue, Value};
use opentelemetry_proto::tonic::common::v1::InstrumentationScope as OtlpScope;
use opentelemetry_proto::tonic::trace::v1::Span as OtlpSpan;
use opentelemetry_proto::transform::common::tonic::Attributes;
use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len};

use crate::exporter::ResourceGroup;

/// `ExportTraceServiceRequest.resource_spans`, `ResourceSpans.resource`,
/// `ScopeSpans.scope`, `Resource.attributes`, `KeyValue.key`, `AnyValue.string_value`.
const FIELD_1: u32 = 1;
/// `ResourceSpans.scope_spans`, `ScopeSpans.spans`, `KeyValue.value`.
const FIELD_2: u32 = 2;
/// `ScopeSpans.schema_url`.
const FIELD_3: u32 = 3;

/// One resource attribute, encoded (a `KeyValue` message, without its own tag and length).
#[derive(Clone, Debug)]
pub(crate) struct EncodedAttribute {
    key: String,
    bytes: Vec<u8>,
}

/// Encodes attributes once, for [`resource`].
pub(crate) fn attributes(kvs: &[KeyValue]) -> Vec<EncodedAttribute> {
    kvs.iter()
        .map(|kv| EncodedAttribute {
            key: kv.key.as_str().to_owned(),
            bytes: match &kv.value {
                Value::String(s) => string_pair(kv.key.as_str(), s.as_str()),
                _ => Attributes::from([kv.clone()])
                    .0
                    .first()
                    .map(Message::encode_to_vec)
                    .unwrap_or_default(),
            },
        })
        .collect()
}

/// A `KeyValue` of a string value.
fn string_pair(key: &str, value: &str) -> Vec<u8> {
    let any_len = string_len(FIELD_1, value);
    let mut out = Vec::with_capacity(string_len(FIELD_1, key) + nested_len(FIELD_2, any_len));
    string(FIELD_1, key, &mut out);
    encode_key(FIELD_2, WireType::LengthDelimited, &mut out);
    encode_varint(any_len as u64, &mut out);
    string(FIELD_1, value, &mut out);
    out
}

/// A `Resource` message (its content): the `base` attributes whose keys `extra` does not name,
/// then `extra` (string values); so an extra attribute wins over a base one of the same key.
pub(crate) fn resource(base: &[EncodedAttribute], extra: &[(&str, &str)]) -> Arc<[u8]> {
    let extra: Vec<Vec<u8>> = extra.iter().map(|(k, v)| string_pair(k, v)).collect();
    let kept = |a: &&EncodedAttribute| !extra_keys_contain(&extra, &a.key);
    let len: usize = base
        .iter()
        .filter(kept)
        .map(|a| nested_len(FIELD_1, a.bytes.len()))
        .chain(extra.iter().map(|b| nested_len(FIELD_1, b.len())))
        .sum();
    let mut out = Vec::with_capacity(len);
    for bytes in base
        .iter()
        .filter(kept)
        .map(|a| a.bytes.as_slice())
        .chain(extra.iter().map(Vec::as_slice))
    {
        encode_key(FIELD_1, WireType::LengthDelimited, &mut out);
        encode_varint(bytes.len() as u64, &mut out);
        out.extend_from_slice(bytes);
    }
    out.into()
}

/// Whether one of the encoded extra pairs has `key` (its key field is written first).
fn extra_keys_contain(extra: &[Vec<u8>], key: &str) -> bool {
    let mut head = Vec::with_capacity(string_len(FIELD_1, key));
    string(FIELD_1, key, &mut head);
    extra.iter().any(|pair| pair.starts_with(&head))
}

/// The request: one `ResourceSpans` per group, in the groups' order, each with its project's
/// resource and its spans grouped by instrumentation scope (in order of first appearance).
pub(crate) fn request(groups: Vec<ResourceGroup>) -> Vec<u8> {
    // The scopes met so far, encoded once per request.
    let mut scopes: Vec<(InstrumentationScope, Vec<u8>)> = Vec::new();
    let mut out = Vec::new();
    for group in groups {
        let mut by_scope: Vec<(usize, Vec<OtlpSpan>)> = Vec::new();
        for span in group.spans {
            let scope = match scopes
                .iter()
                .position(|(s, _)| *s == span.instrumentation_scope)
            {
                Some(i) => i,
                None => {
                    let otlp = OtlpScope::from((&span.instrumentation_scope, None));
                    scopes.push((span.instrumentation_scope.clone(), otlp.encode_to_vec()));
                    scopes.len() - 1
                }
            };
            let slot = match by_scope.iter().position(|(s, _)| *s == scope) {
                Some(i) => i,
                None => {
                    by_scope.push((scope, Vec::new()));
                    by_scope.len() - 1
                }
            };
            by_scope[slot].1.push(span.into());
        }
        let scope_lens: Vec<usize> = by_scope
            .iter()
            .map(|(scope, spans)| {
                let (sdk, encoded) = &scopes[*scope];
                nested_len(FIELD_1, encoded.len())
                    + spans
                        .iter()
                        .map(|s| nested_len(FIELD_2, s.encoded_len()))
                        .sum::<usize>()
                    + sdk.schema_url().map_or(0, |url| string_len(FIELD_3, url))
            })
            .collect();
        let resource_spans_len = nested_len(FIELD_1, group.resource.len())
            + scope_lens
                .iter()
                .map(|len| nested_len(FIELD_2, *len))
                .sum::<usize>();
        out.reserve(nested_len(FIELD_1, resource_spans_len));
        encode_key(FIELD_1, WireType::LengthDelimited, &mut out);
        encode_varint(resource_spans_len as u64, &mut out);
        encode_key(FIELD_1, WireType::LengthDelimited, &mut out);
        encode_varint(group.resource.len() as u64, &mut out);
        out.extend_from_slice(&group.resource);
        for ((scope, spans), len) in by_scope.iter().zip(scope_lens) {
            let (sdk, encoded) = &scopes[*scope];
            encode_key(FIELD_2, WireType::LengthDelimited, &mut out);
            encode_varint(len as u64, &mut out);
            encode_key(FIELD_1, WireType::LengthDelimited, &mut out);
            encode_varint(encoded.len() as u64, &mut out);
            out.extend_from_slice(encoded);
            for span in spans {
                prost::encoding::message::encode(FIELD_2, span, &mut out);
            }
            if let Some(url) = sdk.schema_url().filter(|u| !u.is_empty()) {
                string(FIELD_3, url, &mut out);
            }
        }
    }
    out
}

/// The length of a length-delimited field of `len` bytes, tag and length included.
fn nested_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

/// The length of a string field (an empty string is left out, as proto3 does).
fn string_len(tag: u32, value: &str) -> usize {
    if value.is_empty() {
        0
    } else {
        nested_len(tag, value.len())
    }
}

/// Writes a string field (nothing for an empty string, as proto3 does).
fn string(tag: u32, value: &str, out: &mut Vec<u8>) {
    if !value.is_empty() {
        encode_key(tag, WireType::LengthDelimited, out);
        encode_varint(value.len() as u64, out);
        out.extend_from_slice(value.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::resource::v1::Resource as OtlpResource;
    use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
    use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::trace::SpanData;

    use super::*;

    fn span(name: &'static str, scope: &'static str) -> SpanData {
        use opentelemetry::trace::{
            SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
        };
        use std::time::{Duration, SystemTime};
        SpanData {
            span_context: SpanContext::new(
                TraceId::from(7),
                SpanId::from(9),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Client,
            name: name.into(),
            start_time: SystemTime::UNIX_EPOCH + Duration::from_secs(1),
            end_time: SystemTime::UNIX_EPOCH + Duration::from_secs(2),
            attributes: vec![KeyValue::new("k", "v"), KeyValue::new("n", 3)],
            dropped_attributes_count: 0,
            events: Default::default(),
            links: Default::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder(scope)
                .with_version("1.0")
                .build(),
        }
    }

    #[test]
    fn the_bytes_are_what_the_sdk_conversion_encodes() {
        let base = vec![
            KeyValue::new("service.name", "api"),
            KeyValue::new("count", 2),
            KeyValue::new("tenant.id", "old"),
        ];
        let extra = [("tenant.id", "acme"), ("openinference.project.name", "p")];
        let encoded = resource(&attributes(&base), &extra);
        // The same resource the SDK way: the extra attribute replaces the base one.
        let sdk = Resource::builder_empty()
            .with_attributes(
                base.iter()
                    .filter(|kv| kv.key.as_str() != "tenant.id")
                    .cloned()
                    .chain(extra.iter().map(|(k, v)| KeyValue::new(*k, *v))),
            )
            .build();
        let decoded = OtlpResource::decode(&encoded[..]).unwrap();
        let mut got: Vec<String> = decoded
            .attributes
            .iter()
            .map(|kv| format!("{kv:?}"))
            .collect();
        let mut want: Vec<String> = ResourceAttributesWithSchema::from(&sdk)
            .attributes
            .0
            .iter()
            .map(|kv| format!("{kv:?}"))
            .collect();
        got.sort();
        want.sort();
        assert_eq!(got, want);

        let groups = vec![
            ResourceGroup {
                resource: encoded.clone(),
                spans: vec![span("a", "s1"), span("b", "s2"), span("c", "s1")],
            },
            ResourceGroup {
                resource: resource(&attributes(&base), &[]),
                spans: vec![span("d", "s1")],
            },
        ];
        let bytes = request(groups);
        let decoded = ExportTraceServiceRequest::decode(&bytes[..]).unwrap();
        assert_eq!(decoded.resource_spans.len(), 2);
        // Each group, the SDK way, with the resource as decoded.
        let sdk_way = |spans: Vec<SpanData>, resource: &OtlpResource| {
            let mut rs =
                group_spans_by_resource_and_scope(spans, &ResourceAttributesWithSchema::default());
            rs[0].resource = Some(resource.clone());
            rs
        };
        let want_first = sdk_way(
            vec![span("a", "s1"), span("b", "s2"), span("c", "s1")],
            decoded.resource_spans[0].resource.as_ref().unwrap(),
        );
        let mut got_first = decoded.resource_spans[0].clone();
        let mut want_first = want_first[0].clone();
        // The SDK groups scopes through a hash map: compare them in name order.
        got_first
            .scope_spans
            .sort_by_key(|s| s.scope.clone().unwrap().name);
        want_first
            .scope_spans
            .sort_by_key(|s| s.scope.clone().unwrap().name);
        assert_eq!(got_first, want_first);
        assert_eq!(
            decoded.resource_spans[0].scope_spans[0]
                .spans
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>(),
            ["a", "c"],
            "scopes in order of first span, spans in their order"
        );
        let second = &decoded.resource_spans[1];
        assert_eq!(second.scope_spans[0].spans[0].name, "d");
        assert_eq!(second.resource.as_ref().unwrap().attributes.len(), 3);
    }
}
