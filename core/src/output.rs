//! What the core asks its runtime to do, and the ids and close reasons in it.

use crate::line::Rendering;
use crate::payload::Payload;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// Identifies one connection for its whole life. Never reused by a [`Chat`](crate::Chat).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub(crate) u64);

impl ConnId {
    /// Its number: how a cluster's broker names the connection (with its node's id).
    pub fn number(self) -> u64 {
        self.0
    }

    /// The connection numbered `n` on its node (in a cluster, members of other nodes are
    /// named by their node's numbers).
    pub fn numbered(n: u64) -> ConnId {
        ConnId(n)
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn{}", self.0)
    }
}

/// One thing for the runtime to do. Drain them with [`Chat::poll_output`](crate::Chat::poll_output).
#[must_use]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send this line as one WebSocket text frame.
    Send {
        /// The recipient.
        to: ConnId,
        /// The line, shared with every other recipient of it.
        payload: Payload,
    },
    /// Send this line to every connection reading `room` (see [`Output::Enter`]) but
    /// `except`: `text` to those that read text, `json` (when there is one) to those that
    /// read JSON. One output whatever the room's size: the runtime keeps each room's lines
    /// where every reader takes them in turn (the core's cost of a line does not grow with
    /// its room).
    Room {
        /// The room, as named in the `Enter` outputs of its readers.
        room: Arc<str>,
        /// The line as text.
        text: Payload,
        /// The line as JSON, present when someone in the room reads JSON.
        json: Option<Payload>,
        /// The one reader that does not receive it (the sender of a notice about itself).
        except: Option<ConnId>,
    },
    /// From now on `to` receives the [`Output::Room`] lines of `room` (`None`: of no room), in
    /// `rendering`. Its own lines ([`Output::Send`]) and its room's come to it in the order
    /// the core emitted them.
    Enter {
        /// The connection.
        to: ConnId,
        /// The room whose lines it reads now.
        room: Option<Arc<str>>,
        /// How it reads them.
        rendering: Rendering,
    },
    /// Send a WebSocket ping: the connection has been idle for the ping interval.
    Ping {
        /// The idle connection.
        to: ConnId,
    },
    /// Close the connection with `reason.code()`. The core has already forgotten it:
    /// nothing more will be addressed to it, and a later `handle_leave` for it is ignored.
    Close {
        /// The connection to close.
        to: ConnId,
        /// Why; gives the close code and reason text.
        reason: CloseReason,
    },
}

impl Output {
    /// The connection this output is for; `None` for a room's line, which is for its readers.
    pub fn to(&self) -> Option<ConnId> {
        match self {
            Output::Send { to, .. }
            | Output::Ping { to }
            | Output::Close { to, .. }
            | Output::Enter { to, .. } => Some(*to),
            Output::Room { .. } => None,
        }
    }
}

/// Why the core closes a connection; each has its WebSocket close code.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// The user typed `/quit` (1000).
    Quit,
    /// The server is shutting down (1001).
    Shutdown,
    /// No frame arrived within the ping timeout after a ping (1001).
    PingTimeout,
    /// A text frame was not valid UTF-8 (1007).
    InvalidUtf8,
    /// A frame was larger than the frame limit (1009).
    MessageTooBig,
    /// A frame broke the WebSocket protocol otherwise (1002).
    ProtocolError,
    /// The connection's history replay waited on the store for too long (1013): reconnect
    /// with `since` to get it.
    TryAgain,
    /// In a cluster, this node's state went stale while it was cut off (1012, service
    /// restart): reconnect (with `since`) to a node that has the chat as it is.
    Restart,
    /// A newer connection signed in with the same name (1008, `signed in elsewhere`).
    Elsewhere,
    /// An admin's `/kick`, with its reason if one was given (1008, `kicked[: REASON]`).
    Kicked(Option<Arc<str>>),
}

impl CloseReason {
    /// The WebSocket close code (RFC 6455, section 7.4.1).
    pub fn code(&self) -> u16 {
        match self {
            CloseReason::Quit => 1000,
            CloseReason::Shutdown | CloseReason::PingTimeout => 1001,
            CloseReason::InvalidUtf8 => 1007,
            CloseReason::MessageTooBig => 1009,
            CloseReason::ProtocolError => 1002,
            CloseReason::TryAgain => 1013,
            CloseReason::Restart => 1012,
            CloseReason::Elsewhere | CloseReason::Kicked(_) => 1008,
        }
    }

    /// The close frame's reason text, cut to its 123-byte limit.
    pub fn text(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            CloseReason::Quit => "bye",
            CloseReason::Shutdown => "server shutting down",
            CloseReason::PingTimeout => "ping timeout",
            CloseReason::InvalidUtf8 => "invalid UTF-8",
            CloseReason::MessageTooBig => "message too big",
            CloseReason::ProtocolError => "protocol error",
            CloseReason::TryAgain => "try again later",
            CloseReason::Restart => "service restart",
            CloseReason::Elsewhere => "signed in elsewhere",
            CloseReason::Kicked(None) => "kicked",
            CloseReason::Kicked(Some(why)) => {
                let mut text = format!("kicked: {why}");
                let mut end = text.len().min(123);
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                text.truncate(end);
                return Cow::Owned(text);
            }
        })
    }
}
