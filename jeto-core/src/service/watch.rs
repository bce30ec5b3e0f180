//! The watcher: every instance's machine states read afresh on a schedule, so a state changed
//! outside Jeto (a `vagrant halt` by hand, a VM that died) shows in lists and as an event
//! marked `outside` without anyone asking.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;

use super::{Inner, Jeto};

/// Instances read in one provider call by the watcher and by `?refresh=true`.
const WATCH_BATCH: usize = 50;

impl Jeto {
    /// Starts watching every `interval`; the task ends with the service.
    pub(super) fn start_watcher(&self, interval: Duration) {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let Some(inner) = weak.upgrade() else { return };
                let jeto = Jeto { inner };
                if jeto.is_draining() {
                    return;
                }
                if let Err(error) = jeto.watch_once().await {
                    tracing::warn!(%error, "the watcher could not read the instances");
                }
            }
        });
    }

    /// Reads the state of every instance no command is working on (a command reports its
    /// own), a few at a time: at most `max_concurrent`, on the reads' lane of the provider
    /// slots, so commands are not starved.
    pub(crate) async fn watch_once(&self) -> crate::Result<usize> {
        let store = &self.inner.store;
        let hosts: HashMap<u64, crate::Host> = store
            .hosts()
            .await?
            .into_iter()
            .map(|h| (h.id, h))
            .collect();
        let instances: Vec<crate::Instance> = store
            .instances()
            .await?
            .into_iter()
            .filter(|record| !self.inner.scheduler.is_busy(record.id))
            .filter_map(|record| {
                let host = hosts.get(&record.host_id)?.clone();
                Some(self.instance_of(record, host))
            })
            .collect();
        let count = instances.len();
        self.read_states(instances).await;
        Ok(count)
    }

    /// Reads the states of `instances` afresh: one provider call per batch of a host's
    /// instances (one vagrant process, or one hypervisor listing, for many folders),
    /// `max_concurrent` batches at a time on the reads' lane of the provider slots.
    pub(crate) async fn read_states(&self, instances: Vec<crate::Instance>) {
        let mut by_host: HashMap<u64, Vec<crate::Instance>> = HashMap::new();
        for instance in instances {
            by_host.entry(instance.host.id).or_default().push(instance);
        }
        let batches: Vec<Vec<crate::Instance>> = by_host
            .into_values()
            .flat_map(|all| {
                all.chunks(WATCH_BATCH)
                    .map(<[_]>::to_vec)
                    .collect::<Vec<_>>()
            })
            .collect();
        let parallel = self.inner.config.scheduler.max_concurrent.max(1);
        futures_util::stream::iter(batches)
            .for_each_concurrent(parallel, |batch| async move {
                self.inner.status.refresh_many(&batch).await;
            })
            .await;
    }
}
