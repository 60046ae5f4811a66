//! One rendered server line, shared by all of its recipients.

use bytes::Bytes;
use std::fmt;

/// The bytes of one server frame: valid UTF-8, one line, never containing `\n` or `\r`.
///
/// Cloning is a reference-count increment, so a line broadcast to 10,000 members is
/// rendered once and costs each recipient a pointer copy.
#[derive(Clone, PartialEq, Eq)]
pub struct Payload(Bytes);

impl Payload {
    /// The line as text.
    pub fn as_str(&self) -> &str {
        // SAFETY: a `Payload` is only ever built from a `String` (see `From<String>`), so its
        // bytes are valid UTF-8, and `Bytes` never changes its contents.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The raw bytes, e.g. to build a WebSocket text frame without copying.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// Gives up the shared buffer; the bytes are valid UTF-8.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the line is empty (the core never emits an empty line).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Payload {
    fn from(line: String) -> Self {
        debug_assert!(
            !line.contains(['\n', '\r']),
            "a payload is one line: {line:?}"
        );
        Payload(Bytes::from(line))
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
