//! The page served at `/`.

/// Until the browser client lands (its own issue), `/` serves a short self-contained page
/// that says how to connect; it loads nothing from elsewhere.
pub(crate) const HTML: &str = include_str!("page.html");
