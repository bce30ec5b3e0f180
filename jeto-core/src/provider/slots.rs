//! [`ProviderSlots`]: the one bound on provider calls running at once.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The one bound on provider calls in progress, whatever asked for them: commands, status
/// reads, IP lookups and creations all take a slot for each call, so a burst of anything never
/// runs more than `max_concurrent` provider calls (with the vagrant provider: processes) at
/// once. Cheap to clone; clones share the slots.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let slots = jeto_core::ProviderSlots::new(2);
/// let first = slots.acquire().await;
/// let _second = slots.acquire().await;
/// assert_eq!(slots.available(), 0);
/// drop(first);
/// assert_eq!(slots.available(), 1);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct ProviderSlots {
    semaphore: Arc<Semaphore>,
}

impl ProviderSlots {
    /// `max_concurrent` slots (at least one).
    pub fn new(max_concurrent: usize) -> Self {
        ProviderSlots {
            semaphore: Arc::new(Semaphore::new(max_concurrent.max(1))),
        }
    }

    /// Waits for a free slot; it is given back when the permit is dropped.
    pub async fn acquire(&self) -> OwnedSemaphorePermit {
        self.semaphore
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    /// Slots free right now.
    pub fn available(&self) -> usize {
        self.semaphore.available_permits()
    }
}
