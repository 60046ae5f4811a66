//! The runtime's half of the fan-out, as a reference: who receives each room's lines.
//!
//! The core emits a room's line once ([`Output::Room`]) and says which room each connection
//! reads ([`Output::Enter`]). A runtime keeps each room's lines where its readers take them
//! in turn (the server's `feed` module); [`Feeds`] does the same one output at a time, for
//! tests and tools that want what every connection receives, in order.

use crate::line::Rendering;
use crate::output::{ConnId, Output};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Which room each connection reads, and the readers of each room.
#[derive(Debug, Default)]
pub struct Feeds {
    reading: BTreeMap<ConnId, (Arc<str>, Rendering)>,
    readers: BTreeMap<Arc<str>, BTreeSet<ConnId>>,
}

impl Feeds {
    /// No connection reads anything yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// What `output` comes to for each connection, in order: a room's line becomes one
    /// [`Output::Send`] per reader (in [`ConnId`] order), an `Enter` nothing; sends, pings
    /// and closes stay as they are (a close also ends its connection's reading).
    pub fn expand(&mut self, output: Output, mut each: impl FnMut(Output)) {
        match output {
            Output::Room {
                room,
                text,
                json,
                except,
            } => {
                let Some(readers) = self.readers.get(&room) else {
                    return;
                };
                for &to in readers.iter().filter(|&&to| Some(to) != except) {
                    let payload = match self.reading.get(&to).map(|r| r.1) {
                        Some(Rendering::Json) => json.clone(),
                        _ => Some(text.clone()),
                    };
                    if let Some(payload) = payload {
                        each(Output::Send { to, payload });
                    }
                }
            }
            Output::Enter {
                to,
                room,
                rendering,
            } => {
                self.stop(to);
                if let Some(room) = room {
                    self.readers.entry(room.clone()).or_default().insert(to);
                    self.reading.insert(to, (room, rendering));
                }
            }
            Output::Close { to, .. } => {
                self.stop(to);
                each(output);
            }
            other => each(other),
        }
    }

    /// The room `to` reads now, if any.
    pub fn room_of(&self, to: ConnId) -> Option<&str> {
        self.reading.get(&to).map(|r| &*r.0)
    }

    fn stop(&mut self, to: ConnId) {
        if let Some((room, _)) = self.reading.remove(&to) {
            if let Some(readers) = self.readers.get_mut(&room) {
                readers.remove(&to);
                if readers.is_empty() {
                    self.readers.remove(&room);
                }
            }
        }
    }
}
