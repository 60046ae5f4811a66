//! Signed names: what a verified token says of its holder, and what it lets them do.
//!
//! The runtime verifies the token (its signature, `exp` and `nbf`); the core decides what
//! a signed user, an admin or a guest may do: exactly the token's name, taking it over from
//! an older connection; private rooms by grant; `/kick` for admins; guests get automatic
//! names and cannot choose one.

use std::collections::BTreeSet;
use std::sync::Arc;

/// A verified token's claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    /// `sub`: the holder's name, valid and not of the automatic form.
    pub name: Arc<str>,
    /// `admin`: may `/kick`.
    pub admin: bool,
    /// `rooms`: the private rooms granted.
    pub rooms: Grant,
}

/// The private rooms a token grants.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Grant {
    /// None.
    #[default]
    None,
    /// `"*"`: every one.
    All,
    /// These, by their room names.
    Rooms(BTreeSet<Box<str>>),
}

impl Grant {
    /// Whether the grant lets its holder into `room` (a room's name, already normalised).
    pub fn allows(&self, room: &str) -> bool {
        match self {
            Grant::None => false,
            Grant::All => true,
            Grant::Rooms(rooms) => rooms.contains(room),
        }
    }
}

/// Whether `name` has the automatic form (`user` and digits), which no token may claim.
pub fn is_automatic(name: &str) -> bool {
    let digits = name
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("user"))
        .map(|_| &name[4..]);
    digits.is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automatic_names_and_grants() {
        assert!(is_automatic("user0") && is_automatic("User12"));
        assert!(!is_automatic("user") && !is_automatic("users") && !is_automatic("alice"));
        assert!(!is_automatic("user1a"));
        let some = Grant::Rooms(["ops".into()].into_iter().collect());
        assert!(some.allows("ops") && !some.allows("dev"));
        assert!(Grant::All.allows("dev") && !Grant::None.allows("dev"));
    }
}
