//! TLS (`--tls-cert`, `--tls-key`): the port speaks only HTTPS and WSS. One implementation
//! over the futures-io traits (futures-rustls), so every runtime shares it; the handshake
//! counts against the same 10 s as the HTTP request head.

use futures_rustls::rustls::pki_types::pem::PemObject;
use futures_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use futures_rustls::rustls::{self, ServerConfig};
use futures_rustls::TlsAcceptor;
use std::sync::Arc;

/// The certificate and key, ready to accept connections.
#[derive(Clone)]
pub struct Tls {
    pub(crate) acceptor: TlsAcceptor,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls(…)")
    }
}

impl Tls {
    /// Reads a PEM certificate chain and private key; the error names the file and the
    /// cause, for one line before exit status 2.
    pub fn load(cert: &str, key: &str) -> Result<Tls, String> {
        let read = |file: &str| std::fs::read(file).map_err(|e| format!("cannot read {file}: {e}"));
        let cert_pem = read(cert)?;
        let key_pem = read(key)?;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{cert} is not a PEM certificate: {e}"))?;
        if chain.is_empty() {
            return Err(format!("{cert} holds no PEM certificate"));
        }
        let key_der = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| format!("{key} is not a PEM private key: {e}"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_no_client_auth()
            .with_single_cert(chain, key_der)
            .map_err(|e| format!("{cert} and {key} do not make a certificate and its key: {e}"))?;
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }
}
