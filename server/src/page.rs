//! The page served at `/`.

/// The browser client: one self-contained page (inline CSS and JavaScript, nothing loaded
/// from elsewhere) that speaks the `chat.v1.json` rendering and shows all text as text.
pub(crate) const HTML: &str = include_str!("page.html");
