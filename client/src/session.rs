//! The connection loop: show what arrives, send what is typed, end cleanly.

use crate::input::{self, Input};
use chat_core::text::sanitize;
use std::io::ErrorKind;
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::mpsc::{self, TryRecvError};
use std::time::{Duration, Instant};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};
use url::Url;

/// How often the loop looks at the keyboard while waiting for the socket.
const TICK: Duration = Duration::from_millis(20);
/// After end of input, the session closes once the server has been quiet this long…
const QUIET: Duration = Duration::from_millis(300);
/// …or this long after end of input at the latest.
const DRAIN_AT_MOST: Duration = Duration::from_secs(3);
/// How long to wait for the server's answer to our close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Connects and chats until the session ends.
pub(crate) fn run(url: &Url) -> Result<ExitCode, String> {
    let mut ws = connect(url)?;
    let _terminal = TerminalMode::save();
    let (tx, keyboard) = mpsc::channel();
    let mut screen = input::start(tx);
    let mut ended_input: Option<Instant> = None;
    let mut last_heard = Instant::now();
    loop {
        match ws.read() {
            Ok(Message::Text(text)) => {
                screen.show(&sanitize(&text));
                last_heard = Instant::now();
            }
            Ok(Message::Close(frame)) => return Ok(closed_by_server(frame.as_ref())),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                eprintln!("* the server closed the connection");
                return Ok(ExitCode::from(1));
            }
            Err(e) => {
                eprintln!("* connection lost: {e}");
                return Ok(ExitCode::from(1));
            }
        }
        loop {
            match keyboard.try_recv() {
                Ok(Input::Line(line)) if line.trim() == "exit" => return Ok(close(&mut ws)),
                Ok(Input::Line(line)) if line.trim().is_empty() => {}
                Ok(Input::Line(line)) => {
                    if let Err(e) = ws.send(Message::text(line)) {
                        eprintln!("* connection lost: {e}");
                        return Ok(ExitCode::from(1));
                    }
                }
                Ok(Input::End) | Err(TryRecvError::Disconnected) => {
                    ended_input.get_or_insert_with(Instant::now);
                    break;
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        // After end of input, wait for the answers to what was sent, then close.
        if let Some(ended) = ended_input {
            if last_heard.elapsed() >= QUIET || ended.elapsed() >= DRAIN_AT_MOST {
                return Ok(close(&mut ws));
            }
        }
    }
}

fn connect(url: &Url) -> Result<WebSocket<TcpStream>, String> {
    let addrs = url
        .socket_addrs(|| Some(80))
        .map_err(|e| format!("cannot resolve {url}: {e}"))?;
    let mut last_error = format!("no address for {url}");
    let stream = addrs.iter().find_map(|addr| {
        match TcpStream::connect_timeout(addr, Duration::from_secs(10)) {
            Ok(stream) => Some(stream),
            Err(e) => {
                last_error = format!("cannot connect to {addr}: {e}");
                None
            }
        }
    });
    let stream = stream.ok_or(last_error)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let (ws, _) = tungstenite::client(url.as_str(), stream).map_err(|e| match e {
        tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response)) => {
            format!("the server refused the chat: HTTP {}", response.status())
        }
        e => format!("WebSocket handshake with {url} failed: {e}"),
    })?;
    ws.get_ref()
        .set_read_timeout(Some(TICK))
        .map_err(|e| e.to_string())?;
    Ok(ws)
}

/// Says why the server ended the session; 1000 is a normal end.
fn closed_by_server(frame: Option<&CloseFrame>) -> ExitCode {
    match frame {
        Some(f) => {
            let code = u16::from(f.code);
            eprintln!(
                "* disconnected by the server: {code} {}",
                sanitize(&f.reason)
            );
            if code == 1000 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        None => {
            eprintln!("* disconnected by the server");
            ExitCode::from(1)
        }
    }
}

/// Closes with 1000 and waits (briefly) for the server's answer.
fn close(ws: &mut WebSocket<TcpStream>) -> ExitCode {
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    };
    if ws.close(Some(frame)).is_err() {
        return ExitCode::SUCCESS; // already gone: nothing more to close
    }
    let deadline = Instant::now() + CLOSE_WAIT;
    while Instant::now() < deadline {
        match ws.read() {
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                let _ = ws.flush();
            }
            Err(_) => break, // the close handshake is complete
        }
    }
    ExitCode::SUCCESS
}

/// The terminal's mode at start, put back when the session ends: the line editor may still
/// be mid-edit (in raw mode) when the server ends the session.
struct TerminalMode {
    #[cfg(unix)]
    saved: Option<nix::sys::termios::Termios>,
}

impl TerminalMode {
    fn save() -> Self {
        TerminalMode {
            #[cfg(unix)]
            saved: nix::sys::termios::tcgetattr(std::io::stdin()).ok(),
        }
    }
}

impl Drop for TerminalMode {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(saved) = &self.saved {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                saved,
            );
        }
    }
}
