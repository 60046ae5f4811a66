//! What the core does to text from clients before anyone sees it.

use std::borrow::Cow;

/// Replaces every control character but tab (C0, DEL, C1), and the invisible characters
/// that reorder or hide text (bidirectional controls, zero-width characters, line and
/// paragraph separators), with U+FFFD.
///
/// This is what keeps a line from forging another line (`\r`, U+2028), driving a terminal
/// (`ESC [`) or showing other than what it holds (U+202E reverses what follows). Borrowed
/// when there is nothing to replace, which is the common case.
pub fn sanitize(line: &str) -> Cow<'_, str> {
    if !line.chars().any(is_forbidden) {
        return Cow::Borrowed(line);
    }
    Cow::Owned(
        line.chars()
            .map(|c| if is_forbidden(c) { '\u{FFFD}' } else { c })
            .collect(),
    )
}

fn is_forbidden(c: char) -> bool {
    // `char::is_control` is exactly the Cc category: U+0000–U+001F, U+007F–U+009F.
    (c.is_control() && c != '\t')
        || matches!(c,
            '\u{200B}'..='\u{200F}' // zero-width space, joiners, LRM/RLM
            | '\u{2028}' | '\u{2029}' // line and paragraph separators
            | '\u{202A}'..='\u{202E}' // bidirectional embeddings and overrides
            | '\u{2060}' // word joiner
            | '\u{2066}'..='\u{2069}' // bidirectional isolates
            | '\u{FEFF}') // zero-width no-break space
}

/// Whether text is empty or only white space (such frames and lines are ignored).
pub fn is_blank(text: &str) -> bool {
    text.trim().is_empty()
}

/// The non-blank lines of a frame, split at `\n` with a `\r` before it removed.
pub fn lines(frame: &str) -> impl Iterator<Item = &str> {
    frame
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !is_blank(l))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_replaced_but_tab_is_kept() {
        assert_eq!(sanitize("a\tb"), "a\tb");
        assert!(matches!(sanitize("plain"), Cow::Borrowed(_)));
        assert_eq!(sanitize("\u{1b}[31mred"), "\u{FFFD}[31mred");
        assert_eq!(sanitize("a\rb"), "a\u{FFFD}b");
        assert_eq!(sanitize("\u{7f}\u{85}\u{9f}\u{0}"), "\u{FFFD}".repeat(4));
        assert_eq!(sanitize("é – 漢字 🙂"), "é – 漢字 🙂");
        for c in [
            '\u{200B}', '\u{200F}', '\u{2028}', '\u{2029}', '\u{202A}', '\u{202E}', '\u{2060}',
            '\u{2066}', '\u{2069}', '\u{FEFF}',
        ] {
            assert_eq!(sanitize(&format!("a{c}b")), "a\u{FFFD}b", "{:X}", c as u32);
        }
        assert_eq!(
            sanitize("\u{2010}\u{2030}"),
            "\u{2010}\u{2030}",
            "neighbours are kept"
        );
    }

    #[test]
    fn lines_split_on_lf_and_crlf_and_skip_blank_ones() {
        let got: Vec<_> = lines("one\r\ntwo\n\n  \nthree\r\n").collect();
        assert_eq!(got, ["one", "two", "three"]);
        assert_eq!(lines(" \n\t").count(), 0);
        assert_eq!(lines("a\rb").collect::<Vec<_>>(), ["a\rb"]);
    }
}
