//! What the runtime tells the core about connections, beyond their frames: a join's
//! request, why a connection went, and which WebSocket rule a frame broke.

use crate::auth::Signed;
use crate::line::Rendering;
use std::net::IpAddr;
use std::time::Duration;

/// What a new connection asks for: all optional, from the `/chat` query and subprotocol.
#[derive(Clone, Copy, Debug, Default)]
pub struct Join<'a> {
    /// The `name` query parameter.
    pub name: Option<&'a str>,
    /// The `room` query parameter.
    pub room: Option<&'a str>,
    /// JSON if the client asked for `chat.v1.json`, else text.
    pub rendering: Option<Rendering>,
    /// The `since` query parameter: replay the lines after this id instead of the history.
    pub since: Option<&'a str>,
    /// The client's address, for the per-address limits (`None`: none apply).
    pub addr: Option<IpAddr>,
    /// What the client's token says, once the runtime has verified it (`None`: no token).
    pub signed: Option<&'a Signed>,
}

/// A valid `since`: 1 to 19 decimal digits (leading zeros allowed, no sign), at most
/// 2^63 − 1.
pub(crate) fn since_id(value: &str) -> Option<u64> {
    let digits = (1..=19).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit());
    let id: u64 = value.parse().ok().filter(|_| digits)?;
    (id <= i64::MAX as u64).then_some(id)
}

/// Why [`Chat::handle_join`](crate::Chat::handle_join) refused a connection. The runtime
/// answers HTTP 503 (or closes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    /// `max_connections` are connected already.
    #[error("the chat is full ({0} connections)")]
    Full(usize),
    /// [`Chat::handle_shutdown`](crate::Chat::handle_shutdown) was called.
    #[error("the chat is shutting down")]
    ShuttingDown,
    /// The address holds `max_connections_per_ip` connections already (HTTP 429).
    #[error("too many connections from this address ({0})")]
    TooManyFromAddress(usize),
    /// The address opens connections faster than `connect_rate` (HTTP 429); it may try
    /// again after this long.
    #[error("connecting too fast")]
    TooFast(Duration),
    /// In a cluster, the broker cannot be reached (HTTP 503 with `Retry-After`).
    #[error("the chat is reconnecting")]
    Reconnecting,
}

/// Why the runtime says a connection has gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LeaveReason {
    /// The client closed the connection, or its stream ended.
    Closed,
    /// The client read too slowly and its outbound queue overflowed.
    Slow,
    /// The connection failed (reset, I/O or protocol error below the chat).
    Error,
}

/// A breach of the WebSocket rules that the runtime found while reading a frame.
///
/// The runtime's WebSocket layer is the one place that checks a frame's size (against
/// [`Config::max_frame_bytes`](crate::Config::max_frame_bytes)) and a text frame's UTF-8:
/// only frames that pass reach [`Chat::handle_text`](crate::Chat::handle_text), and a
/// breach comes here for the core to decide the close.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Violation {
    /// A frame or message over the size limit (closed with 1009).
    TooBig,
    /// A text frame that is not UTF-8 (closed with 1007).
    InvalidUtf8,
    /// Any other breach of RFC 6455: a reserved bit, an unmasked client frame, a control
    /// frame over 125 bytes, a bad opcode or close code (closed with 1002).
    Protocol,
}
