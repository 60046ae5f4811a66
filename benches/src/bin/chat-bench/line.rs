//! The lines the load tool sends: sender, sequence number and send time, padded to a size.

use std::fmt::Write;

/// A bench line as received back, from any server that renders `[name]: text`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub sender: u32,
    pub seq: u32,
    /// Nanoseconds since the run's start, when the line was sent.
    pub sent_ns: u64,
}

/// Renders `b{sender} {seq} {sent_ns} ` padded with `x` to `size` bytes (or longer, if the
/// numbers need it).
pub fn encode(stamp: Stamp, size: usize) -> String {
    let mut line = String::with_capacity(size.max(32));
    // Writing to a String cannot fail.
    let _ = write!(line, "b{} {} {} ", stamp.sender, stamp.seq, stamp.sent_ns);
    while line.len() < size {
        line.push('x');
    }
    line
}

/// Finds a bench line in a server line such as `[user3]: b1 42 123456 xxxx`.
pub fn decode(line: &str) -> Option<Stamp> {
    let text = &line[line.find("]: b")? + 4..];
    let mut parts = text.splitn(4, ' ');
    Some(Stamp {
        sender: parts.next()?.parse().ok()?,
        seq: parts.next()?.parse().ok()?,
        sent_ns: parts.next()?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let s = Stamp {
            sender: 3,
            seq: 99,
            sent_ns: 123_456_789,
        };
        let line = encode(s, 64);
        assert_eq!(line.len(), 64);
        assert_eq!(decode(&format!("[user7]: {line}")), Some(s));
        assert_eq!(decode("* user7 joined"), None);
        assert_eq!(decode("[user7]: hello"), None);
    }
}
