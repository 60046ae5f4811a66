//! [`Client`]: what the chat decides about one connection's text frames on its own, before
//! the shared [`Chat`](crate::Chat) sees them.
//!
//! A blank frame, one over `--max-message-bytes` or over `--max-lines`, and one its token
//! bucket cannot pay for concern nobody but its sender: the runtime keeps a `Client` for
//! each connection and answers those frames with it, without touching the shared chat (a
//! flood of refused frames costs its own connection's task, not everyone's). What passes
//! goes on as [`Lines`], which only a `Client` can make, so the chat never sees a frame
//! that skipped these rules.

use crate::command::{self, Command, Request};
use crate::config::Config;
use crate::line::{Line, Problem, Rendering};
use crate::payload::Payload;
use crate::rate::TokenBucket;
use crate::text;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The `! slow down` notice goes out at most this often.
const SLOW_NOTICE_EVERY: Duration = Duration::from_secs(1);

/// One connection's own side of the chat: its line limits and its token bucket.
///
/// Made by [`Chat::handle_join`](crate::Chat::handle_join) (with the bucket the connection
/// inherits from its address) and kept by the runtime with the connection: feed it every
/// text frame ([`handle_text`](Self::handle_text)) and give what passes to
/// [`Chat::handle_text`](crate::Chat::handle_text).
#[derive(Debug)]
pub struct Client {
    rules: Arc<Rules>,
    bucket: TokenBucket,
    /// When the last `! slow down` went out.
    slowed_at: Option<Instant>,
    rendering: Rendering,
}

/// The part of [`Config`] a [`Client`] applies, shared by all of them.
#[derive(Debug)]
pub(crate) struct Rules {
    max_message_bytes: usize,
    max_lines: usize,
    rate: f64,
    burst: u32,
}

impl Rules {
    pub(crate) fn new(config: &Config) -> Self {
        Rules {
            max_message_bytes: config.max_message_bytes,
            max_lines: config.max_lines,
            rate: config.rate,
            burst: config.burst,
        }
    }
}

/// What a text frame comes to at its [`Client`].
#[derive(Debug)]
pub enum Said<'a> {
    /// For the chat: give them to [`Chat::handle_text`](crate::Chat::handle_text).
    Lines(Lines<'a>),
    /// Refused: this line goes to the client alone, after what it has been sent so far.
    Refused(Payload),
    /// Nothing to do: a blank frame, or one refused for its rate within a second of the
    /// last `! slow down`.
    Nothing,
}

/// A frame's lines, cleaned, within the limits and paid for.
#[derive(Debug)]
pub struct Lines<'a> {
    pub(crate) lines: Vec<Cow<'a, str>>,
    /// The bucket after paying: what the connection's address inherits when it goes.
    pub(crate) bucket: TokenBucket,
}

impl Client {
    pub(crate) fn new(rules: Arc<Rules>, bucket: TokenBucket, rendering: Rendering) -> Self {
        Client {
            rules,
            bucket,
            slowed_at: None,
            rendering,
        }
    }

    /// A text frame arrived (the runtime's WebSocket layer has checked its size and UTF-8).
    ///
    /// A frame is split into lines; every line costs one token of the rate limit (a command
    /// without text costs one), and a frame that cannot pay for all its lines is dropped
    /// whole, with `! slow down` at most once a second.
    pub fn handle_text<'a>(&mut self, frame: &'a str, now: Instant) -> Said<'a> {
        if text::is_blank(frame) {
            return Said::Nothing;
        }
        let rules = &*self.rules;
        if frame.len() > rules.max_message_bytes {
            return self.refuse(Problem::MessageTooLong(rules.max_message_bytes));
        }
        let lines: Vec<Cow<'a, str>> = text::lines(frame).map(text::sanitize).collect();
        if lines.len() > rules.max_lines {
            return self.refuse(Problem::TooManyLines(rules.max_lines));
        }
        let cost = match command::parse(&lines[0]) {
            Request::Say(_) | Request::Command(Command::Me(_) | Command::Whisper(..)) => {
                lines.len()
            }
            Request::Command(_) => 1,
        };
        let cost = u32::try_from(cost).unwrap_or(u32::MAX);
        if self.bucket.take(cost, rules.rate, rules.burst, now) {
            let bucket = self.bucket.clone();
            return Said::Lines(Lines { lines, bucket });
        }
        let quiet = (self.slowed_at)
            .is_some_and(|at| now.saturating_duration_since(at) < SLOW_NOTICE_EVERY);
        if quiet {
            return Said::Nothing;
        }
        self.slowed_at = Some(now);
        self.refuse(Problem::SlowDown(rules.rate))
    }

    fn refuse(&self, problem: Problem<'_>) -> Said<'static> {
        match Line::Error(problem).render(self.rendering) {
            Some(payload) => Said::Refused(payload),
            None => Said::Nothing,
        }
    }
}
