//! The connection loop: show what arrives, send what is typed, come back when the
//! connection drops, end cleanly.

use crate::input::{self, Input, Screen};
use crate::resume::{backoff, Resume};
use crate::stream::{Dial, Stream};
use chat_core::read_back::{self, Welcome};
use chat_core::text::sanitize;
use chat_core::Rendering;
use serde_json::Value;
use std::io::ErrorKind;
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;
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

/// How a connection ended.
enum Ended {
    /// The session is over, with this exit code.
    Exit(ExitCode),
    /// The connection dropped or the server went away: reconnect.
    Lost,
}

/// Connects and chats until the session ends, reconnecting (for at most `reconnect_for`
/// at a time) when the connection drops or the server goes away.
pub(crate) fn run(url: &Url, dial: &Dial, reconnect_for: Duration) -> Result<ExitCode, String> {
    let resume = Resume::new(url);
    let mut conn = connect(&resume.url(), dial)?;
    let _terminal = TerminalMode::save();
    let (tx, keyboard) = mpsc::channel();
    let mut session = Session {
        screen: input::start(tx),
        keyboard,
        resume,
        dial: dial.clone(),
        ended_input: None,
        typed: Vec::new(),
    };
    let mut reconnected = false;
    loop {
        if let Ended::Exit(code) = session.chat(&mut conn, reconnected) {
            return Ok(code);
        }
        if reconnect_for.is_zero() {
            return Ok(ExitCode::from(1));
        }
        match session.reconnect(reconnect_for) {
            Ok(new) => conn = new,
            Err(code) => return Ok(code),
        }
        reconnected = true;
    }
}

/// The keyboard, the screen, and what the client remembers across connections.
struct Session {
    screen: Screen,
    keyboard: Receiver<Input>,
    resume: Resume,
    dial: Dial,
    ended_input: Option<Instant>,
    /// Lines typed while reconnecting, sent once connected again.
    typed: Vec<String>,
}

impl Session {
    /// One connection: shows what arrives (each JSON line as its text line), sends what is
    /// typed. `reconnected` replaces the greeting by one `* reconnected` line.
    fn chat(&mut self, conn: &mut Connected, reconnected: bool) -> Ended {
        let (ws, json) = (&mut conn.ws, conn.json);
        let mut welcomed = false;
        let mut last_heard = Instant::now();
        for line in std::mem::take(&mut self.typed) {
            if ws.send(Message::text(line)).is_err() {
                return Ended::Lost;
            }
        }
        loop {
            match ws.read() {
                Ok(Message::Text(text)) if json => {
                    self.show(&text, reconnected, &mut welcomed);
                    last_heard = Instant::now();
                }
                Ok(Message::Text(text)) => {
                    self.screen.show(&sanitize(&text));
                    last_heard = Instant::now();
                }
                Ok(Message::Close(frame)) => return closed_by_server(frame.as_ref()),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    eprintln!("* the server closed the connection");
                    return Ended::Lost;
                }
                Err(e) => {
                    eprintln!("* connection lost: {e}");
                    return Ended::Lost;
                }
            }
            loop {
                match self.keyboard.try_recv() {
                    Ok(Input::Line(line)) if line.trim() == "exit" => {
                        return Ended::Exit(close(ws))
                    }
                    Ok(Input::Line(line)) if line.trim().is_empty() => {}
                    Ok(Input::Line(line)) => {
                        if let Err(e) = ws.send(Message::text(line)) {
                            eprintln!("* connection lost: {e}");
                            return Ended::Lost;
                        }
                    }
                    Ok(Input::End) | Err(TryRecvError::Disconnected) => {
                        self.ended_input.get_or_insert_with(Instant::now);
                        break;
                    }
                    Err(TryRecvError::Empty) => break,
                }
            }
            // After end of input, wait for the answers to what was sent, then close.
            if let Some(ended) = self.ended_input {
                if last_heard.elapsed() >= QUIET || ended.elapsed() >= DRAIN_AT_MOST {
                    return Ended::Exit(close(ws));
                }
            }
        }
    }

    /// Shows one server line as text, once, and remembers what it says.
    fn show(&mut self, text: &str, reconnected: bool, welcomed: &mut bool) {
        let Ok(json) = serde_json::from_str::<Value>(text) else {
            return self.screen.show(&sanitize(text)); // not a JSON line: show it as it is
        };
        let is_welcome = json.get("type").and_then(Value::as_str) == Some("welcome");
        let first_welcome = is_welcome && !*welcomed;
        *welcomed |= is_welcome;
        if self.resume.seen(&json) {
            return;
        }
        self.resume.observe(&json, first_welcome && reconnected);
        if first_welcome && reconnected {
            let where_ = read_back::as_text(text, Welcome::Joined).unwrap_or_default();
            let you = where_.first().map_or("", |l| l.trim_start_matches("* "));
            eprintln!("* reconnected: {}", sanitize(you));
            return;
        }
        let welcome = if first_welcome {
            Welcome::Connected
        } else {
            Welcome::Joined
        };
        match read_back::as_text(text, welcome) {
            Some(lines) => lines.iter().for_each(|l| self.screen.show(&sanitize(l))),
            None => self.screen.show(&sanitize(text)),
        }
    }

    /// Tries again, with backoff, until connected or `patience` has passed without success.
    /// `exit` or the end of input meanwhile ends the session.
    fn reconnect(&mut self, patience: Duration) -> Result<Connected, ExitCode> {
        let started = Instant::now();
        for attempt in 0.. {
            let wake = Instant::now() + backoff(attempt, jitter());
            while Instant::now() < wake {
                match self.keyboard.recv_timeout(TICK) {
                    Ok(Input::Line(line)) if line.trim() == "exit" => {
                        return Err(ExitCode::SUCCESS)
                    }
                    Ok(Input::Line(line)) if line.trim().is_empty() => {}
                    Ok(Input::Line(line)) => self.typed.push(line),
                    Ok(Input::End) | Err(RecvTimeoutError::Disconnected) => {
                        return Err(ExitCode::SUCCESS)
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                }
            }
            match connect(&self.resume.url(), &self.dial) {
                Ok(ws) => return Ok(ws),
                Err(e) if started.elapsed() >= patience => {
                    eprintln!("* gave up reconnecting: {e}");
                    return Err(ExitCode::from(1));
                }
                Err(_) => {}
            }
        }
        unreachable!("the attempts are endless")
    }
}

