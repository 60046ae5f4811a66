//! Blocking connections to Redis: [`Broker`] runs the changes, [`Events`] reads the stream.
//!
//! Blocking on purpose: the server runs them on threads of their own (as it runs the
//! store's writer), so the tokio, async-std and smol binaries share one implementation and
//! the stream's long blocking read never meets a client-side response timeout.

use crate::event::{Entry, Event, Lease, Present, Snapshot};
use crate::proposal::{Answer, Proposal};
use redis::{FromRedisValue, RedisError, ToRedisArgs, Value};
use std::fmt;
use std::time::Duration;

/// The functions, loaded (replacing any older version) at every connection: a Redis that
/// restarted empty has lost them with everything else.
const LIBRARY: &str = include_str!("chat.lua");

/// Events kept in the stream (approximately: Redis trims whole blocks). A node further
/// behind than this has missed events and must join afresh.
pub const STREAM_LENGTH: u64 = 100_000;

/// A connection of one node: `NODE/CONN` in Redis.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Member {
    pub node: String,
    pub conn: u64,
}

impl Member {
    pub(crate) fn parse(s: &str) -> Option<Member> {
        let (node, conn) = s.rsplit_once('/')?;
        Some(Member {
            node: node.to_string(),
            conn: conn.parse().ok()?,
        })
    }
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.node, self.conn)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Redis could not be reached, or refused a command.
    #[error("redis: {0}")]
    Redis(#[from] RedisError),
    /// Redis answered something this version does not understand.
    #[error("redis answered {0}")]
    Unexpected(String),
    #[error("redis answered: {0}")]
    Parse(#[from] redis::ParsingError),
}

/// A line of a room's history, as Redis keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub id: u64,
    pub name: String,
    pub text: String,
    pub action: bool,
    pub ts: u64,
}

fn connect(url: &str, timeout: Duration) -> Result<redis::Connection, Error> {
    let client = redis::Client::open(url)?;
    let con = client.get_connection_with_timeout(timeout)?;
    con.set_write_timeout(Some(timeout))?;
    Ok(con)
}

/// One node's connection for changes to the shared state.
pub struct Broker {
    con: redis::Connection,
    prefix: String,
}

impl Broker {
    /// Connects and loads the functions. `timeout` bounds the connection and every command.
    pub fn connect(url: &str, prefix: &str, timeout: Duration) -> Result<Broker, Error> {
        let mut con = connect(url, timeout)?;
        con.set_read_timeout(Some(timeout))?;
        redis::cmd("FUNCTION")
            .arg("LOAD")
            .arg("REPLACE")
            .arg(LIBRARY)
            .query::<String>(&mut con)?;
        Ok(Broker {
            con,
            prefix: prefix.to_string(),
        })
    }

    /// Calls one of `chat.lua`'s functions with the prefix and stream length first.
    fn call<T: FromRedisValue>(
        &mut self,
        function: &str,
        args: impl ToRedisArgs,
    ) -> Result<T, Error> {
        Ok(redis::cmd("FCALL")
            .arg(function)
            .arg(0)
            .arg(&self.prefix)
            .arg(STREAM_LENGTH)
            .arg(args)
            .query(&mut self.con)?)
    }

    /// Runs `proposals` in one pipeline (one round trip), in order; their answers in the
    /// same order. `floor`: the highest line id the node has seen; `retain`: lines a room
    /// keeps. An error means the connection failed: which of them ran is unknown.
    pub fn run(
        &mut self,
        proposals: &[Proposal],
        floor: u64,
        retain: u64,
    ) -> Result<Vec<Answer>, Error> {
        let mut pipe = redis::pipe();
        for p in proposals {
            pipe.add_command(p.command(&self.prefix, floor, retain));
        }
        let replies: Vec<Value> = pipe.query(&mut self.con)?;
        if replies.len() != proposals.len() {
            return Err(Error::Unexpected(format!(
                "{} replies to {} calls",
                replies.len(),
                proposals.len()
            )));
        }
        proposals
            .iter()
            .zip(replies)
            .map(|(p, r)| p.answer(r))
            .collect()
    }

