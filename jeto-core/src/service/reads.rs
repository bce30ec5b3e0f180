//! Fair use of the provider by reads: each non-admin key may have at most
//! [`JetoConfig::max_reads_per_key`](super::JetoConfig) reads in progress (429 beyond), and
//! reads of the same thing at once share one provider call ([`SharedReads`]), as status reads
//! do in the status cache.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::access::Principal;
use crate::{Error, Result};

/// Reads in progress, by key name.
type Counts = Arc<Mutex<HashMap<String, usize>>>;

/// Reads in progress per key name.
#[derive(Debug, Default)]
pub(crate) struct ReadsPerKey {
    counts: Counts,
}

/// One read counted against its key, uncounted when dropped.
#[derive(Debug)]
pub(crate) struct ReadTicket {
    counts: Option<(Counts, String)>,
}

impl ReadsPerKey {
    /// Counts a read by `who`, or refuses it when the key has `max` in progress. Admin keys
    /// (trusted operators) are not counted.
    pub(crate) fn enter(&self, who: &Principal, max: usize) -> Result<ReadTicket> {
        if who.admin {
            return Ok(ReadTicket { counts: None });
        }
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(who.name.clone()).or_default();
        if *count >= max.max(1) {
            return Err(Error::limit(
                format!(
                    "this key already has {count} reads of machines in progress (max_reads_per_key); wait for them to end"
                ),
                Duration::from_secs(2),
            ));
        }
        *count += 1;
        Ok(ReadTicket {
            counts: Some((self.counts.clone(), who.name.clone())),
        })
    }
}

impl Drop for ReadTicket {
    fn drop(&mut self) {
        if let Some((counts, name)) = self.counts.take() {
            let mut counts = counts.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(count) = counts.get_mut(&name) {
                *count -= 1;
                if *count == 0 {
                    counts.remove(&name);
                }
            }
        }
    }
}

/// The last good result of each read, with when it ended.
type Flight<T> = Arc<tokio::sync::Mutex<Option<(Instant, T)>>>;

/// Reads of one key (an instance's machine, a host's boxes) share one provider call: while one
/// runs, the others wait for it and take its result, which ended after they asked. A failed
/// call is not shared (its error is the caller's); the next waiter calls again.
#[derive(Debug)]
pub(crate) struct SharedReads<K, T> {
    flights: Mutex<HashMap<K, Flight<T>>>,
}

impl<K, T> Default for SharedReads<K, T> {
    fn default() -> Self {
        SharedReads {
            flights: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq + Clone, T: Clone> SharedReads<K, T> {
    /// The result of `read` for `key`, from a call that ended after this one asked.
    pub(crate) async fn get<F>(&self, key: K, read: F) -> Result<T>
    where
        F: std::future::Future<Output = Result<T>>,
    {
        let asked = Instant::now();
        let flight = self
            .flights
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.clone())
            .or_default()
            .clone();
        let result = {
            let mut last = flight.lock().await;
            match &*last {
                Some((ended, value)) if *ended >= asked => Ok(value.clone()),
                _ => {
                    let result = read.await;
                    if let Ok(value) = &result {
                        *last = Some((Instant::now(), value.clone()));
                    }
                    result
                }
            }
        };
        // The last one out forgets the key, so the map holds only reads in progress.
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        if Arc::strong_count(&flight) == 2 {
            flights.remove(&key);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_at_once_share_one_call() {
        let shared = Arc::new(SharedReads::<u64, u64>::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let reads: Vec<_> = (0..30)
            .map(|_| {
                let (shared, calls) = (shared.clone(), calls.clone());
                tokio::spawn(async move {
                    shared
                        .get(1, async {
                            calls.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            Ok(7)
                        })
                        .await
                })
            })
            .collect();
        for read in reads {
            assert_eq!(read.await.unwrap().unwrap(), 7);
        }
        assert!(calls.load(Ordering::SeqCst) <= 2, "{calls:?}");
        assert!(shared.flights.lock().unwrap().is_empty());
    }

    #[test]
    fn a_key_has_at_most_max_reads_and_admins_none() {
        let reads = ReadsPerKey::default();
        let tenant = Principal::tenant("t");
        let first = reads.enter(&tenant, 2).unwrap();
        let _second = reads.enter(&tenant, 2).unwrap();
        let refused = reads.enter(&tenant, 2).unwrap_err();
        assert_eq!(refused.kind(), crate::ErrorKind::LimitReached);
        assert!(refused.to_string().contains("max_reads_per_key"));
        drop(first);
        assert!(reads.enter(&tenant, 2).is_ok());
        let admin = Principal::admin("ops");
        let _held: Vec<_> = (0..10).map(|_| reads.enter(&admin, 2).unwrap()).collect();
    }
}
