//! Following the event log (`GET /api/events`), and recording what happens to instances.

use super::Jeto;
use crate::access::Principal;
use crate::events::{EventFilter, EventFollower};
use crate::{Error, EventKind, Result};

/// How long a client told to come back waits.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

impl Jeto {
    /// Follows the event log as `who` may see it: from after event `after` (`None`: from
    /// now), the events of what `who` can see that `filter` wants. At most
    /// `max_followers` at once ([`Error::LimitReached`] beyond).
    pub async fn follow_events(
        &self,
        who: &Principal,
        filter: EventFilter,
        after: Option<u64>,
    ) -> Result<(EventFollower, tokio::sync::OwnedSemaphorePermit)> {
        for name in &filter.types {
            if !crate::EventKind::TYPES.contains(&name.as_str()) {
                return Err(Error::invalid(format!(
                    "unknown event type {name:?}; the types are: {}",
                    crate::EventKind::TYPES.join(", ")
                )));
            }
        }
        let permit = self
            .inner
            .event_followers
            .clone()
            .try_acquire_owned()
            .map_err(|_| {
                Error::limit(
                    format!(
                        "{} clients follow events already (max_followers); retry later",
                        self.inner.config.scheduler.max_followers
                    ),
                    RETRY_AFTER,
                )
            })?;
        let follower =
            EventFollower::new(self.inner.events.clone(), who.clone(), filter, after).await?;
        Ok((follower, permit))
    }

    /// Records that an instance was registered or created.
    pub(crate) fn instance_created(&self, record: &crate::store::InstanceRecord) {
        self.instance_event(
            record.id,
            record.host_id,
            EventKind::InstanceCreated {
                name: record.spec.name.clone(),
            },
        );
    }

    /// Records that something happened to instance `id` on `host`.
    pub(crate) fn instance_event(&self, id: u64, host: u64, kind: EventKind) {
        self.inner.events.emit(Some(id), Some(host), kind);
    }
}
