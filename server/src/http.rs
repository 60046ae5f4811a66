//! The HTTP side of the one port: reading a request head, and the plain responses.

use futures_lite::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use std::io;

/// The most a request head may take; larger requests get 431.
pub(crate) const MAX_HEAD: usize = 8 * 1024;
const MAX_HEADERS: usize = 32;

/// The parts of a request the server looks at, owned so the buffer can be reused.
#[derive(Debug, Default)]
pub(crate) struct Request {
    pub method: String,
    /// The minor version of HTTP/1.x.
    pub version: u8,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The value of a header (names compare ignoring case); repeated headers are joined
    /// with `, ` as HTTP allows.
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }

    /// Whether a comma-separated header holds `token` (ignoring case).
    pub(crate) fn has_token(&self, name: &str, token: &str) -> bool {
        self.header(name)
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }
}

/// Why no request could be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The connection failed or closed early.
    Io(io::Error),
    /// Not HTTP: answer 400.
    Malformed,
    /// Head over [`MAX_HEAD`]: answer 431.
    TooLarge,
}

/// Reads one request head into `buf`. Returns it and how many bytes of `buf` it used; any
/// bytes after that are the start of the WebSocket stream.
pub(crate) async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> Result<(Request, usize), ReadError> {
    // Read straight into `buf`, and parse in a plain function: whatever lives across an
    // `.await` is part of the future, and a future is as large as its largest state.
    const CHUNK: usize = 1024;
    loop {
        if let Some(head) = parse(buf)? {
            return Ok(head);
        }
        if buf.len() >= MAX_HEAD {
            return Err(ReadError::TooLarge);
        }
        let filled = buf.len();
        buf.resize(filled + CHUNK, 0);
        let read = stream.read(&mut buf[filled..]).await;
        buf.truncate(filled + *read.as_ref().unwrap_or(&0));
        match read {
            Ok(0) => return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into())),
            Ok(_) => {}
            Err(e) => return Err(ReadError::Io(e)),
        }
    }
}

/// Parses a complete request head, or says that more bytes are needed (`None`).
fn parse(buf: &[u8]) -> Result<Option<(Request, usize)>, ReadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => {
            let target = req.path.unwrap_or("/");
            let (path, query) = target.split_once('?').unwrap_or((target, ""));
            let request = Request {
                method: req.method.unwrap_or("").to_string(),
                version: req.version.unwrap_or(0),
                path: path.to_string(),
                query: query.to_string(),
                headers: req
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_string(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect(),
            };
            Ok(Some((request, len)))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(ReadError::TooLarge),
        Err(_) => Err(ReadError::Malformed),
    }
}

/// Writes a complete response and flushes it. `extra` are more header lines, each ending in
/// `\r\n`.
pub(crate) async fn respond<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    content_type: &str,
    extra: &str,
    body: &[u8],
) -> io::Result<()> {
    respond_to(stream, true, status, content_type, extra, body).await
}

/// [`respond`], or for a `HEAD` request (`with_body` false) the same headers alone.
pub(crate) async fn respond_to<S: AsyncWrite + Unpin>(
    stream: &mut S,
    with_body: bool,
    status: u16,
    content_type: &str,
    extra: &str,
    body: &[u8],
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        reason(status),
        body.len()
    );
    // One write: over TLS one record, so that a client reading the head has the body too.
    let mut response = head.into_bytes();
    if with_body {
        response.extend_from_slice(body);
    }
    stream.write_all(&response).await?;
    stream.flush().await
}

/// Whether a `Sec-WebSocket-Key` is what RFC 6455 asks for: 16 bytes in base64 (22
/// characters of the alphabet, the last of them carrying no bits past the 16th byte, and
/// `==`).
pub(crate) fn is_websocket_key(key: &str) -> bool {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let Some(digits) = key.strip_suffix("==").map(str::as_bytes) else {
        return false;
    };
    let value = |b: &u8| ALPHABET.iter().position(|a| a == b);
    digits.len() == 22
        && digits.iter().all(|b| value(b).is_some())
        && value(&digits[21]).is_some_and(|v| v & 0b1111 == 0)
}

/// A short plain-text response whose body is the status line's reason.
pub(crate) async fn respond_status<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    extra: &str,
) -> io::Result<()> {
    let body = format!("{}\n", reason(status));
    respond(
        stream,
        status,
        "text/plain; charset=utf-8",
        extra,
        body.as_bytes(),
    )
    .await
}

fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        429 => "Too Many Requests",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod key_tests {
    use super::is_websocket_key;

    #[test]
    fn websocket_keys() {
        assert!(is_websocket_key("dGhlIHNhbXBsZSBub25jZQ==")); // RFC 6455's example
        assert!(!is_websocket_key("dGhlIHNhbXBsZSBub25jZR==")); // bits past 16 bytes
        assert!(!is_websocket_key("dGhlIHNhbXBsZSBub25jZQ")); // no padding
        assert!(!is_websocket_key("dGhlIHNhbXBsZSBub25jZQ=="[..20].trim()));
        assert!(!is_websocket_key("x"));
        assert!(!is_websocket_key("dGhlIHNhbXBsZSBub25j!Q=="));
        assert!(!is_websocket_key(""));
    }
}
