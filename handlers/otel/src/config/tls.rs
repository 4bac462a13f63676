//! TLS settings: the PEM files that verify the collector (a private CA instead of the platform's
//! root certificates) and identify this client (mTLS), where each came from, and the check that
//! reads them when the configuration is resolved, so that a missing or malformed file is a
//! [`ConfigError`] naming the variable (or builder option), the path and what is expected.

use std::path::PathBuf;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::ConfigError;

/// A PEM file and where its path came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFile {
    /// The file.
    pub path: PathBuf,
    /// The variable or builder option that named it (`OTEL_EXPORTER_OTLP_CERTIFICATE`,
    /// `builder option certificate`).
    pub from: String,
}

/// TLS for `https://` endpoints. With no files set, the collector is verified against the
/// platform's root certificates and no client certificate is sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// CA certificate(s) trusted to verify the collector, instead of the platform's roots
    /// (`OTEL_EXPORTER_OTLP_CERTIFICATE`).
    pub certificate: Option<TlsFile>,
    /// The client's certificate chain for mTLS (`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`).
    pub client_certificate: Option<TlsFile>,
    /// The client's private key for mTLS (`OTEL_EXPORTER_OTLP_CLIENT_KEY`).
    pub client_key: Option<TlsFile>,
}

/// The contents of the TLS files, parsed.
#[derive(Debug)]
pub(crate) struct TlsMaterial {
    /// The trusted CA certificates, `None` for the platform's roots. Parsed whatever the
    /// transports (the parse is the check that makes a bad file a `ConfigError`); only the HTTP
    /// transport's rustls configuration reads the result.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub roots: Option<Vec<CertificateDer<'static>>>,
    /// The CA file as read (PEM), for the gRPC transport (tonic takes PEM).
    #[cfg_attr(not(feature = "grpc"), allow(dead_code))]
    pub roots_pem: Option<Vec<u8>>,
    /// The client certificate chain and key, PEM as read and parsed.
    pub identity: Option<Identity>,
}

/// A client identity for mTLS.
#[derive(Debug)]
pub(crate) struct Identity {
    /// The chain, parsed (read by the HTTP transport's rustls configuration only).
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub chain: Vec<CertificateDer<'static>>,
    /// The key, parsed (read by the HTTP transport's rustls configuration only).
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub key: PrivateKeyDer<'static>,
    /// The chain as read (PEM), for the gRPC transport (tonic takes PEM).
    #[cfg_attr(not(feature = "grpc"), allow(dead_code))]
    pub chain_pem: Vec<u8>,
    /// The key as read (PEM), for the gRPC transport (tonic takes PEM).
    #[cfg_attr(not(feature = "grpc"), allow(dead_code))]
    pub key_pem: Vec<u8>,
}

const CERT_EXPECTED: &str = "a readable PEM file holding one or more certificates \
                             (-----BEGIN CERTIFICATE-----)";
const KEY_EXPECTED: &str = "a readable PEM file holding a private key (-----BEGIN PRIVATE \
                            KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)";

impl TlsConfig {
    /// Reads and parses every file; the first problem is the error.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        self.load().map(|_| ())
    }

    /// Reads and parses every file.
    pub(crate) fn load(&self) -> Result<TlsMaterial, ConfigError> {
        let (roots, roots_pem) = match &self.certificate {
            Some(file) => {
                let (certs, pem) = read_certificates(file)?;
                (Some(certs), Some(pem))
            }
            None => (None, None),
        };
        let identity = match (&self.client_certificate, &self.client_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => {
                let (chain, chain_pem) = read_certificates(cert)?;
                let key_pem = read(key, KEY_EXPECTED)?;
                let parsed = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
                    invalid(key, format!("no private key in it ({e})"), KEY_EXPECTED)
                })?;
                Some(Identity {
                    chain,
                    key: parsed,
                    chain_pem,
                    key_pem,
                })
            }
            (Some(given), None) | (None, Some(given)) => {
                let missing = if self.client_key.is_none() {
                    "the client key (OTEL_EXPORTER_OTLP_CLIENT_KEY or builder option client_key)"
                } else {
                    "the client certificate (OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE or builder \
                     option client_certificate)"
                };
                return Err(ConfigError::TlsIncomplete {
                    given: given.from.clone(),
                    missing: missing.to_owned(),
                });
            }
        };
        Ok(TlsMaterial {
            roots,
            roots_pem,
            identity,
        })
    }
}

fn read(file: &TlsFile, expected: &str) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(&file.path).map_err(|e| invalid(file, format!("cannot read it: {e}"), expected))
}

fn read_certificates(
    file: &TlsFile,
) -> Result<(Vec<CertificateDer<'static>>, Vec<u8>), ConfigError> {
    let pem = read(file, CERT_EXPECTED)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(file, format!("it is not valid PEM ({e})"), CERT_EXPECTED))?;
    if certs.is_empty() {
        return Err(invalid(
            file,
            "it holds no certificate".to_owned(),
            CERT_EXPECTED,
        ));
    }
    Ok((certs, pem))
}

fn invalid(file: &TlsFile, reason: String, expected: &str) -> ConfigError {
    ConfigError::TlsFile {
        from: file.from.clone(),
        path: file.path.clone(),
        reason,
        expected: expected.to_owned(),
    }
}
