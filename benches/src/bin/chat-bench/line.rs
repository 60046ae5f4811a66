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
///
/// This runs once per delivery in the tool, so it scans bytes instead of building string
/// searchers: the name cannot contain `]`, so the first `]` ends it.
pub fn decode(line: &str) -> Option<Stamp> {
    let bytes = line.as_bytes();
    let close = bytes.iter().position(|&b| b == b']')?;
    let rest = bytes.get(close + 1..)?.strip_prefix(b": b")?;
    let mut numbers = rest.split(|&b| b == b' ');
    Some(Stamp {
        sender: number(numbers.next()?)? as u32,
        seq: number(numbers.next()?)? as u32,
        sent_ns: number(numbers.next()?)?,
    })
}

fn number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
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
        assert_eq!(decode("[user7]: b1 x 3 "), None);
        assert_eq!(
            decode("[a]: b1 2 3 pad"),
            Some(Stamp {
                sender: 1,
                seq: 2,
                sent_ns: 3
            })
        );
    }
}
