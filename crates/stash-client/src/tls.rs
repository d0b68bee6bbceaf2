//! Trust for a Stash served over HTTPS with its own certificate (`stash.crt` in its
//! configuration folder, or `ssl_cert_path` in its `config.yml`), for the connection back to
//! Stash only.
//!
//! Stash's certificate is usually self-signed, often marked as a CA (OpenSSL's default), and
//! names no address the plugin connects to (Stash says `0.0.0.0`, reached as `127.0.0.1`):
//! a certificate authority's rules would refuse it three times over. So the certificate Stash
//! keeps is pinned: a server presenting exactly it is Stash. Any other certificate must chain
//! to it (a `stash.crt` holding a whole chain) and name the host, as usual.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The largest certificate file read.
const MAX_CERT_BYTES: u64 = 1 << 20;

/// Where Stash keeps its certificate, given its configuration folder: `ssl_cert_path` in
/// `config.yml` if set, else `stash.crt` beside it (`internal/manager/config/config.go`,
/// `InitTLS`). `None` if neither is there.
pub(crate) fn certificate_path(dir: &Path) -> Option<PathBuf> {
    let configured = std::fs::read_to_string(dir.join("config.yml"))
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let value = line.strip_prefix("ssl_cert_path:")?.trim();
                let value = value.trim_matches(|c| c == '"' || c == '\'');
                (!value.is_empty()).then(|| PathBuf::from(value))
            })
        });
    configured
        .or_else(|| Some(dir.join("stash.crt")))
        .filter(|p| p.is_file())
}

/// A TLS configuration that trusts the certificates in `pem` for Stash, as described above;
/// the message says what is wrong with the file otherwise.
pub(crate) fn config(pem: &[u8]) -> Result<rustls::ClientConfig, String> {
    let pinned: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("it is not a PEM certificate file ({e})"))?;
    if pinned.is_empty() {
        return Err("it holds no certificate".into());
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = RootCertStore::empty();
    // A certificate that cannot serve as a root is still pinned.
    let _ = roots.add_parsable_certificates(pinned.iter().cloned());
    let chained = if roots.is_empty() {
        None
    } else {
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .ok()
    };
    let verifier = Pinned {
        pinned,
        chained,
        provider: provider.clone(),
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

#[derive(Debug)]
struct Pinned {
    pinned: Vec<CertificateDer<'static>>,
    chained: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self
            .pinned
            .iter()
            .any(|c| c.as_ref() == end_entity.as_ref())
        {
            return Ok(ServerCertVerified::assertion());
        }
        match &self.chained {
            Some(chained) => chained.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
            None => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Reads the certificate file, refusing anything but a small regular file.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() || meta.len() > MAX_CERT_BYTES {
        return Err("it is not a certificate file".into());
    }
    std::fs::read(path).map_err(|e| e.to_string())
}
