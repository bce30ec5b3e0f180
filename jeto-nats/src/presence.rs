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

use crate::signing::{self, SigningKey, TrustedWorkers};
use crate::streams::{HEARTBEAT, MAX_BEAT_BYTES, PRESENCE_TTL};

/// Workers the server keeps track of; beats of further names are ignored.
const MAX_WORKERS: usize = 1024;

/// What a worker says of itself every heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Beat {
    pub(crate) name: String,
    pub(crate) hosts: Vec<u64>,
    pub(crate) running: u32,
    /// Finishing its running actions before it stops: it takes no new one.
    #[serde(default)]
    pub(crate) draining: bool,
}

/// A worker's side: puts its beat, signed with `key`, until aborted; at once when it starts
/// draining, so the server sends it nothing new from then on.
pub(crate) async fn announce(
    store: kv::Store,
    key: SigningKey,
    name: String,
    hosts: Vec<u64>,
    running: Arc<AtomicU32>,
    mut draining: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    let subject = crate::wire::beat_subject(&name);
    let mut number = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            Ok(()) = draining.changed() => {}
        }
        let beat = Beat {
            name: name.clone(),
            hosts: hosts.clone(),
            running: running.load(Ordering::Relaxed),
            draining: *draining.borrow(),
        };
        number += 1;
        // The number orders beats; the signing time makes an old beat replayed stale.
        let sealed = key.seal(&subject, &number.to_string(), &beat);
        if let Err(error) = store.put(&name, sealed).await {
            tracing::warn!(%error, "could not announce this worker");
        }
    }
}

/// How long a worker gone quiet is still listed (as offline) before it is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(600);

/// The server's view of the workers, kept by watching the presence bucket.
#[derive(Debug, Clone)]
pub(crate) struct PresenceBoard {
    /// Worker name → its last beat (hosts limited to those its key is trusted for), when it
    /// arrived here, and when its worker signed it.
    seen: Arc<Mutex<Seen>>,
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
    /// Starts watching `store` (its current keys, then every change), believing beats that
    /// `workers` signed.
    pub(crate) fn watch(store: kv::Store, workers: TrustedWorkers) -> Self {
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let task = tokio::spawn({
            let seen = seen.clone();
            async move {
                loop {
                    match store.watch_with_history(">").await {
                        Ok(mut entries) => {
                            while let Some(entry) = entries.next().await {
                                match entry {
                                    Ok(entry) => record(&seen, &workers, entry),
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

    /// Whether a worker of `host` that takes new actions (not draining) was heard from
    /// within [`PRESENCE_TTL`].
    pub(crate) fn online(&self, host: u64) -> bool {
        self.workers(host).iter().any(|w| w.online && !w.draining)
    }

    /// Whether a worker of `host` heard from lately said it drains.
    pub(crate) fn draining(&self, host: u64) -> bool {
        self.workers(host).iter().any(|w| w.online && w.draining)
    }

    /// The workers of `host` heard from lately, by name.
    pub(crate) fn workers(&self, host: u64) -> Vec<HostWorker> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.retain(|_, (_, at, _)| at.elapsed() < FORGET_AFTER);
        let mut workers: Vec<HostWorker> = seen
            .values()
            .filter(|(beat, _, _)| beat.hosts.contains(&host))
            .map(|(beat, at, _)| {
                let mut worker = HostWorker::new(
                    beat.name.clone(),
                    at.elapsed() <= PRESENCE_TTL,
                    at.elapsed().as_secs(),
                );
                worker.running = beat.running;
                worker.draining = beat.draining;
                worker.hosts = beat.hosts.clone();
                worker
            })
            .collect();
        workers.sort_by(|a, b| a.name.cmp(&b.name));
        workers
    }
}

/// Worker name → its last beat, when it arrived here, and when it was signed.
type Seen = HashMap<String, (Beat, Instant, i64)>;

/// Notes a change of the presence bucket. Whatever the bucket holds, only what a trusted
/// worker signed counts, and what is kept is bounded: a beat larger than [`MAX_BEAT_BYTES`],
/// unsigned or signed by a key not trusted, not fresh or older than the last one of its
/// worker, or naming more than 64 hosts, or a name other than its key, is ignored; it counts
/// only for the hosts its key is trusted for; at most [`MAX_WORKERS`] workers are tracked.
fn record(seen: &Mutex<Seen>, workers: &TrustedWorkers, entry: kv::Entry) {
    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    let key = jeto_core::audit::bounded(&entry.key);
    match entry.operation {
        kv::Operation::Put if entry.value.len() > MAX_BEAT_BYTES => {
            tracing::warn!(%key, bytes = entry.value.len(), "ignoring an oversized worker beat");
        }
        kv::Operation::Put => {
            match signing::open::<Beat>(&entry.value, &crate::wire::beat_subject(&entry.key)) {
                Ok(opened) if opened.body.name != entry.key || opened.body.hosts.len() > 64 => {
                    tracing::warn!(%key, "ignoring a malformed worker beat");
                }
                Ok(opened) if workers.hosts_of(&opened.key).is_empty() => {
                    tracing::warn!(%key, signer = %opened.key, "ignoring a beat signed by a worker key not in [[nats.workers]]");
                }
                Ok(opened)
                    if !opened.fresh(PRESENCE_TTL)
                        || seen
                            .get(&entry.key)
                            .is_some_and(|(_, _, at)| *at >= opened.at) =>
                {
                    tracing::warn!(%key, "ignoring a stale or replayed worker beat");
                }
                Ok(_) if seen.len() >= MAX_WORKERS && !seen.contains_key(&entry.key) => {
                    tracing::warn!(%key, "ignoring a worker beat: {MAX_WORKERS} workers are tracked already");
                }
                Ok(opened) => {
                    let trusted = workers.hosts_of(&opened.key);
                    let mut beat = opened.body;
                    beat.hosts.retain(|host| trusted.contains(host));
                    seen.insert(entry.key, (beat, Instant::now(), opened.at));
                }
                Err(why) => tracing::warn!(%key, "ignoring a worker beat: {why}"),
            }
        }
        // A worker that stopped cleanly takes its key away.
        kv::Operation::Delete | kv::Operation::Purge => {
            seen.remove(&entry.key);
        }
    }
}
