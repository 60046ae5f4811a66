//! Command-line flags and environment variables, turned into the core's `Config` and the
//! server's own settings.

use crate::auth::{Auth, Secret, SecretText};
pub use crate::cluster::ClusterSettings;
use crate::tls::Tls;
use chat_core::Config;
use clap::Parser;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The server's flags. Every flag can also be set by the environment variable shown;
/// `PORT` sets the port as in the tutorial. Defaults are those of `Config::default()`.
#[derive(Clone, Debug, Parser)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "CHAT_HOST", default_value = "0.0.0.0")]
    pub host: IpAddr,
    /// Port to listen on; 0 picks a free one. [default: $PORT, else 8080]
    #[arg(long, env = "CHAT_PORT")]
    pub port: Option<u16>,
    /// Chat lines kept per room and replayed to newcomers.
    #[arg(long, env = "CHAT_HISTORY", default_value_t = Config::default().history)]
    pub history: usize,
    /// Largest chat frame in bytes; longer ones are refused with an error line.
    #[arg(long, env = "CHAT_MAX_MESSAGE_BYTES", default_value_t = Config::default().max_message_bytes)]
    pub max_message_bytes: usize,
    /// Lines per second each connection may send; 0 means no limit.
    #[arg(long, env = "CHAT_RATE", default_value_t = Config::default().rate)]
    pub rate: f64,
    /// Lines a connection may send at once before the rate applies.
    #[arg(long, env = "CHAT_BURST", default_value_t = Config::default().burst)]
    pub burst: u32,
    /// Rooms larger than this get no join and leave notices.
    #[arg(long, env = "CHAT_ANNOUNCE_LIMIT", default_value_t = Config::default().announce_limit)]
    pub announce_limit: usize,
    /// Seconds without a frame before the server pings a client; 0 turns pings off.
    #[arg(long, env = "CHAT_PING_INTERVAL", default_value_t = Config::default().ping_interval.as_secs_f64(), value_parser = seconds)]
    pub ping_interval: f64,
    /// Seconds a pinged client has to send any frame before it is disconnected.
    #[arg(long, env = "CHAT_PING_TIMEOUT", default_value_t = Config::default().ping_timeout.as_secs_f64(), value_parser = seconds)]
    pub ping_timeout: f64,
    /// Lines a reconnecting client (`?since=ID`) gets replayed at most; the rest are
    /// announced as skipped.
    #[arg(long, env = "CHAT_RESUME_LIMIT", default_value_t = Config::default().resume_limit)]
    pub resume_limit: usize,
    /// Connections accepted at most; further upgrades get HTTP 503.
    #[arg(long, env = "CHAT_MAX_CONNECTIONS", default_value_t = Config::default().max_connections)]
    pub max_connections: usize,
    /// Bytes queued for one client before it counts as too slow and is disconnected.
    #[arg(long, env = "CHAT_OUTBOUND_QUEUE_BYTES", default_value_t = 1 << 20)]
    pub outbound_queue_bytes: usize,
    /// Origins allowed to open the chat from a browser, comma-separated; empty allows all.
    #[arg(long, env = "CHAT_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Connections one client address may hold at once (HTTP 429 beyond), and as many in the
    /// HTTP phase (closed beyond); 0 for no limit.
    #[arg(long, env = "CHAT_MAX_CONNECTIONS_PER_IP", default_value_t = Config::default().max_connections_per_ip)]
    pub max_connections_per_ip: usize,
    /// New connections per second per client address (HTTP 429 beyond the burst); a new
    /// connection also inherits its address's rate limit. 0 turns both off.
    #[arg(long, env = "CHAT_CONNECT_RATE", default_value_t = Config::default().connect_rate)]
    pub connect_rate: f64,
    /// New connections one address may open at once before --connect-rate applies.
    #[arg(long, env = "CHAT_CONNECT_BURST", default_value_t = Config::default().connect_burst)]
    pub connect_burst: u32,
    /// Bytes of history held in memory over all rooms; beyond it, quiet rooms' history is
    /// read back from the store when someone joins them.
    #[arg(long, env = "CHAT_HISTORY_MEMORY", default_value_t = Config::default().history_memory)]
    pub history_memory: usize,
    /// Reverse proxies whose X-Forwarded-For / Forwarded say who the client is,
    /// comma-separated ranges (10.0.0.0/8, ::1); from other peers those headers are ignored.
    #[arg(long, env = "CHAT_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
    /// Connections in the HTTP phase at most; further ones are closed at once.
    #[arg(long, env = "CHAT_MAX_HANDSHAKES", default_value_t = DEFAULT_MAX_HANDSHAKES)]
    pub max_handshakes: usize,
    /// Serve /metrics on this address (for example 127.0.0.1:9090) instead of the chat port.
    #[arg(long, env = "CHAT_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// The history's file (SQLite), created if missing; `:memory:` keeps it in memory only,
    /// forgotten at exit.
    #[arg(long, env = "CHAT_DB", default_value = DEFAULT_DB)]
    pub db: String,
    /// Lines the store keeps in all; the oldest go first. In a cluster: lines each room
    /// keeps in Redis.
    #[arg(long, env = "CHAT_RETAIN", default_value_t = DEFAULT_RETAIN)]
    pub retain: usize,
    /// Be a node of the cluster of every server on this Redis (redis://HOST:PORT[/DB]);
    /// the history then lives in Redis and --db is not used.
    #[arg(long, env = "CHAT_CLUSTER")]
    pub cluster: Option<String>,
    /// Every key in Redis under this prefix: several chats can share one Redis.
    #[arg(long, env = "CHAT_CLUSTER_PREFIX", default_value = "chat")]
    pub cluster_prefix: String,
    /// Seconds a node may be silent before the others give it up and its users leave.
    #[arg(long, env = "CHAT_NODE_TIMEOUT", default_value_t = 10.0, value_parser = seconds)]
    pub node_timeout: f64,
    /// Turn on signed names: tokens are HS256 JWTs signed with this secret; clients
    /// without one are guests with automatic names.
    #[arg(long, env = "CHAT_AUTH_SECRET", hide_env_values = true)]
    pub auth_secret: Option<SecretText>,
    /// Refuse connections without a token (HTTP 401), with --auth-secret.
    #[arg(long, env = "CHAT_AUTH_REQUIRED")]
    pub auth_required: bool,
    /// The TLS certificate chain (PEM); with --tls-key the port speaks only HTTPS and WSS.
    #[arg(long, env = "CHAT_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<String>,
    /// The TLS certificate's private key (PEM).
    #[arg(long, env = "CHAT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<String>,
    /// Rooms only a token's `rooms` claim lets in, comma-separated.
    #[arg(long, env = "CHAT_PRIVATE_ROOMS", value_delimiter = ',')]
    pub private_rooms: Vec<String>,
}

