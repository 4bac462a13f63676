//! Readable export failures: the cause a transport hid (the HTTP client reports every transport
//! failure as "network error"; the cause is kept and appended) and a hint saying what to change
//! when the cause is recognisable (an unknown issuer, an expired certificate, a name mismatch, a
//! server that does not speak TLS, a missing client certificate).

/// The message of a failed export: what the exporter said, the transport's cause when it hid it,
/// and a hint when the cause is recognisable.
pub(crate) fn diagnose(
    message: &str,
    cause: Option<String>,
    https: bool,
    identity: bool,
) -> String {
    let mut text = message.to_owned();
    if let Some(cause) = &cause {
        text.push_str(": ");
        text.push_str(cause);
    }
    let lower = text.to_ascii_lowercase();
    let hint = if lower.contains("unknownissuer") || lower.contains("unknown issuer") {
        Some(
            "the collector's certificate is not signed by a trusted CA: set \
             OTEL_EXPORTER_OTLP_CERTIFICATE (or the builder's certificate) to its CA's PEM file",
        )
    } else if lower.contains("expired") {
        Some("the collector's certificate has expired (or is not yet valid): renew it")
    } else if lower.contains("notvalidforname") || lower.contains("not valid for name") {
        Some(
            "the collector's certificate does not name this host: use a host name the \
             certificate lists",
        )
    } else if lower.contains("certificaterequired") || lower.contains("certificate required") {
        Some(
            "the collector asks for a client certificate: set \
             OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY",
        )
    } else if lower.contains("badcertificate")
        || lower.contains("bad certificate")
        || lower.contains("unknownca")
        || lower.contains("unknown ca")
    {
        Some(
            "the collector rejected the client certificate: check \
             OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and its CA",
        )
    } else if https
        && (lower.contains("invalidcontenttype")
            || lower.contains("corrupt message")
            || lower.contains("invalidmessage")
            || lower.contains("wrong version"))
    {
        Some("the collector does not speak TLS: use an http:// URL for a plain-text collector")
    } else if https
        && (lower.contains("close_notify")
            || lower.contains("unexpected eof")
            || lower.contains("peer closed")
            || lower.contains("connection reset"))
    {
        Some(if identity {
            "the collector closed or reset the TLS connection: check that the client certificate is \
             signed by a CA the collector trusts"
        } else {
            "the collector closed or reset the TLS connection: if it requires a client certificate \
             (mTLS), set OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY"
        })
    } else if !https
        && (lower.contains("network error")
            || lower.contains("connection closed")
            || lower.contains("connection reset")
            || lower.contains("incomplete message")
            || lower.contains("frame")
            || lower.contains("h2 protocol error")
            || lower.contains("broken pipe"))
        && !lower.contains("refused")
    {
        Some(
            "if the collector uses TLS, its URL must start with https:// (a plain-text request \
             to a TLS port is cut off)",
        )
    } else {
        None
    };
    if let Some(hint) = hint {
        text.push_str(" (");
        text.push_str(hint);
        text.push(')');
    }
    text
}

/// Renders an error and its sources, `outer: inner: innermost`, without repeats.
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![error.to_string()];
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hidden_cause_is_shown_with_a_hint() {
        let message = diagnose(
            "HTTP export failed: network error",
            Some("error sending request: invalid peer certificate: UnknownIssuer".into()),
            true,
            false,
        );
        assert!(message.contains("UnknownIssuer"), "{message}");
        assert!(
            message.contains("OTEL_EXPORTER_OTLP_CERTIFICATE"),
            "{message}"
        );
        let plain = diagnose(
            "HTTP export failed: network error",
            Some("received corrupt message of type InvalidContentType".into()),
            true,
            false,
        );
        assert!(plain.contains("does not speak TLS"), "{plain}");
        let refused = diagnose(
            "HTTP export failed: network error",
            Some("tcp connect error: Connection refused".into()),
            false,
            false,
        );
        assert!(!refused.contains("https://"), "{refused}");
    }
}
