//! The protobuf encoding of an OTLP `ExportTraceServiceRequest`
//! (opentelemetry-proto, `collector/trace/v1/trace_service.proto` and the messages it uses),
//! written by hand for the fields this host sets: one resource (`service.name`), one scope, and
//! spans with ids, parent, name, kind, times, flags, attributes (string, int, bool) and status.
//! Field numbers are the proto's; the integration test decodes the result with the official
//! Python bindings. Empty and zero fields are left out, as proto3 encoders do.

use super::{SpanKind, SpanRecord, Value};

/// Protobuf wire types.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn tag(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, (u64::from(field) << 3) | u64::from(wire));
}

fn bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    tag(out, field, LEN);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn varint_field(out: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        tag(out, field, VARINT);
        varint(out, value);
    }
}

fn fixed64_field(out: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        tag(out, field, FIXED64);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

fn fixed32_field(out: &mut Vec<u8>, field: u32, value: u32) {
    if value != 0 {
        tag(out, field, FIXED32);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

/// A nested message: encoded by `body`, written length-prefixed (even when empty, so a present
/// message stays present).
fn message_field(out: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    body(&mut inner);
    tag(out, field, LEN);
    varint(out, inner.len() as u64);
    out.extend_from_slice(&inner);
}

/// `KeyValue { string key = 1; AnyValue value = 2; }`, `AnyValue { oneof { string_value = 1;
/// bool_value = 2; int64 int_value = 3; } }`.
fn key_value(out: &mut Vec<u8>, field: u32, key: &str, value: &Value) {
    message_field(out, field, |kv| {
        bytes_field(kv, 1, key.as_bytes());
        message_field(kv, 2, |any| match value {
            // A oneof member is written even when it holds its type's default.
            Value::Str(text) => {
                tag(any, 1, LEN);
                varint(any, text.len() as u64);
                any.extend_from_slice(text.as_bytes());
            }
            Value::Bool(flag) => {
                tag(any, 2, VARINT);
                varint(any, u64::from(*flag));
            }
            Value::Int(number) => {
                tag(any, 3, VARINT);
                varint(any, *number as u64);
            }
        });
    });
}

/// `Span`: trace_id = 1, span_id = 2, parent_span_id = 4, name = 5, kind = 6,
/// start_time_unix_nano = 7, end_time_unix_nano = 8, attributes = 9, status = 15, flags = 16.
fn span(out: &mut Vec<u8>, span: &SpanRecord) {
    bytes_field(out, 1, &span.trace_id);
    bytes_field(out, 2, &span.span_id);
    if let Some(parent) = &span.parent_span_id {
        bytes_field(out, 4, parent);
    }
    bytes_field(out, 5, span.name.as_bytes());
    let kind = match span.kind {
        SpanKind::Server => 2,
        SpanKind::Client => 3,
    };
    varint_field(out, 6, kind);
    fixed64_field(out, 7, span.start_unix_nanos);
    fixed64_field(out, 8, span.end_unix_nanos);
    for (key, value) in &span.attributes {
        key_value(out, 9, key, value);
    }
    // `Status { string message = 2; StatusCode code = 3; }`, code 2 = STATUS_CODE_ERROR.
    if let Some(message) = &span.error {
        message_field(out, 15, |status| {
            bytes_field(status, 2, message.as_bytes());
            varint_field(status, 3, 2);
        });
    }
    fixed32_field(out, 16, span.flags);
}

/// An `ExportTraceServiceRequest` holding `spans` under one resource (`service.name`) and one
/// instrumentation scope (`edgefn`, the host's version).
pub(crate) fn export_request(service_name: &str, spans: &[SpanRecord]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + spans.len() * 256);
    // ExportTraceServiceRequest.resource_spans = 1
    message_field(&mut out, 1, |resource_spans| {
        // ResourceSpans.resource = 1: Resource.attributes = 1
        message_field(resource_spans, 1, |resource| {
            key_value(
                resource,
                1,
                "service.name",
                &Value::Str(service_name.to_owned()),
            );
        });
        // ResourceSpans.scope_spans = 2
        message_field(resource_spans, 2, |scope_spans| {
            // ScopeSpans.scope = 1: InstrumentationScope { name = 1; version = 2; }
            message_field(scope_spans, 1, |scope| {
                bytes_field(scope, 1, b"edgefn");
                bytes_field(scope, 2, env!("CARGO_PKG_VERSION").as_bytes());
            });
            // ScopeSpans.spans = 2
            for record in spans {
                message_field(scope_spans, 2, |out| span(out, record));
            }
        });
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_base_128_little_endian() {
        for (value, bytes) in [
            (0u64, &[0x00][..]),
            (1, &[0x01]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (300, &[0xac, 0x02]),
            (
                u64::MAX,
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ] {
            let mut out = Vec::new();
            varint(&mut out, value);
            assert_eq!(out, bytes, "{value}");
        }
        // A negative int64 is its two's complement: ten bytes.
        let mut out = Vec::new();
        key_value(&mut out, 9, "n", &Value::Int(-1));
        assert_eq!(out.len(), 2 + 3 + 2 + 11);
    }

    #[test]
    fn a_span_encodes_byte_for_byte() {
        let record = SpanRecord {
            trace_id: [0x11; 16],
            span_id: [0x22; 8],
            parent_span_id: Some([0x33; 8]),
            flags: 0x301,
            name: "hi".into(),
            kind: SpanKind::Server,
            start_unix_nanos: 1,
            end_unix_nanos: 2,
            attributes: vec![
                ("a", Value::Str("b".into())),
                ("c", Value::Bool(true)),
                ("d", Value::Int(200)),
            ],
            error: Some("x".into()),
        };
        let mut out = Vec::new();
        span(&mut out, &record);
        let mut want = vec![0x0a, 16];
        want.extend([0x11; 16]);
        want.extend([0x12, 8]);
        want.extend([0x22; 8]);
        want.extend([0x22, 8]);
        want.extend([0x33; 8]);
        want.extend([0x2a, 2, b'h', b'i']); // name
        want.extend([0x30, 2]); // kind SERVER
        want.extend([0x39, 1, 0, 0, 0, 0, 0, 0, 0]); // start, fixed64
        want.extend([0x41, 2, 0, 0, 0, 0, 0, 0, 0]); // end
        want.extend([0x4a, 8, 0x0a, 1, b'a', 0x12, 3, 0x0a, 1, b'b']);
        want.extend([0x4a, 7, 0x0a, 1, b'c', 0x12, 2, 0x10, 1]);
        want.extend([0x4a, 8, 0x0a, 1, b'd', 0x12, 3, 0x18, 0xc8, 0x01]);
        want.extend([0x7a, 5, 0x12, 1, b'x', 0x18, 2]); // status: message, ERROR
        want.extend([0x85, 0x01, 0x01, 0x03, 0, 0]); // flags = 16, fixed32
        assert_eq!(out, want);
    }

    #[test]
    fn an_empty_export_still_names_its_resource_and_scope() {
        let out = export_request("svc", &[]);
        assert_eq!(out[0], 0x0a);
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("service.name") && text.contains("svc") && text.contains("edgefn"));
    }
}
