//! The connection under the WebSocket: plain TCP for `ws://`, rustls over TCP for `wss://`
//! (trusting Mozilla's roots, or only the certificate of `--ca FILE`).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

/// What connecting needs besides the URL.
#[derive(Clone, Debug, Default)]
pub(crate) struct Dial {
    /// Sent as `Authorization: Bearer`, so that it appears in no URL.
    pub token: Option<String>,
    /// For `wss://`.
    pub tls: Option<Arc<ClientConfig>>,
}

impl Dial {
    /// The TLS settings: the roots to trust, from `ca` (PEM) or Mozilla's.
    pub(crate) fn tls(ca: Option<&str>) -> Result<Arc<ClientConfig>, String> {
        let mut roots = RootCertStore::empty();
        match ca {
            Some(file) => {
                let pem = std::fs::read(file).map_err(|e| format!("cannot read {file}: {e}"))?;
                for cert in CertificateDer::pem_slice_iter(&pem) {
                    let cert = cert.map_err(|e| format!("{file} is not a PEM certificate: {e}"))?;
                    roots
                        .add(cert)
                        .map_err(|e| format!("{file}: not a usable certificate: {e}"))?;
                }
                if roots.is_empty() {
                    return Err(format!("{file} holds no PEM certificate"));
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }
}

/// A TCP connection, with TLS on it or not.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    /// TLS on `tcp` for `host`, when the dial has TLS settings.
    pub(crate) fn new(tcp: TcpStream, host: &str, dial: &Dial) -> Result<Stream, String> {
        let Some(config) = &dial.tls else {
            return Ok(Stream::Plain(tcp));
        };
        let name = ServerName::try_from(host.trim_matches(['[', ']']).to_string())
            .map_err(|e| format!("{host}: not a TLS server name: {e}"))?;
        let conn = ClientConnection::new(config.clone(), name).map_err(|e| e.to_string())?;
        Ok(Stream::Tls(Box::new(StreamOwned::new(conn, tcp))))
    }

    /// The TCP connection underneath, for its timeouts.
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}
