//! Endpoints and their forms, as the OTLP exporter specification and Phoenix write them.
//!
//! Three forms of URL reach the exporter, and each is completed by its own rule:
//!
//! - a **base** URL (`OTEL_EXPORTER_OTLP_ENDPOINT`, [`crate::OtelHandlerBuilder::endpoint`]):
//!   for HTTP, `v1/traces` is appended to its path, keeping whatever path it has
//!   (`https://host/otlp` → `https://host/otlp/v1/traces`); for gRPC it is used as given;
//! - a **traces** URL (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
//!   [`crate::OtelHandlerBuilder::traces_endpoint`]): used exactly as given, path or not;
//! - a **Phoenix** collector URL (`PHOENIX_COLLECTOR_ENDPOINT`), in Phoenix's own forms: a base
//!   URL that gets `/v1/traces` unless it already ends with it, Phoenix Cloud's
//!   `https://app.phoenix.arize.com/s/<space>` (→ `/s/<space>/v1/traces`), and a bare
//!   `host:port` without a scheme, which is `http://host:port`; without a path on port 4317 it
//!   means OTLP/gRPC when no protocol is set.

use super::Protocol;

/// Phoenix Cloud's host: its collector URLs keep only a `/s/<space>` prefix.
const PHOENIX_CLOUD_HOST: &str = "app.phoenix.arize.com";

/// The conventional OTLP/gRPC port (Phoenix's too).
pub const OTLP_GRPC_PORT: u16 = 4317;

/// How an endpoint URL is completed (see the module documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EndpointForm {
    /// A base URL: HTTP appends `v1/traces` to its path.
    #[default]
    Base,
    /// The complete traces URL, used as given.
    Traces,
    /// Phoenix's collector endpoint forms.
    Phoenix,
}

/// An OTLP endpoint and its form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The URL (trimmed; a bare Phoenix `host:port` already has `http://`).
    pub url: String,
    /// How it is completed.
    pub form: EndpointForm,
}

impl Endpoint {
    /// The URL to export to with `protocol`.
    ///
    /// ```
    /// use llm_telemetry_otel::config::standard::{Endpoint, EndpointForm};
    /// use llm_telemetry_otel::Protocol;
    ///
    /// let base = Endpoint { url: "https://otlp.example/otlp".into(), form: EndpointForm::Base };
    /// assert_eq!(base.for_protocol(Protocol::HttpProtobuf), "https://otlp.example/otlp/v1/traces");
    /// assert_eq!(base.for_protocol(Protocol::Grpc), "https://otlp.example/otlp");
    /// let traces = Endpoint { url: "http://c:4318".into(), form: EndpointForm::Traces };
    /// assert_eq!(traces.for_protocol(Protocol::HttpProtobuf), "http://c:4318");
    /// ```
    pub fn for_protocol(&self, protocol: Protocol) -> String {
        match (self.form, protocol) {
            (EndpointForm::Traces, _) | (_, Protocol::Grpc) => self.url.clone(),
            (EndpointForm::Base, _) => append_signal_path(&self.url),
            (EndpointForm::Phoenix, _) => phoenix_http_url(&self.url),
        }
    }

    /// The protocol the URL itself implies when none is set: gRPC for a Phoenix endpoint on port
    /// 4317 without a path (`host:4317`), otherwise none (the default, `http/protobuf`, applies).
    pub fn implied_protocol(&self) -> Option<Protocol> {
        let parts = UrlParts::of(&self.url);
        (self.form == EndpointForm::Phoenix
            && parts.port() == Some(OTLP_GRPC_PORT)
            && parts.path.trim_matches('/').is_empty())
        .then_some(Protocol::Grpc)
    }
}

/// A URL cut into scheme + authority, path, and the rest (`?query#fragment`).
struct UrlParts<'a> {
    origin: &'a str,
    authority: &'a str,
    path: &'a str,
    rest: &'a str,
}

impl<'a> UrlParts<'a> {
    fn of(url: &'a str) -> Self {
        let after_scheme = url.find("://").map_or(0, |at| at + 3);
        let tail = &url[after_scheme..];
        let authority_len = tail.find(['/', '?', '#']).unwrap_or(tail.len());
        let origin_end = after_scheme + authority_len;
        let path_end = url[origin_end..]
            .find(['?', '#'])
            .map_or(url.len(), |at| origin_end + at);
        UrlParts {
            origin: &url[..origin_end],
            authority: &tail[..authority_len],
            path: &url[origin_end..path_end],
            rest: &url[path_end..],
        }
    }

    fn host(&self) -> &'a str {
        let without_user = self.authority.rsplit('@').next().unwrap_or("");
        if without_user.starts_with('[') {
            return without_user
                .split_once(']')
                .map_or(without_user, |(h, _)| &h[1..]);
        }
        without_user.split(':').next().unwrap_or("")
    }

    fn port(&self) -> Option<u16> {
        let without_user = self.authority.rsplit('@').next().unwrap_or("");
        let after_host = match without_user.split_once(']') {
            Some((_, after)) => after,
            None => without_user.split_once(':').map_or("", |(_, p)| p),
        };
        after_host.trim_start_matches(':').parse().ok()
    }
}

/// The specification's rule for a base URL: `v1/traces` appended relative to its path.
pub(crate) fn append_signal_path(url: &str) -> String {
    let parts = UrlParts::of(url.trim());
    let path = parts.path.trim_end_matches('/');
    format!("{}{path}/v1/traces{}", parts.origin, parts.rest)
}

