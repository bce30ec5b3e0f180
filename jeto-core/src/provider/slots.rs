//! [`ProviderSlots`]: the one bound on provider calls running at once, with a lane for reads
//! that always leaves actions a slot.

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
///
/// Reads (status, details, snapshots, boxes) take their slot through
/// [`ProviderSlots::acquire_read`]: at most `max_concurrent - 1` of them run at once (one when
/// there is a single slot), so a burst of reads can never hold every slot while an action
/// waits.
#[derive(Debug, Clone)]
pub struct ProviderSlots {
    semaphore: Arc<Semaphore>,
    reads: Arc<Semaphore>,
    max: usize,
}

/// A slot held by a read: given back (both lanes) when dropped.
#[derive(Debug)]
pub struct ReadSlot {
    _slot: OwnedSemaphorePermit,
    _lane: OwnedSemaphorePermit,
}

impl ProviderSlots {
    /// `max_concurrent` slots (at least one).
    pub fn new(max_concurrent: usize) -> Self {
        let max = max_concurrent.max(1);
        ProviderSlots {
            semaphore: Arc::new(Semaphore::new(max)),
            reads: Arc::new(Semaphore::new((max - 1).max(1))),
            max,
        }
    }

    /// Waits for a slot for a read: first a place in the reads' lane, then a slot.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let slots = jeto_core::ProviderSlots::new(2);
    /// let _read = slots.acquire_read().await;
    /// // A second read would wait; an action still gets the other slot at once.
    /// let _action = slots.acquire().await;
    /// assert_eq!(slots.available(), 0);
    /// # });
    /// ```
    pub async fn acquire_read(&self) -> ReadSlot {
        let lane = self
            .reads
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        ReadSlot {
            _slot: self.acquire().await,
            _lane: lane,
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

    /// Slots in use right now.
    pub fn in_use(&self) -> usize {
        self.max.saturating_sub(self.available())
    }
}
