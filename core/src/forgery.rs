//! No line a user can cause is byte-identical to a line the server sends.
//!
//! A user causes `[NAME]: TEXT`, `[FROM -> TO]: TEXT` and `* NAME TEXT` (`/me`). Every
//! server notice and answer in text begins `* `, so only an action could pass for one:
//! `* NAME joined`, `* NAME left`, `* OLD is now known as NEW`, `* NAME was kicked by ADMIN`
//! (an action's text), `* you are NAME in #ROOM`, `* users in #ROOM (N): …`,
//! `* N earlier lines skipped`, `* the chat is reconnecting` (a name that is a notice's first
//! word: `rooms:` and `commands:` are not valid names anyway). Both halves are refused:
//! such names are invalid, such actions get `! invalid action: TEXT`. JSON needs none of
//! this: its `type` tells the lines apart.

/// Names that would let an action read like a notice (case-insensitively), and names of
/// digits only (`* 5 earlier lines skipped`).
const RESERVED_NAMES: &[&str] = &["you", "users", "the", "rooms", "commands"];

/// Action texts (after `* NAME `) that are the rest of a notice about NAME.
const NOTICE_ENDINGS: &[&str] = &["joined", "left"];
const NOTICE_STARTS: &[&str] = &["is now known as ", "was kicked by "];

/// Whether a well-formed name is kept from users because an action of it could read like a
/// notice.
pub(crate) fn is_reserved_name(name: &str) -> bool {
    name.bytes().all(|b| b.is_ascii_digit())
        || RESERVED_NAMES.iter().any(|r| r.eq_ignore_ascii_case(name))
}

/// Whether `* NAME text` would read like a notice about NAME.
pub(crate) fn action_reads_like_notice(text: &str) -> bool {
    NOTICE_ENDINGS.contains(&text) || NOTICE_STARTS.iter().any(|s| text.starts_with(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_names_and_notice_actions() {
        for name in [
            "you", "YOU", "Users", "the", "5", "0042", "rooms", "commands",
        ] {
            assert!(is_reserved_name(name), "{name}");
        }
        for name in ["youth", "user1", "theo", "5a"] {
            assert!(!is_reserved_name(name), "{name}");
        }
        for text in [
            "joined",
            "left",
            "is now known as bob",
            "was kicked by admin",
        ] {
            assert!(action_reads_like_notice(text), "{text}");
        }
        for text in ["joined us", "left early", "is now known", "waves"] {
            assert!(!action_reads_like_notice(text), "{text}");
        }
    }
}
