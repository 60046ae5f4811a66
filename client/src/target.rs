//! The URL to connect to, checked and completed with the `name` and `room` parameters.

use crate::ConnectArgs;
use url::Url;

/// Parses and checks the URL; `--name` and `--room` become query parameters.
pub(crate) fn url(args: &ConnectArgs) -> Result<Url, String> {
    let mut url = Url::parse(&args.url).map_err(|e| format!("not a URL: {:?}: {e}", args.url))?;
    match url.scheme() {
        "ws" | "wss" => {}
        other => {
            return Err(format!(
                "{url}: expected a ws:// or wss:// URL, not {other}://"
            ))
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{url}: no host"));
    }
    for (key, value) in [("name", &args.name), ("room", &args.room)] {
        if let Some(value) = value {
            url.query_pairs_mut().append_pair(key, value);
        }
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(url: &str, name: Option<&str>, room: Option<&str>) -> ConnectArgs {
        ConnectArgs {
            url: url.into(),
            name: name.map(Into::into),
            room: room.map(Into::into),
            reconnect_for: 0.0,
            token: None,
            ca: None,
        }
    }

    #[test]
    fn name_and_room_become_parameters() {
        let u = url(&args("ws://127.0.0.1:9/chat", Some("bob b"), Some("#rust"))).unwrap();
        assert_eq!(u.as_str(), "ws://127.0.0.1:9/chat?name=bob+b&room=%23rust");
    }

    #[test]
    fn bad_urls_are_refused() {
        assert!(url(&args("not a url", None, None)).is_err());
        assert!(url(&args("http://x/chat", None, None))
            .unwrap_err()
            .contains("ws://"));
        assert!(url(&args("wss://x/chat", None, None)).is_ok());
        assert!(url(&args("ws://", None, None)).is_err());
    }
}
