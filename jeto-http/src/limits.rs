//! [`ServerLimits`]: the bounds of the HTTP server (connections, time to send a request or
//! read an answer).

use serde::Deserialize;

/// Limits of the HTTP server: the `[server]` table of the config file. Every one has a
/// default; see docs/limits.md.
///
/// ```
/// let limits: jeto_http::ServerLimits = toml::from_str("max_connections = 64").unwrap();
/// assert_eq!(limits.max_connections, 64);
/// assert_eq!(limits.header_read_timeout_secs, 10);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ServerLimits {
    /// Seconds a client has to send a whole request head: from the connection's start, or
    /// from the first byte of a later request.
    pub header_read_timeout_secs: u64,
    /// Seconds a kept-alive connection may wait for its next request.
    pub idle_timeout_secs: u64,
    /// Seconds a client has to send a request body, once its head is read (408 after).
    pub body_read_timeout_secs: u64,
    /// Seconds an answer may wait for the client to read (a console follower that stops
    /// reading is dropped after this).
    pub write_timeout_secs: u64,
    /// Connections open at once. When full, the connection idle the longest is closed to make
    /// room; with none idle, a new one is answered 503. Also held below the file-descriptor
    /// limit minus `reserved_fds`.
    pub max_connections: usize,
    /// File descriptors kept free of connections, for vagrant processes, the store and logs.
    pub reserved_fds: usize,
    /// Reverse proxies (by IP) whose `X-Forwarded-For` is believed: a request from one of them
    /// is recorded (logs, audit) as from the last address in that header not itself a trusted
    /// proxy. From anyone else the header is ignored. None by default.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            body_read_timeout_secs: 30,
            write_timeout_secs: 30,
            max_connections: 1024,
            reserved_fds: 128,
            trusted_proxies: Vec::new(),
        }
    }
}

impl ServerLimits {
    /// The connection cap in effect: `max_connections`, held below the soft limit on open
    /// files minus `reserved_fds`.
    pub fn effective_max_connections(&self) -> usize {
        let fd_room = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map(|(soft, _)| usize::try_from(soft).unwrap_or(usize::MAX))
            .unwrap_or(usize::MAX)
            .saturating_sub(self.reserved_fds);
        self.max_connections.min(fd_room).max(1)
    }
}