    /// Runs one proposal.
    pub fn run_one(
        &mut self,
        proposal: &Proposal,
        floor: u64,
        retain: u64,
    ) -> Result<Answer, Error> {
        let reply: Value = proposal
            .command(&self.prefix, floor, retain)
            .query(&mut self.con)?;
        proposal.answer(reply)
    }

    /// Renews (or takes) the node's lease for `ttl`; `known_epoch` is the epoch the node's
    /// state belongs to (`None` before its first registration).
    pub fn lease(
        &mut self,
        node: &str,
        ttl: Duration,
        known_epoch: Option<&str>,
    ) -> Result<Lease, Error> {
        let (status, epoch, _now): (String, String, u64) = self.call(
            "chat_lease",
            (node, ttl.as_millis() as u64, known_epoch.unwrap_or("")),
        )?;
        Ok(match status.as_str() {
            "ok" => Lease::Held { epoch },
            "new" => Lease::New { epoch },
            "lost" => Lease::Lost,
            other => return Err(Error::Unexpected(format!("lease status {other:?}"))),
        })
    }

    /// Gives up every node whose lease has ended; how many there were.
    pub fn reap(&mut self) -> Result<u64, Error> {
        self.call("chat_reap", Vec::<String>::new())
    }

    /// A heartbeat through the stream.
    pub fn beat(&mut self, node: &str) -> Result<String, Error> {
        self.call("chat_beat", node)
    }

    /// The latest `limit` lines of `room` with `after < id <= upto`, oldest first, and how
    /// many more of that range Redis still holds (a subtraction of the lines' `k` counts,
    /// so a long range costs no more than a short one).
    pub fn fetch(
        &mut self,
        room: &str,
        (after, upto): (u64, u64),
        limit: usize,
    ) -> Result<(Vec<Kept>, u64), Error> {
        if upto <= after || limit == 0 {
            return Ok((Vec::new(), 0));
        }
        let key = format!("{}:h:{room}", self.prefix);
        let newest: Vec<(String, Vec<(String, String)>)> = redis::cmd("XREVRANGE")
            .arg(&key)
            .arg(format!("{upto}-1"))
            .arg(format!("{}-0", after + 1))
            .arg("COUNT")
            .arg(limit)
            .query(&mut self.con)?;
        let mut lines = newest
            .into_iter()
            .rev()
            .map(|(id, fields)| kept(&id, &fields))
            .collect::<Result<Vec<(Kept, u64)>, Error>>()?;
        let older = match lines.first() {
            Some((_, k)) if lines.len() == limit => {
                let first: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
                    .arg(&key)
                    .arg(format!("{}-0", after + 1))
                    .arg("+")
                    .arg("COUNT")
                    .arg(1)
                    .query(&mut self.con)?;
                match first.first() {
                    Some((id, fields)) => k.saturating_sub(kept(id, fields)?.1),
                    None => 0,
                }
            }
            _ => 0,
        };
        Ok((lines.drain(..).map(|(k, _)| k).collect(), older))
    }

    /// The whole shared state at one point of the stream (see [`Snapshot`]).
    pub fn snapshot(&mut self) -> Result<Snapshot, Error> {
        let reply: Vec<String> = self.call("chat_snapshot", Vec::<String>::new())?;
        let bad = || Error::Unexpected("a snapshot".to_string());
        let mut fields = reply.into_iter();
        let mut next = || fields.next().ok_or_else(bad);
        let epoch = next()?;
        let seq = next()?.parse().map_err(|_| bad())?;
        let after = next()?;
        let line = next()?.parse().map_err(|_| bad())?;
        let mut members = Vec::new();
        while let Ok(member) = next() {
            let entry = next()?;
            let mut parts = entry.split('\n');
            let (Some(member), Some(room), Some(name), _, quiet) = (
                Member::parse(&member),
                parts.next(),
                parts.next(),
                parts.next(),
                parts.next(),
            ) else {
                return Err(bad());
            };
            members.push(Present {
                member,
                room: room.to_string(),
                name: name.to_string(),
                quiet: quiet == Some("1"),
            });
        }
        members.sort_by(|a, b| a.member.cmp(&b.member));
        Ok(Snapshot {
            epoch,
            seq,
            after,
            line,
            members,
        })
    }

