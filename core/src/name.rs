//! User and room names: what is valid, and how they compare.

/// The longest user name.
pub const MAX_NAME_LEN: usize = 24;
/// The longest room name.
pub const MAX_ROOM_LEN: usize = 32;

/// Whether `name` may be a user name: 1–24 ASCII letters, digits, `_` or `-`, and not one
/// that could make an action read like a notice (`you`, digits only, …: see `forgery`).
pub fn is_valid_name(name: &str) -> bool {
    is_word(name, MAX_NAME_LEN) && !crate::forgery::is_reserved_name(name)
}

/// Whether `room` may be a room name: 1–32 ASCII letters, digits, `_` or `-` (no `#`).
pub fn is_valid_room(room: &str) -> bool {
    is_word(room, MAX_ROOM_LEN)
}

fn is_word(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The key under which a name is unique: names differ only if they differ ignoring ASCII case.
pub fn key(name: &str) -> Box<str> {
    name.to_ascii_lowercase().into_boxed_str()
}

/// Turns what a user typed for a room (`#Rust`, `rust`) into the room's name (`rust`).
///
/// Rooms are case-insensitive like IRC channels; their one spelling is lower case.
/// Returns `None` when the name is not valid.
pub fn room_name(typed: &str) -> Option<Box<str>> {
    let bare = typed.strip_prefix('#').unwrap_or(typed);
    is_valid_room(bare).then(|| key(bare))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_valid_name("a"));
        assert!(is_valid_name("Bob_the-2nd"));
        assert!(is_valid_name(&"x".repeat(24)));
        assert!(!is_valid_name(&"x".repeat(25)));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("bob smith"));
        assert!(!is_valid_name("bøb"));
        assert!(!is_valid_name("#bob"));
    }

    #[test]
    fn rooms() {
        assert_eq!(room_name("#Rust").as_deref(), Some("rust"));
        assert_eq!(room_name("main").as_deref(), Some("main"));
        assert_eq!(room_name(&"r".repeat(32)).map(|r| r.len()), Some(32));
        assert_eq!(room_name(&"r".repeat(33)), None);
        assert_eq!(room_name("#"), None);
        assert_eq!(room_name("##a"), None);
        assert_eq!(room_name("a b"), None);
    }
}
