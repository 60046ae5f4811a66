//! Parsing the first line of a frame into a chat command.

/// What the first line of a frame asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Request<'a> {
    /// Ordinary text to say in the room (a leading `//` already turned into `/`).
    Say(&'a str),
    /// A command, starting with `/`.
    Command(Command<'a>),
}

/// A slash command and its arguments, as typed (not yet validated).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command<'a> {
    /// `/nick NAME`, `/name NAME`: everything after the command, `None` when empty.
    Nick(Option<&'a str>),
    /// `/whisper NAME TEXT`, `/w`, `/msg`; the text may be empty here (and continue on
    /// the frame's further lines).
    Whisper(Option<&'a str>, &'a str),
    /// `/me TEXT`; the text may be empty here.
    Me(&'a str),
    /// `/users`, `/who`, `/list`.
    Users,
    /// `/join ROOM`: everything after the command, `None` when empty.
    Join(Option<&'a str>),
    /// `/rooms`.
    Rooms,
    /// `/quit [REASON]`.
    Quit,
    /// `/help`.
    Help,
    /// `/kick NAME [REASON]`: the name, `None` when missing, and the reason (may be empty).
    Kick(Option<&'a str>, &'a str),
    /// Anything else: the word as typed, with its `/`.
    Unknown(&'a str),
}

/// The one-line summary of every command, as `/help` lists it, and whether only admins
/// may use it (and see it listed).
pub(crate) const HELP: [(&str, bool); 9] = [
    ("/nick NAME", false),
    ("/whisper NAME TEXT", false),
    ("/me TEXT", false),
    ("/users", false),
    ("/join ROOM", false),
    ("/rooms", false),
    ("/kick NAME [REASON]", true),
    ("/quit [REASON]", false),
    ("/help", false),
];

/// Parses one line: text, or a command if it starts with a single `/`.
pub(crate) fn parse(line: &str) -> Request<'_> {
    let Some(rest) = line.strip_prefix('/') else {
        return Request::Say(line);
    };
    if rest.starts_with('/') {
        return Request::Say(rest);
    }
    // The command word starts right after the `/`: `/ nick` is the unknown command `/`.
    let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let (word, args) = (&rest[..word_end], rest[word_end..].trim_start());
    let command = match word.to_ascii_lowercase().as_str() {
        "nick" | "name" => Command::Nick(whole(args)),
        "whisper" | "w" | "msg" => {
            let (to, text) = split_word(args);
            Command::Whisper((!to.is_empty()).then_some(to), text)
        }
        "me" => Command::Me(args),
        "users" | "who" | "list" => Command::Users,
        "join" => Command::Join(whole(args)),
        "rooms" => Command::Rooms,
        "quit" => Command::Quit,
        "help" => Command::Help,
        "kick" => {
            let (name, reason) = split_word(args);
            Command::Kick((!name.is_empty()).then_some(name), reason.trim_end())
        }
        _ => Command::Unknown(&line[..word.len() + 1]),
    };
    Request::Command(command)
}

/// Splits off the first word; the rest has its leading white space removed.
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

/// The whole argument, so that `/nick two words` is refused rather than half taken.
fn whole(s: &str) -> Option<&str> {
    let s = s.trim();
    (!s.is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Command::*;

    fn cmd(line: &str) -> Command<'_> {
        match parse(line) {
            Request::Command(c) => c,
            Request::Say(t) => panic!("{line:?} parsed as text {t:?}"),
        }
    }

    #[test]
    fn text_and_escapes() {
        assert_eq!(parse("hello"), Request::Say("hello"));
        assert_eq!(parse("//me is text"), Request::Say("/me is text"));
        assert_eq!(parse(" /me"), Request::Say(" /me"));
    }

    #[test]
    fn commands_and_aliases() {
        assert_eq!(cmd("/nick bob"), Nick(Some("bob")));
        assert_eq!(cmd("/NAME  bob extra "), Nick(Some("bob extra")));
        assert_eq!(cmd("/nick"), Nick(None));
        assert_eq!(cmd("/w bob  hi  there"), Whisper(Some("bob"), "hi  there"));
        assert_eq!(cmd("/msg bob"), Whisper(Some("bob"), ""));
        assert_eq!(cmd("/Whisper"), Whisper(None, ""));
        assert_eq!(cmd("/me waves"), Me("waves"));
        assert_eq!(cmd("/who"), Users);
        assert_eq!(cmd("/LIST"), Users);
        assert_eq!(cmd("/join #rust"), Join(Some("#rust")));
        assert_eq!(cmd("/join"), Join(None));
        assert_eq!(cmd("/rooms"), Rooms);
        assert_eq!(cmd("/quit see you"), Quit);
        assert_eq!(cmd("/help"), Help);
        assert_eq!(
            cmd("/kick bob  spam, twice "),
            Kick(Some("bob"), "spam, twice")
        );
        assert_eq!(cmd("/kick"), Kick(None, ""));
        assert_eq!(cmd("/dance now"), Unknown("/dance"));
        assert_eq!(cmd("/"), Unknown("/"));
        assert_eq!(cmd("/\tx"), Unknown("/"));
        assert_eq!(cmd("/ nick bob"), Unknown("/"));
        assert_eq!(cmd("/é x"), Unknown("/é"));
    }
}