/// Phoenix's rule: `/v1/traces` appended unless the path already ends with it; Phoenix Cloud
/// keeps only its `/s/<space>` prefix.
fn phoenix_http_url(url: &str) -> String {
    let parts = UrlParts::of(url.trim());
    let path = parts.path.trim_end_matches('/');
    if parts.host().eq_ignore_ascii_case(PHOENIX_CLOUD_HOST) {
        let space = path
            .strip_prefix("/s/")
            .and_then(|rest| rest.split('/').next())
            .filter(|space| !space.is_empty());
        return match space {
            Some(space) => format!("{}/s/{space}/v1/traces{}", parts.origin, parts.rest),
            None => format!("{}/v1/traces{}", parts.origin, parts.rest),
        };
    }
    if path.ends_with("/v1/traces") {
        format!("{}{path}{}", parts.origin, parts.rest)
    } else {
        format!("{}{path}/v1/traces{}", parts.origin, parts.rest)
    }
}

/// What an endpoint must look like.
pub const URL_EXPECTED: &str = "an http:// or https:// URL with a host and, if given, a port from 1 to 65535, such as http://localhost:4318";

/// An `http://` or `https://` URL with a host, a port (if any) from 1 to 65535, and no blanks:
/// the one endpoint grammar of the workspace (the facade's `tracing.endpoint` checks with it
/// too). `http://:4318` (no host) and `http://127.0.0.1:99999` (no such port) are refused here,
/// not when the first export fails.
///
/// ```
/// use llm_telemetry_otel::config::is_endpoint_url;
/// assert!(is_endpoint_url("https://collector.example.com/otlp"));
/// assert!(is_endpoint_url("http://[::1]:4318/v1/traces"));
/// assert!(!is_endpoint_url("http://:4318"));
/// assert!(!is_endpoint_url("http://127.0.0.1:99999"));
/// ```
pub fn is_endpoint_url(s: &str) -> bool {
    let Some(rest) = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"))
    else {
        return false;
    };
    if s.chars().any(char::is_whitespace) {
        return false;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    // Credentials, if any, come before the last `@`.
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        // An IPv6 literal: `[addr]` or `[addr]:port`.
        let Some((addr, after)) = bracketed.split_once(']') else {
            return false;
        };
        match after {
            "" => (addr, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (addr, Some(port)),
                None => return false,
            },
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p != 0));
    !host.is_empty() && port_ok
}

/// [`is_endpoint_url`] as a parser: the URL, or what is expected.
pub(crate) fn parse_url(s: &str) -> Result<String, String> {
    if is_endpoint_url(s) {
        Ok(s.to_owned())
    } else {
        Err(URL_EXPECTED.to_owned())
    }
}

/// A Phoenix collector endpoint: a URL, or a bare `host:port` (made `http://host:port`).
pub(crate) fn parse_phoenix_url(s: &str) -> Result<String, String> {
    let allowed = || {
        "an http:// or https:// URL with a host such as http://localhost:6006, or a bare \
         host:port such as localhost:4317 (OTLP/gRPC)"
            .to_owned()
    };
    if s.contains("://") {
        return parse_url(s).map_err(|_| allowed());
    }
    let (host, port) = s.rsplit_once(':').ok_or_else(allowed)?;
    if host.is_empty()
        || host.contains(['/', '?', '#'])
        || s.chars().any(char::is_whitespace)
        || port.parse::<u16>().is_err()
    {
        return Err(allowed());
    }
    Ok(format!("http://{s}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(url: &str) -> String {
        Endpoint {
            url: url.into(),
            form: EndpointForm::Base,
        }
        .for_protocol(Protocol::HttpProtobuf)
    }

    fn phoenix(url: &str) -> Endpoint {
        Endpoint {
            url: parse_phoenix_url(url).unwrap(),
            form: EndpointForm::Phoenix,
        }
    }

    #[test]
    fn a_base_url_gets_v1_traces_appended_to_its_path() {
        assert_eq!(base("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(base("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(base("https://h/otlp"), "https://h/otlp/v1/traces");
        assert_eq!(base("https://h/otlp/"), "https://h/otlp/v1/traces");
        // A base URL that already names the traces path is still a base: the rule is literal.
        assert_eq!(base("http://c/v1/traces"), "http://c/v1/traces/v1/traces");
        assert_eq!(base("http://[::1]:4318/p"), "http://[::1]:4318/p/v1/traces");
    }

    #[test]
    fn phoenix_forms() {
        let http = |url: &str| phoenix(url).for_protocol(Protocol::HttpProtobuf);
        assert_eq!(http("http://p:6006"), "http://p:6006/v1/traces");
        assert_eq!(http("http://p:6006/v1/traces"), "http://p:6006/v1/traces");
        assert_eq!(
            http("http://p:6006/prefix/"),
            "http://p:6006/prefix/v1/traces"
        );
        assert_eq!(
            http("https://app.phoenix.arize.com/s/my-space"),
            "https://app.phoenix.arize.com/s/my-space/v1/traces"
        );
        assert_eq!(
            http("https://app.phoenix.arize.com/s/my-space/v1/traces"),
            "https://app.phoenix.arize.com/s/my-space/v1/traces"
        );
        assert_eq!(
            http("https://app.phoenix.arize.com"),
            "https://app.phoenix.arize.com/v1/traces"
        );
        let bare = phoenix("collector:4317");
        assert_eq!(bare.url, "http://collector:4317");
        assert_eq!(bare.implied_protocol(), Some(Protocol::Grpc));
        assert_eq!(bare.for_protocol(Protocol::Grpc), "http://collector:4317");
        assert_eq!(phoenix("collector:6006").implied_protocol(), None);
        assert_eq!(phoenix("http://c:4317/v1/traces").implied_protocol(), None);
        for bad in ["collector", ":4317", "c:port", "ftp://x", "c:4317/x"] {
            assert!(parse_phoenix_url(bad).is_err(), "{bad}");
        }
    }
}
