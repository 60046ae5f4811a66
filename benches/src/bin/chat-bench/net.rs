//! Connecting: loopback only, spread over source addresses, with a raised fd limit.

use async_tungstenite::tokio::TokioAdapter;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::WebSocketStream;
use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_rustls::rustls::pki_types::ServerName;
use futures_rustls::TlsConnector;
use futures_util::StreamExt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::{TcpSocket, TcpStream};

pub type Ws = WebSocketStream<Conn>;

/// With `--tls-ca`: every connection speaks TLS (wss), trusting that certificate.
static TLS: OnceLock<TlsConnector> = OnceLock::new();

/// Turns TLS on for every connection, trusting only the PEM certificate in `ca`.
pub fn use_tls(ca: &str) -> Result<(), String> {
    use futures_rustls::rustls::pki_types::pem::PemObject;
    use futures_rustls::rustls::pki_types::CertificateDer;
    use futures_rustls::rustls::{self, ClientConfig, RootCertStore};
    let pem = std::fs::read(ca).map_err(|e| format!("cannot read {ca}: {e}"))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots
            .add(cert.map_err(|e| format!("{ca}: {e}"))?)
            .map_err(|e| format!("{ca}: {e}"))?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let _ = TLS.set(TlsConnector::from(std::sync::Arc::new(config)));
    Ok(())
}

/// A connection under the WebSocket: plain TCP, or TLS on it.
pub enum Conn {
    Plain(TokioAdapter<TcpStream>),
    Tls(Box<futures_rustls::client::TlsStream<TokioAdapter<TcpStream>>>),
}

/// The connection to use over `stream`: TLS when `--tls-ca` turned it on.
pub async fn wrap(stream: TcpStream) -> Result<Conn, String> {
    let stream = TokioAdapter::new(stream);
    match TLS.get() {
        None => Ok(Conn::Plain(stream)),
        Some(tls) => {
            let name = ServerName::try_from("127.0.0.1").expect("an IP address is a name");
            let tls = tls
                .connect(name, stream)
                .await
                .map_err(|e| format!("tls: {e}"))?;
            Ok(Conn::Tls(Box::new(tls)))
        }
    }
}

/// `ws://` or `wss://`, as the connections speak.
pub fn scheme() -> &'static str {
    if TLS.get().is_some() {
        "wss"
    } else {
        "ws"
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_close(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_close(cx),
        }
    }
}

/// Raises the open-file limit as far as the machine allows; returns the new soft limit.
pub fn raise_fd_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024)
}

/// The source address for the `i`-th connection: 127.0.0.1, .2, … up to `sources`; `None`
/// with one source, so the kernel picks address and port at connect time.
pub fn source(i: usize, sources: u8) -> Option<Ipv4Addr> {
    (sources > 1).then(|| Ipv4Addr::new(127, 0, 0, 1 + (i % sources as usize) as u8))
}

/// Binds to `from` but leaves the port to `connect`, which picks it knowing the destination
/// (and may reuse TIME_WAIT ports on loopback); a plain `bind(ip:0)` searches the whole port
/// range for every connection and fails once TIME_WAIT sockets fill it.
fn bind_source(socket: &TcpSocket, from: Ipv4Addr) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor, and a c_int option value of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    socket.bind(SocketAddr::new(IpAddr::V4(from), 0))
}

/// Refuses anything but loopback: this tool must never load another machine.
pub fn check_loopback(addr: SocketAddr) -> Result<(), String> {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_loopback() => Ok(()),
        IpAddr::V6(ip) if ip.is_loopback() => Ok(()),
        ip => Err(format!(
            "{ip} is not a loopback address; chat-bench only loads 127.0.0.0/8 or ::1"
        )),
    }
}

/// Opens one WebSocket and waits for the server's first line (the greeting). Returns the
/// stream and the time from the first SYN to the greeting.
pub async fn connect(
    addr: SocketAddr,
    path: &str,
    from: Option<Ipv4Addr>,
) -> Result<(Ws, Duration), String> {
    let started = Instant::now();
    let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
    if let Some(from) = from {
        bind_source(&socket, from).map_err(|e| format!("bind {from}: {e}"))?;
    }
    let stream = socket
        .connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let config = WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .write_buffer_size(0);
    let url = format!("{}://{addr}{path}", scheme());
    let (mut ws, _) =
        async_tungstenite::client_async_with_config(url, wrap(stream).await?, Some(config))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(_))) => return Ok((ws, started.elapsed())),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(format!("greeting: {e}")),
            None => return Err("closed before the greeting".into()),
        }
    }
}