    /// The id of the stream's newest event ("0-0" when empty): where a new node starts
    /// reading.
    pub fn newest_event(&mut self) -> Result<String, Error> {
        newest(&mut self.con, &format!("{}:events", self.prefix))
    }
}

/// A history entry and its `k` (0 for entries kept before `k` was).
fn kept(id: &str, fields: &[(String, String)]) -> Result<(Kept, u64), Error> {
    let get = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone());
    let kept = (|| {
        Some(Kept {
            id: id.split('-').next()?.parse().ok()?,
            name: get("n")?,
            text: get("x")?,
            action: get("a").as_deref() == Some("1"),
            ts: get("ts")?.parse().ok()?,
        })
    })();
    let k = get("k").and_then(|k| k.parse().ok()).unwrap_or(0);
    kept.map(|kept| (kept, k))
        .ok_or_else(|| Error::Unexpected(format!("history entry {id}")))
}

fn newest(con: &mut redis::Connection, key: &str) -> Result<String, Error> {
    let newest: Vec<(String, Vec<(String, String)>)> = redis::cmd("XREVRANGE")
        .arg(key)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query(con)?;
    Ok(newest
        .into_iter()
        .next()
        .map_or_else(|| "0-0".to_string(), |(id, _)| id))
}

/// The blocking read of the stream, after a given event, on a connection of its own.
pub struct Events {
    con: redis::Connection,
    key: String,
    after: String,
    block: Duration,
}

impl Events {
    /// Reads events after `after` (a stream id, "0-0" for all), waiting up to `block` for
    /// each batch.
    /// `after` may be `$`: the newest event now (unlike XREAD's `$`, it is resolved once,
    /// so that a reconnection misses nothing).
    pub fn open(url: &str, prefix: &str, after: &str, block: Duration) -> Result<Events, Error> {
        let mut con = connect(url, block)?;
        // The read blocks up to `block` on the server's side: give the answer time to come.
        con.set_read_timeout(Some(block + Duration::from_secs(2)))?;
        let key = format!("{prefix}:events");
        let after = if after == "$" {
            newest(&mut con, &key)?
        } else {
            after.to_string()
        };
        Ok(Events {
            con,
            key,
            after,
            block,
        })
    }

    /// The next entries (at most 1,000); empty when none came within the block time.
    pub fn next_batch(&mut self) -> Result<Vec<Entry>, Error> {
        type Reply = Option<Vec<(String, Vec<(String, Vec<(String, String)>)>)>>;
        let reply: Reply = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(1000)
            .arg("BLOCK")
            .arg(self.block.as_millis() as u64)
            .arg("STREAMS")
            .arg(&self.key)
            .arg(&self.after)
            .query(&mut self.con)?;
        let entries: Vec<Entry> = reply
            .into_iter()
            .flatten()
            .flat_map(|(_, entries)| entries)
            .map(|(id, fields)| {
                let get = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str());
                Entry {
                    epoch: get("ep").unwrap_or_default().to_string(),
                    seq: get("seq").and_then(|s| s.parse().ok()).unwrap_or(0),
                    event: Event::parse(&fields),
                    id,
                }
            })
            .collect();
        if let Some(last) = entries.last() {
            self.after = last.id.clone();
        }
        Ok(entries)
    }

    /// The id of the last event read.
    pub fn after(&self) -> &str {
        &self.after
    }
}
