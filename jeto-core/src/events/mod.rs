//! The event log: what happened in the fleet ([`crate::Event`]), written to the store in the
//! order it happened by one writer task, and pushed to live followers
//! ([`EventFollower`], `GET /api/events`), who catch up from the store after a reconnect or
//! when they fall behind.

mod follow;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc};

use crate::metrics::Metrics;
use crate::store::Store;
use crate::{Event, EventKind};

pub use follow::{EventFilter, EventFollower, Followed};

/// Events kept in the store by default (the oldest are dropped).
pub const DEFAULT_KEEP: usize = 100_000;
/// Events pushed to live followers at once; one further behind reads from the store.
const LIVE_BUFFER: usize = 1024;

/// Records events and pushes them to followers. Cloning shares the log.
#[derive(Debug, Clone)]
pub(crate) struct EventLog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    to_write: mpsc::UnboundedSender<Event>,
    live: broadcast::Sender<Event>,
    /// The id of the newest event written.
    newest: AtomicU64,
    store: Arc<dyn Store>,
    metrics: Option<Metrics>,
}

impl EventLog {
    /// A log over `store`, keeping its newest `keep` events; the writer runs until the last
    /// clone is dropped.
    pub(crate) async fn start(
        store: Arc<dyn Store>,
        keep: usize,
        metrics: Option<Metrics>,
    ) -> EventLog {
        let newest = match store.event_bounds().await {
            Ok(bounds) => bounds.map_or(0, |(_, newest)| newest),
            Err(_) => 0,
        };
        let (to_write, mut pending) = mpsc::unbounded_channel::<Event>();
        let (live, _) = broadcast::channel(LIVE_BUFFER);
        let log = EventLog {
            inner: Arc::new(Inner {
                to_write,
                live,
                newest: AtomicU64::new(newest),
                store: store.clone(),
                metrics,
            }),
        };
        let weak = Arc::downgrade(&log.inner);
        tokio::spawn(async move {
            while let Some(first) = pending.recv().await {
                let mut batch = vec![first];
                while let Ok(more) = pending.try_recv() {
                    batch.push(more);
                    if batch.len() >= 256 {
                        break;
                    }
                }
                let Some(inner) = weak.upgrade() else { return };
                let started = std::time::Instant::now();
                let appended = store.append_events(batch, keep).await;
                if let Some(metrics) = &inner.metrics {
                    metrics.store_operation("append_events", started.elapsed().as_secs_f64());
                }
                match appended {
                    Ok(stored) => {
                        for event in stored {
                            if let Some(metrics) = &inner.metrics {
                                metrics.event_written();
                            }
                            inner.newest.store(event.id, Ordering::Release);
                            // No follower listening is fine.
                            let _ = inner.live.send(event);
                        }
                    }
                    Err(crate::Error::NotSupported { .. }) => {}
                    Err(error) => tracing::error!(%error, "could not write events"),
                }
            }
        });
        log
    }

    /// Records that `kind` happened (to `instance` on `host`), now.
    pub(crate) fn emit(&self, instance: Option<u64>, host: Option<u64>, kind: EventKind) {
        // Counted as it happens, not once written: whoever is told a command ended (before
        // its event is on disk) reads it counted.
        if let Some(metrics) = &self.inner.metrics {
            metrics.event_emitted(&kind);
        }
        let _ = self.inner.to_write.send(Event::new(instance, host, kind));
    }

    /// The id of the newest event written.
    pub(crate) fn newest(&self) -> u64 {
        self.inner.newest.load(Ordering::Acquire)
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.live.subscribe()
    }

    /// The service's metrics, when it keeps them.
    pub(crate) fn metrics(&self) -> Option<&Metrics> {
        self.inner.metrics.as_ref()
    }

    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }
}
