//! [`AuditEntry`]: who did what. Entries are kept in the [`Store`](crate::store::Store),
//! the newest [`DEFAULT_AUDIT_ENTRIES`] by default.
//!
//! Requests with no valid key are not one entry each (a keyless flood would evict the entries
//! that matter and grow the database): an [`AnonymousTally`] counts them per source, method,
//! route and answer over a window, and each count becomes one entry. Every field is bounded:
//! routes are templates (`/api/instances/{id}`), never the path as sent.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// How many audit entries are kept when the config does not say.
pub const DEFAULT_AUDIT_ENTRIES: usize = 100_000;
/// One audited request: a mutating request or a denial.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Increasing sequence number, never reused (also across restarts).
    #[serde(default)]
    pub id: u64,
    /// When it was answered.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// The token name that asked; `null` when no valid key was given.
    pub principal: Option<String>,
    /// The HTTP method (or the embedder's operation name).
    pub method: String,
    /// The path asked for.
    pub route: String,
    /// The instance concerned, when there is one.
    pub instance: Option<u64>,
    /// The HTTP status of the answer.
    pub status: u16,
    /// `ok`, or the error code of the answer.
    pub outcome: String,
    /// The client's address, when the server knows it.
    #[serde(default)]
    pub source: Option<String>,
    /// How many requests this entry stands for: 1, or the requests without a valid key that
    /// had this source, method, route and answer in one window.
    #[serde(default = "one")]
    pub count: u64,
}

fn one() -> u64 {
    1
}

/// The longest a free-text field of an entry may be; longer text is cut (with `…`).
pub const MAX_FIELD_CHARS: usize = 200;

impl AuditEntry {
    /// An entry for one request answered now, its fields cut to [`MAX_FIELD_CHARS`].
    pub fn new(
        principal: Option<String>,
        method: &str,
        route: &str,
        status: u16,
        outcome: &str,
    ) -> AuditEntry {
        AuditEntry {
            id: 0,
            time: OffsetDateTime::now_utc(),
            principal: principal.map(|p| bounded(&p)),
            method: bounded(method),
            route: bounded(route),
            instance: None,
            status,
            outcome: bounded(outcome),
            source: None,
            count: 1,
        }
    }
}

/// `text` cut to [`MAX_FIELD_CHARS`] characters, with `…` when it was longer.
pub fn bounded(text: &str) -> String {
    match text.char_indices().nth(MAX_FIELD_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// How long a window of [`AnonymousTally`] lasts by default.
pub const DEFAULT_ANONYMOUS_WINDOW: Duration = Duration::from_secs(60);
/// Distinct (source, method, route, answer) counted in one window; the rest are counted under
/// one `(other)` entry.
pub const MAX_ANONYMOUS_KEYS: usize = 256;

type TallyKey = (Option<String>, String, String, u16, String);

/// Requests without a valid key, counted per source, method, route and answer over a window
/// (see the module docs). Plain data: the service writes what [`AnonymousTally::take`] gives.
#[derive(Debug)]
pub struct AnonymousTally {
    window: Duration,
    started: Instant,
    first: OffsetDateTime,
    counts: HashMap<TallyKey, u64>,
}

impl AnonymousTally {
    /// An empty tally whose windows last `window`.
    pub fn new(window: Duration) -> AnonymousTally {
        AnonymousTally {
            window,
            started: Instant::now(),
            first: OffsetDateTime::now_utc(),
            counts: HashMap::new(),
        }
    }

    /// Counts `entry`; returns the entries of the window it closed, if its time was up.
    pub fn add(&mut self, entry: &AuditEntry) -> Vec<AuditEntry> {
        let closed = if self.started.elapsed() >= self.window {
            self.take()
        } else {
            Vec::new()
        };
        if self.counts.is_empty() {
            self.started = Instant::now();
            self.first = entry.time;
        }
        let mut key: TallyKey = (
            entry.source.clone(),
            entry.method.clone(),
            entry.route.clone(),
            entry.status,
            entry.outcome.clone(),
        );
        if !self.counts.contains_key(&key) && self.counts.len() >= MAX_ANONYMOUS_KEYS - 1 {
            key = (
                None,
                "(other)".into(),
                "(other)".into(),
                0,
                "(other)".into(),
            );
        }
        *self.counts.entry(key).or_default() += entry.count.max(1);
        closed
    }

    /// The counted entries so far (dated at the window's first request), leaving it empty.
    pub fn take(&mut self) -> Vec<AuditEntry> {
        let time = self.first;
        let mut entries: Vec<AuditEntry> = self
            .counts
            .drain()
            .map(
                |((source, method, route, status, outcome), count)| AuditEntry {
                    time,
                    source,
                    count,
                    ..AuditEntry::new(None, &method, &route, status, &outcome)
                },
            )
            .collect();
        entries
            .sort_by(|a, b| (&a.route, &a.method, a.status).cmp(&(&b.route, &b.method, b.status)));
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyless(route: &str, status: u16) -> AuditEntry {
        AuditEntry {
            source: Some("127.0.0.1".into()),
            ..AuditEntry::new(None, "DELETE", route, status, "unauthenticated")
        }
    }

    #[test]
    fn a_flood_becomes_one_entry_per_route_and_answer() {
        let mut tally = AnonymousTally::new(Duration::from_secs(3600));
        for _ in 0..10_000 {
            assert!(tally.add(&keyless("/api/instances/{id}", 401)).is_empty());
        }
        tally.add(&keyless("(no route)", 404));
        let entries = tally.take();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].count, 10_000);
        assert_eq!(entries[1].route, "/api/instances/{id}");
        assert!(tally.take().is_empty());
    }

    #[test]
    fn distinct_keys_are_bounded() {
        let mut tally = AnonymousTally::new(Duration::from_secs(3600));
        for i in 0..1000 {
            tally.add(&AuditEntry {
                source: Some(format!("10.0.{}.{}", i / 256, i % 256)),
                ..keyless("/api/me", 401)
            });
        }
        let entries = tally.take();
        assert_eq!(entries.len(), MAX_ANONYMOUS_KEYS);
        assert_eq!(entries.iter().map(|e| e.count).sum::<u64>(), 1000);
    }

    #[test]
    fn a_window_closes_on_the_next_request_after_its_time() {
        let mut tally = AnonymousTally::new(Duration::ZERO);
        assert!(tally.add(&keyless("/api/me", 401)).is_empty());
        let closed = tally.add(&keyless("/api/me", 401));
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].count, 1);
    }

    #[test]
    fn long_fields_are_cut() {
        let long = "x".repeat(60_000);
        let entry = AuditEntry::new(Some(long.clone()), &long, &long, 404, &long);
        assert_eq!(entry.route.chars().count(), MAX_FIELD_CHARS + 1);
        assert!(entry.route.ends_with('…'));
    }
}