/// A number in [0, 1) that differs between clients and attempts.
fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    f64::from(nanos % 1000) / 1000.0
}

/// A connection, and whether it speaks JSON (a server of the tutorial's own may not offer
/// it: then lines are shown as they come, and a reconnect cannot ask for `since`).
struct Connected {
    ws: WebSocket<Stream>,
    json: bool,
}

/// Connects asking for JSON, or in text where the server does not offer it.
fn connect(url: &Url, dial: &Dial) -> Result<Connected, String> {
    match open(url, true, dial) {
        Err(Refused::NoSubprotocol) => open(url, false, dial),
        other => other,
    }
    .map_err(|e| match e {
        Refused::Other(e) => e,
        Refused::NoSubprotocol => format!("{url} refused every WebSocket subprotocol"),
    })
}

enum Refused {
    NoSubprotocol,
    Other(String),
}

impl From<String> for Refused {
    fn from(e: String) -> Self {
        Refused::Other(e)
    }
}

fn open(url: &Url, json: bool, dial: &Dial) -> Result<Connected, Refused> {
    let addrs = url
        .socket_addrs(|| Some(80))
        .map_err(|e| Refused::Other(format!("cannot resolve {url}: {e}")))?;
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
        .map_err(|e| Refused::Other(e.to_string()))?;
    let stream = Stream::new(stream, url.host_str().unwrap_or_default(), dial)?;
    // JSON, to learn each line's id (for `since`); it is shown as the text lines.
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| format!("not a WebSocket URL: {url}: {e}"))?;
    if json {
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(Rendering::JSON_SUBPROTOCOL),
        );
    }
    if let Some(token) = &dial.token {
        let bearer = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| Refused::Other("the token is not a valid header value".to_string()))?;
        request.headers_mut().insert("Authorization", bearer);
    }
    let (ws, _) = tungstenite::client(request, stream).map_err(|e| match e {
        tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response)) => {
            // A 401 says why in its body (`invalid token: expired`), never the token.
            let why = (response.body().as_deref())
                .map(|b| sanitize(&String::from_utf8_lossy(b)).trim().to_string())
                .filter(|b| !b.is_empty())
                .map_or(String::new(), |b| format!(": {b}"));
            Refused::Other(format!(
                "the server refused the chat: HTTP {}{why}",
                response.status()
            ))
        }
        tungstenite::HandshakeError::Failure(tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::SecWebSocketSubProtocolError(_),
        )) => Refused::NoSubprotocol,
        e => Refused::Other(format!("WebSocket handshake with {url} failed: {e}")),
    })?;
    ws.get_ref()
        .tcp()
        .set_read_timeout(Some(TICK))
        .map_err(|e| Refused::Other(e.to_string()))?;
    Ok(Connected { ws, json })
}

/// Says why the server ended the session: 1000 is a normal end; the server going away or
/// restarting (1001, 1012), an error on its side (1011) or a "try again later" (1013) are
/// worth a reconnect; anything else (1008 above all) means stop.
fn closed_by_server(frame: Option<&CloseFrame>) -> Ended {
    match frame {
        Some(f) => {
            let code = u16::from(f.code);
            eprintln!(
                "* disconnected by the server: {code} {}",
                sanitize(&f.reason)
            );
            match code {
                1000 => Ended::Exit(ExitCode::SUCCESS),
                1001 | 1011 | 1012 | 1013 => Ended::Lost,
                _ => Ended::Exit(ExitCode::from(1)),
            }
        }
        None => {
            eprintln!("* disconnected by the server");
            Ended::Lost
        }
    }
}

/// Closes with 1000 and waits (briefly) for the server's answer.
fn close(ws: &mut WebSocket<Stream>) -> ExitCode {
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
