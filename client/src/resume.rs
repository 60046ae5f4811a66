//! What the client remembers so that a reconnect misses nothing: who it is, where, and the
//! id of the last line it showed; and how long it waits between attempts.

use serde_json::Value;
use std::time::Duration;
use url::Url;

/// The session as the server last described it.
#[derive(Debug)]
pub(crate) struct Resume {
    /// The URL as given, without the parameters the client sets itself.
    base: Url,
    name: Option<String>,
    room: Option<String>,
    /// The id of the last chat line or action shown in `room`.
    last_id: Option<u64>,
}

impl Resume {
    pub(crate) fn new(url: &Url) -> Self {
        let param = |key: &str| {
            url.query_pairs()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.into_owned())
        };
        let mut base = url.clone();
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| !matches!(&**k, "name" | "room" | "since"))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        base.set_query(None);
        if !kept.is_empty() {
            base.query_pairs_mut().extend_pairs(kept);
        }
        Resume {
            base,
            name: param("name"),
            room: param("room"),
            last_id: param("since").and_then(|s| s.parse().ok()),
        }
    }

    /// The URL to connect to now: the same name and room, and `since` the last line shown.
    pub(crate) fn url(&self) -> Url {
        let mut url = self.base.clone();
        {
            let mut q = url.query_pairs_mut();
            if let Some(name) = &self.name {
                q.append_pair("name", name);
            }
            if let Some(room) = &self.room {
                q.append_pair("room", room);
            }
            if let Some(id) = self.last_id {
                q.append_pair("since", &id.to_string());
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        url
    }

    /// Learns from one JSON line. `resumed` is set for the welcome of a reconnect, after
    /// which the replay continues from the last id (in the same room).
    pub(crate) fn observe(&mut self, line: &Value, resumed: bool) {
        let s = |key: &str| line.get(key).and_then(Value::as_str).map(str::to_string);
        match line.get("type").and_then(Value::as_str) {
            Some("welcome") => {
                let room = s("room");
                if !(resumed && room == self.room) {
                    self.last_id = None; // another room: its history replays in full
                }
                self.name = s("you");
                self.room = room;
            }
            Some("message" | "action") => {
                if let Some(id) = line.get("id").and_then(Value::as_u64) {
                    self.last_id = Some(id);
                }
            }
            Some("rename") if s("from") == self.name => self.name = s("to"),
            _ => {}
        }
    }

    /// Whether a line was shown already: a replay at or below the last id.
    pub(crate) fn seen(&self, line: &Value) -> bool {
        let id = line.get("id").and_then(Value::as_u64);
        matches!((id, self.last_id), (Some(id), Some(last)) if id <= last)
    }
}

/// The wait before reconnect attempt `n` (0, 1, …): 0.5 s doubling up to 8 s, plus up to a
/// quarter more so that many clients of one server do not come back all at once.
pub(crate) fn backoff(n: u32, jitter: f64) -> Duration {
    let base = 0.5 * 2f64.powi(n.min(4) as i32);
    Duration::from_secs_f64(base * (1.0 + 0.25 * jitter.clamp(0.0, 1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_reconnect_asks_for_the_same_name_room_and_what_came_after_the_last_line() {
        let url = Url::parse("ws://h:1/chat?name=ann&x=1").unwrap();
        let mut r = Resume::new(&url);
        assert_eq!(r.url().as_str(), "ws://h:1/chat?x=1&name=ann");
        r.observe(&json!({"type":"welcome","you":"ann2","room":"side"}), false);
        r.observe(&json!({"type":"message","id":7}), false);
        r.observe(&json!({"type":"rename","from":"ann2","to":"anna"}), false);
        assert_eq!(
            r.url().as_str(),
            "ws://h:1/chat?x=1&name=anna&room=side&since=7"
        );
        assert!(r.seen(&json!({"type":"message","id":7})));
        assert!(!r.seen(&json!({"type":"message","id":8})));
        // Back in the same room: the replay continues; in another, it starts afresh.
        r.observe(&json!({"type":"welcome","you":"anna","room":"side"}), true);
        assert_eq!(r.last_id, Some(7));
        r.observe(&json!({"type":"welcome","you":"anna","room":"main"}), false);
        assert_eq!(r.last_id, None);
    }

    #[test]
    fn backoff_doubles_to_eight_seconds() {
        let waits: Vec<f64> = (0..7).map(|n| backoff(n, 0.0).as_secs_f64()).collect();
        assert_eq!(waits, [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]);
        assert_eq!(backoff(0, 1.0), Duration::from_millis(625));
    }
}