/// Where the history lives unless `--db` says otherwise: in the working directory.
pub const DEFAULT_DB: &str = "chat.db";
/// Connections in the HTTP phase at once unless `--max-handshakes` says otherwise.
pub const DEFAULT_MAX_HANDSHAKES: usize = 1000;
/// How many lines the store keeps unless `--retain` says otherwise.
pub const DEFAULT_RETAIN: usize = 1_000_000;

fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=86_400.0).contains(&v) => Ok(v),
        _ => Err(format!("expected seconds between 0 and 86400, got {s:?}")),
    }
}

/// Everything a server needs to run, from [`Args`] or built directly (tests, embedding).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The chat rules.
    pub chat: Config,
    /// Bytes queued for one client before it is disconnected as too slow.
    pub outbound_queue_bytes: usize,
    /// Allowed `Origin` values; empty allows any.
    pub allowed_origins: Vec<String>,
    /// Connections in the HTTP phase at most.
    pub max_handshakes: usize,
    /// Peers trusted to name the client (`--trusted-proxies`).
    pub trusted_proxies: Vec<crate::proxy::Cidr>,
    /// Where `/metrics` is served instead of the chat port, if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// The store's file, or `:memory:`.
    pub db: String,
    /// Lines the store keeps at most (in a cluster: per room, in Redis).
    pub retain: usize,
    /// The cluster this server is a node of, if any.
    pub cluster: Option<ClusterSettings>,
    /// Signed names, if on.
    pub auth: Option<Auth>,
    /// TLS, if on.
    pub tls: Option<Tls>,
}

