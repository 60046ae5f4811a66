//! The page served at `/`.

/// The browser client: one self-contained page (inline CSS and JavaScript, nothing loaded
/// from elsewhere) that speaks the `chat.v1.json` rendering and shows all text as text.
pub(crate) const HTML: &str = include_str!("page.html");

/// The page's security headers: nothing from elsewhere (its script and style are inline),
/// connections only to its own origin (the chat's WebSocket among them), no framing, no
/// sniffing, no referrer.
pub(crate) const HEADERS: &str = "Content-Security-Policy: default-src 'none'; \
    script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; \
    connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n\
    X-Content-Type-Options: nosniff\r\n\
    X-Frame-Options: DENY\r\n\
    Referrer-Policy: no-referrer\r\n";
