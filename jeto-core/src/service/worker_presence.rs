//! Worker online / offline events: the workers of every host compared every few seconds with
//! what was seen before (a remote provider knows its workers from their heartbeats, so this
//! costs no process and no network call; hosts on the server's own box have none).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::{Inner, Jeto};
use crate::EventKind;

/// How often the workers of each host are compared.
const PRESENCE_INTERVAL: Duration = Duration::from_secs(2);

/// The names of the workers online per host, as last seen.
pub(crate) type Presence = HashMap<u64, BTreeSet<String>>;

impl Jeto {
    /// Starts comparing workers every [`PRESENCE_INTERVAL`]; the task ends with the service.
    pub(super) fn start_presence_watch(&self) {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut seen = Presence::new();
            loop {
                let Some(inner) = weak.upgrade() else { return };
                Jeto { inner }.compare_workers(&mut seen).await;
                tokio::time::sleep(PRESENCE_INTERVAL).await;
            }
        });
    }

    /// Records a `worker_online` event for each worker now online that was not, and
    /// `worker_offline` for each that was and is no more.
    pub(crate) async fn compare_workers(&self, seen: &mut Presence) {
        let Ok(hosts) = self.inner.store.hosts().await else {
            return;
        };
        seen.retain(|id, _| hosts.iter().any(|h| h.id == *id));
        for host in hosts {
            let Ok(workers) = self.inner.provider.workers(&host).await else {
                continue;
            };
            let now: BTreeSet<String> = workers
                .into_iter()
                .filter(|w| w.online)
                .map(|w| w.name)
                .collect();
            let before = seen.entry(host.id).or_default();
            for worker in now.difference(before) {
                let kind = EventKind::WorkerOnline {
                    worker: worker.clone(),
                };
                self.inner.events.emit(None, Some(host.id), kind);
            }
            for worker in before.difference(&now) {
                let kind = EventKind::WorkerOffline {
                    worker: worker.clone(),
                };
                self.inner.events.emit(None, Some(host.id), kind);
            }
            *before = now;
        }
    }
}
