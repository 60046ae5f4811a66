//! Connecting: loopback only, spread over source addresses, with a raised fd limit.

use async_tungstenite::tokio::TokioAdapter;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::WebSocketStream;
use futures_util::StreamExt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::net::{TcpSocket, TcpStream};

pub type Ws = WebSocketStream<TokioAdapter<TcpStream>>;

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
    let url = format!("ws://{addr}{path}");
    let (mut ws, _) =
        async_tungstenite::client_async_with_config(url, TokioAdapter::new(stream), Some(config))
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