impl Args {
    /// The settings these flags describe. `PORT` applies when `--port`/`CHAT_PORT` do not.
    pub fn settings(&self) -> Result<Settings, String> {
        let port = match self.port {
            Some(port) => port,
            None => match std::env::var("PORT") {
                Ok(p) => p
                    .parse()
                    .map_err(|_| format!("PORT must be a port number, got {p:?}"))?,
                Err(_) => 8080,
            },
        };
        if !self.rate.is_finite() || self.rate < 0.0 {
            return Err(format!("--rate must be 0 or more, got {}", self.rate));
        }
        if !self.connect_rate.is_finite() || self.connect_rate < 0.0 {
            let got = self.connect_rate;
            return Err(format!("--connect-rate must be 0 or more, got {got}"));
        }
        let defaults = Config::default();
        if self.max_message_bytes > defaults.max_frame_bytes {
            return Err(format!(
                "--max-message-bytes must be at most {} (the WebSocket frame limit), got {}",
                defaults.max_frame_bytes, self.max_message_bytes
            ));
        }
        let chat = Config {
            history: self.history,
            max_message_bytes: self.max_message_bytes,
            rate: self.rate,
            burst: self.burst,
            announce_limit: self.announce_limit,
            ping_interval: Duration::from_secs_f64(self.ping_interval),
            ping_timeout: Duration::from_secs_f64(self.ping_timeout),
            max_connections: self.max_connections,
            resume_limit: self.resume_limit,
            replay_bytes: self.outbound_queue_bytes / 2,
            max_connections_per_ip: self.max_connections_per_ip,
            connect_rate: self.connect_rate,
            connect_burst: self.connect_burst,
            history_memory: self.history_memory,
            signed_names: self.auth_secret.is_some(),
            private_rooms: (self.private_rooms.iter())
                .filter(|r| !r.trim().is_empty())
                .map(|r| {
                    chat_core::name::room_name(r.trim())
                        .ok_or_else(|| format!("--private-rooms: invalid room {:?}", r.trim()))
                })
                .collect::<Result<_, _>>()?,
            ..defaults
        };
        if self.auth_required && self.auth_secret.is_none() {
            return Err("--auth-required needs --auth-secret".to_string());
        }
        if self
            .auth_secret
            .as_ref()
            .is_some_and(|s| s.as_str().is_empty())
        {
            return Err("--auth-secret must not be empty".to_string());
        }
        Ok(Settings {
            listen: SocketAddr::new(self.host, port),
            chat,
            outbound_queue_bytes: self.outbound_queue_bytes,
            allowed_origins: self
                .allowed_origins
                .iter()
                .map(|o| o.trim().to_string())
                .filter(|o| !o.is_empty())
                .collect(),
            max_handshakes: self.max_handshakes,
            trusted_proxies: (self.trusted_proxies.iter())
                .filter(|c| !c.trim().is_empty())
                .map(|c| c.parse().map_err(|e| format!("--trusted-proxies: {e}")))
                .collect::<Result<_, _>>()?,
            metrics_listen: self.metrics_listen,
            db: self.db.clone(),
            retain: self.retain,
            cluster: match &self.cluster {
                None => None,
                Some(url) => Some(self.cluster_settings(url)?),
            },
            auth: self.auth_secret.as_ref().map(|secret| Auth {
                secret: Secret::new(secret.as_str()),
                required: self.auth_required,
            }),
            tls: match (&self.tls_cert, &self.tls_key) {
                (Some(cert), Some(key)) => Some(Tls::load(cert, key)?),
                _ => None,
            },
        })
    }

    /// `--cluster` and its companions, checked.
    fn cluster_settings(&self, url: &str) -> Result<ClusterSettings, String> {
        if !url.starts_with("redis://") {
            return Err(format!(
                "--cluster must be a redis://HOST:PORT[/DB] address, got {url:?}"
            ));
        }
        let prefix = self.cluster_prefix.trim();
        if prefix.is_empty() || prefix.contains(char::is_whitespace) {
            return Err(format!(
                "--cluster-prefix must be a word without spaces, got {:?}",
                self.cluster_prefix
            ));
        }
        if self.node_timeout < 1.0 {
            let got = self.node_timeout;
            return Err(format!(
                "--node-timeout must be at least 1 second, got {got}"
            ));
        }
        Ok(ClusterSettings {
            url: url.to_string(),
            prefix: prefix.to_string(),
            node_timeout: Duration::from_secs_f64(self.node_timeout),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_protocols() {
        let args = Args::try_parse_from(["chat", "--port", "9"]).unwrap();
        let s = args.settings().unwrap();
        assert_eq!(s.listen, "0.0.0.0:9".parse().unwrap());
        assert_eq!(s.chat, Config::default());
        assert_eq!(s.outbound_queue_bytes, 1_048_576);
        assert!(s.allowed_origins.is_empty());
        assert_eq!(s.db, "chat.db");
        assert_eq!(s.retain, 1_000_000);
    }

    #[test]
    fn flags_parse() {
        let args = Args::try_parse_from([
            "chat",
            "--ping-interval",
            "0.5",
            "--allowed-origins",
            "http://a, http://b",
            "--rate",
            "0",
        ])
        .unwrap();
        let s = args.settings().unwrap();
        assert_eq!(s.chat.ping_interval, Duration::from_millis(500));
        assert_eq!(s.allowed_origins, ["http://a", "http://b"]);
        assert_eq!(s.chat.rate, 0.0);
        assert!(Args::try_parse_from(["chat", "--ping-timeout", "-1"]).is_err());
        let too_long = Args::try_parse_from(["chat", "--max-message-bytes", "65537"]).unwrap();
        let err = too_long.settings().unwrap_err();
        assert!(err.contains("at most 65536"), "{err}");
        let longest = Args::try_parse_from(["chat", "--max-message-bytes", "65536"]).unwrap();
        assert_eq!(longest.settings().unwrap().chat.max_message_bytes, 65536);
        assert!(Args::try_parse_from(["chat", "--port", "70000"]).is_err());
    }
}
