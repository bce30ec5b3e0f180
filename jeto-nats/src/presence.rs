//! Which workers are online: each worker rewrites its key in the presence bucket every
//! heartbeat ([`announce`]); the server watches the bucket ([`PresenceBoard`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::kv;
use futures_util::StreamExt;
use jeto_core::HostWorker;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::streams::{HEARTBEAT, MAX_BEAT_BYTES, PRESENCE_TTL};

/// Workers the server keeps track of; beats of further names are ignored.
const MAX_WORKERS: usize = 1024;

/// What a worker says of itself every heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Beat {
    pub(crate) name: String,
    pub(crate) hosts: Vec<u64>,
    pub(crate) running: u32,
}

/// A worker's side: puts its beat until aborted.
pub(crate) async fn announce(
    store: kv::Store,
    name: String,
    hosts: Vec<u64>,
    running: Arc<AtomicU32>,
) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    loop {
        tick.tick().await;
        let beat = Beat {
            name: name.clone(),
            hosts: hosts.clone(),
            running: running.load(Ordering::Relaxed),
        };
        if let Err(error) = store.put(&name, crate::wire::to_json(&beat)).await {
            tracing::warn!(%error, "could not announce this worker");
        }
    }
}

/// How long a worker gone quiet is still listed (as offline) before it is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(600);

/// The server's view of the workers, kept by watching the presence bucket.
#[derive(Debug, Clone)]
pub(crate) struct PresenceBoard {
    /// Worker name → its last beat and when it arrived here (this box's clock only: no
    /// skew between boxes matters).
    seen: Arc<Mutex<HashMap<String, (Beat, Instant)>>>,
    _watcher: Arc<AbortOnDrop>,
}

#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl PresenceBoard {
    /// Starts watching `store` (its current keys, then every change).
    pub(crate) fn watch(store: kv::Store) -> Self {
        let seen: Arc<Mutex<HashMap<String, (Beat, Instant)>>> = Arc::default();
        let task = tokio::spawn({
            let seen = seen.clone();
            async move {
                loop {
                    match store.watch_with_history(">").await {
                        Ok(mut entries) => {
                            while let Some(entry) = entries.next().await {
                                match entry {
                                    Ok(entry) => record(&seen, entry),
                                    Err(error) => {
                                        tracing::warn!(%error, "watching worker presence");
                                        break;
                                    }
                                }
                            }
                        }
                        Err(error) => tracing::warn!(%error, "cannot watch worker presence"),
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        });
        PresenceBoard {
            seen,
            _watcher: Arc::new(AbortOnDrop(task)),
        }
    }

    /// Whether a worker of `host` was heard from within [`PRESENCE_TTL`].
    pub(crate) fn online(&self, host: u64) -> bool {
        self.workers(host).iter().any(|w| w.online)
    }

    /// The workers of `host` heard from lately, by name.
    pub(crate) fn workers(&self, host: u64) -> Vec<HostWorker> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.retain(|_, (_, at)| at.elapsed() < FORGET_AFTER);
        let mut workers: Vec<HostWorker> = seen
            .values()
            .filter(|(beat, _)| beat.hosts.contains(&host))
            .map(|(beat, at)| {
                let mut worker = HostWorker::new(
                    beat.name.clone(),
                    at.elapsed() <= PRESENCE_TTL,
                    at.elapsed().as_secs(),
                );
                worker.running = beat.running;
                worker.hosts = beat.hosts.clone();
                worker
            })
            .collect();
        workers.sort_by(|a, b| a.name.cmp(&b.name));
        workers
    }
}

/// Notes a change of the presence bucket. Whatever the bucket holds, what is kept is bounded:
/// a beat larger than [`MAX_BEAT_BYTES`], or naming more than 64 hosts, or a name other than
/// its key, is ignored, and at most [`MAX_WORKERS`] workers are tracked.
fn record(seen: &Mutex<HashMap<String, (Beat, Instant)>>, entry: kv::Entry) {
    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    match entry.operation {
        kv::Operation::Put if entry.value.len() > MAX_BEAT_BYTES => {
            tracing::warn!(key = %jeto_core::audit::bounded(&entry.key), bytes = entry.value.len(), "ignoring an oversized worker beat");
        }
        kv::Operation::Put => match serde_json::from_slice::<Beat>(&entry.value) {
            Ok(beat) if beat.name != entry.key || beat.hosts.len() > 64 => {
                tracing::warn!(key = %jeto_core::audit::bounded(&entry.key), "ignoring a malformed worker beat");
            }
            Ok(beat) if seen.len() >= MAX_WORKERS && !seen.contains_key(&entry.key) => {
                tracing::warn!(worker = %beat.name, "ignoring a worker beat: {MAX_WORKERS} workers are tracked already");
            }
            Ok(beat) => {
                seen.insert(entry.key, (beat, Instant::now()));
            }
            Err(error) => {
                tracing::warn!(%error, key = %jeto_core::audit::bounded(&entry.key), "unreadable worker beat")
            }
        },
        // A worker that stopped cleanly takes its key away.
        kv::Operation::Delete | kv::Operation::Purge => {
            seen.remove(&entry.key);
        }
    }
}
