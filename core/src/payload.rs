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
    ///
    /// Checks the UTF-8 it is built from (a `String`, see `From<String>`): fine for logs and
    /// tests; the hot path copies [`as_bytes`](Self::as_bytes) into its frame instead.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a payload is built from a String")
    }

    /// The line's bytes. They are valid UTF-8 (a `Payload` is only ever built from a
    /// `String`), so a runtime may frame them as a text frame without checking.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
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
