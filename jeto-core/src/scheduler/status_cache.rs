//! [`StatusCache`]: the last known status of each instance, with concurrent reads coalesced
//! into one provider call.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;
use time::OffsetDateTime;

use crate::events::EventLog;
use crate::{DynProvider, EventKind, Instance, ProviderSlots, Status};

/// The status of an instance as last read.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct StatusSnapshot {
    /// Each machine, with its IP when running.
    pub statuses: Vec<Status>,
    /// When it was read; `None` if never.
    #[serde(with = "time::serde::rfc3339::option")]
    pub checked_at: Option<OffsetDateTime>,
    /// Why the last read failed, when it did (the statuses are then the previous ones).
    pub error: Option<String>,
}

#[derive(Debug, Default)]
struct Cached {
    snapshot: StatusSnapshot,
    /// When the read behind `snapshot` started.
    read_started: Option<Instant>,
    /// When it ended.
    read_finished: Option<Instant>,
    /// When a command last invalidated the status.
    invalidated: Option<Instant>,
    /// IPs of running machines, reused until the machine's state changes.
    ips: HashMap<String, String>,
}

impl Cached {
    /// The snapshot if it is valid and either started within `max_age` or was still in
    /// progress at `asked` (so concurrent callers share one read, whatever their max age).
    fn usable(&self, max_age: Duration, asked: Option<Instant>) -> Option<StatusSnapshot> {
        let (started, finished) = (self.read_started?, self.read_finished?);
        if self.invalidated.is_some_and(|i| i >= started) {
            return None;
        }
        let fresh = started.elapsed() <= max_age || asked.is_some_and(|asked| finished >= asked);
        fresh.then(|| self.snapshot.clone())
    }
}

#[derive(Debug, Default)]
struct Entry {
    /// Held while a provider call runs: later readers wait for its result instead of
    /// starting their own.
    refresh: tokio::sync::Mutex<()>,
    cached: Mutex<Cached>,
}

impl Entry {
    fn cached(&self) -> MutexGuard<'_, Cached> {
        self.cached.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Caches each instance's status; concurrent reads of one instance share one provider call,
/// and every provider call (status and IP lookups) takes one of the [`ProviderSlots`].
#[derive(Debug)]
pub(crate) struct StatusCache {
    provider: DynProvider,
    slots: ProviderSlots,
    entries: Mutex<HashMap<u64, Arc<Entry>>>,
    /// Bumped whenever a snapshot changes or is invalidated.
    version: AtomicU64,
    /// Where changes of machine states are recorded.
    events: EventLog,
}

/// Records each machine whose state differs between `before` and `after`; `outside` when no
/// Jeto command ran on the instance between the two reads.
fn state_changes(
    events: &EventLog,
    instance: u64,
    host: u64,
    before: &[Status],
    after: &[Status],
    outside: bool,
) {
    for now in after {
        let was = before
            .iter()
            .find(|b| b.name == now.name)
            .map(|b| b.status.clone());
        if was.as_deref() == Some(now.status.as_str()) {
            continue;
        }
        events.emit(
            Some(instance),
            Some(host),
            EventKind::MachineStateChanged {
                machine: now.name.clone(),
                from: was,
                to: now.status.clone(),
                outside,
            },
        );
    }
}

impl StatusCache {
    /// A cache reading through `provider`, one call per slot of `slots`.
    pub fn new(provider: DynProvider, slots: ProviderSlots, events: EventLog) -> Self {
        StatusCache {
            provider,
            slots,
            entries: Mutex::new(HashMap::new()),
            version: AtomicU64::new(0),
            events,
        }
    }

    fn entry(&self, id: u64) -> Arc<Entry> {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id)
            .or_default()
            .clone()
    }

    /// The last known status, without reading.
    pub fn last_known(&self, id: u64) -> StatusSnapshot {
        // A lookup, not an insert: listing instances never read must not grow the cache.
        let entry = self
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned();
        entry
            .map(|e| e.cached().snapshot.clone())
            .unwrap_or_default()
    }

    /// The status at most `max_age` old: cached when young enough, else read once for all
    /// concurrent callers.
    pub async fn get(&self, instance: &Instance, max_age: Duration) -> StatusSnapshot {
        let asked = Instant::now();
        let entry = self.entry(instance.id);
        if let Some(snapshot) = entry.cached().usable(max_age, None) {
            return snapshot;
        }
        let _refreshing = entry.refresh.lock().await;
        // A read that was in progress when we asked answers us too: that is the coalescing.
        if let Some(snapshot) = entry.cached().usable(max_age, Some(asked)) {
            return snapshot;
        }
        self.read(instance, &entry).await
    }

    /// Records the status an action reported as it ended (IPs included), as a read that
    /// happened now: answers within the default max age use it, `max_age = 0` still reads.
    pub fn put(&self, instance: &Instance, statuses: Vec<Status>) {
        let entry = self.entry(instance.id);
        let mut cached = entry.cached();
        let now = Instant::now();
        if cached.read_finished.is_some() {
            state_changes(
                &self.events,
                instance.id,
                instance.host.id,
                &cached.snapshot.statuses,
                &statuses,
                false,
            );
        }
        cached.ips = statuses
            .iter()
            .filter(|s| s.is_running())
            .filter_map(|s| Some((s.name.clone(), s.ip.clone()?)))
            .collect();
        cached.snapshot = StatusSnapshot {
            statuses,
            checked_at: Some(OffsetDateTime::now_utc()),
            error: None,
        };
        cached.read_started = Some(now);
        cached.read_finished = Some(now);
        cached.invalidated = None;
        self.version.fetch_add(1, Ordering::Release);
    }

    /// Forgets the status of an instance (after a command ran on it).
    pub fn invalidate(&self, id: u64) {
        self.entry(id).cached().invalidated = Some(Instant::now());
        self.version.fetch_add(1, Ordering::Release);
    }

    /// A number that changes whenever any snapshot changes.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Drops everything about an instance (when it is deleted).
    pub fn remove(&self, id: u64) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        self.version.fetch_add(1, Ordering::Release);
    }

    /// Reads the states of many instances of one host in one provider call (one slot), and
    /// records each as [`get`](Self::get) would have.
    pub async fn refresh_many(&self, instances: &[Instance]) {
        let slot = self.slots.acquire_read().await;
        let started = Instant::now();
        let answers = self.provider.statuses(instances).await;
        if let Some(metrics) = self.events.metrics() {
            metrics.provider_call("statuses", started.elapsed().as_secs_f64());
        }
        drop(slot);
        for (instance, answer) in instances.iter().zip(answers) {
            let entry = self.entry(instance.id);
            let _refreshing = entry.refresh.lock().await;
            self.complete(instance, &entry, answer, started).await;
        }
    }

    async fn read(&self, instance: &Instance, entry: &Entry) -> StatusSnapshot {
        let slot = self.slots.acquire_read().await;
        // Started once a slot was free: waiting in line is not age.
        let started = Instant::now();
        let result = self.provider.status(instance).await;
        if let Some(metrics) = self.events.metrics() {
            metrics.provider_call("status", started.elapsed().as_secs_f64());
        }
        drop(slot);
        self.complete(instance, entry, result, started).await
    }

    /// Records what a read of `instance` started at `started` answered: the IPs of running
    /// machines looked up (when not known already), state changes recorded as events.
    async fn complete(
        &self,
        instance: &Instance,
        entry: &Entry,
        result: Result<Vec<Status>, crate::ProviderError>,
        started: Instant,
    ) -> StatusSnapshot {
        let checked_at = Some(OffsetDateTime::now_utc());
        let mut statuses = match result {
            Ok(statuses) => statuses,
            Err(error) => {
                let mut cached = entry.cached();
                cached.snapshot.error = Some(error.to_string());
                cached.snapshot.checked_at = checked_at;
                cached.read_started = Some(started);
                cached.read_finished = Some(Instant::now());
                self.version.fetch_add(1, Ordering::Release);
                return cached.snapshot.clone();
            }
        };
        let known = entry.cached().ips.clone();
        let lookups: Vec<_> = statuses
            .iter()
            .filter(|s| s.is_running() && !known.contains_key(&s.name))
            .map(|s| {
                let provider = self.provider.clone();
                let slots = self.slots.clone();
                let instance = instance.clone();
                let machine = s.name.clone();
                tokio::spawn(async move {
                    let _slot = slots.acquire_read().await;
                    let ip = provider.ip(&instance, &machine).await;
                    (machine, ip)
                })
            })
            .collect();
        let mut ips: HashMap<String, String> = known
            .into_iter()
            .filter(|(name, _)| statuses.iter().any(|s| &s.name == name && s.is_running()))
            .collect();
        let mut ip_error = None;
        for lookup in lookups {
            match lookup.await {
                Ok((machine, Ok(Some(ip)))) => {
                    ips.insert(machine, ip);
                }
                Ok((_, Ok(None))) => {}
                Ok((machine, Err(e))) => ip_error = Some(format!("IP of {machine}: {e}")),
                Err(e) => ip_error = Some(format!("IP lookup failed: {e}")),
            }
        }
        for status in &mut statuses {
            status.ip = ips.get(&status.name).cloned();
        }
        let mut cached = entry.cached();
        if cached.read_started.is_some_and(|newer| newer > started) {
            // An action reported a newer state while this read ran: keep that one.
            return cached.snapshot.clone();
        }
        // A state never read before is no change; one that changed while no Jeto command ran
        // on the instance since it was read was changed outside.
        if let Some(before) = cached.read_started {
            let by_jeto = cached.invalidated.is_some_and(|at| at >= before);
            state_changes(
                &self.events,
                instance.id,
                instance.host.id,
                &cached.snapshot.statuses,
                &statuses,
                !by_jeto,
            );
        }
        cached.ips = ips;
        cached.snapshot = StatusSnapshot {
            statuses,
            checked_at,
            error: ip_error,
        };
        cached.read_started = Some(started);
        cached.read_finished = Some(Instant::now());
        self.version.fetch_add(1, Ordering::Release);
        cached.snapshot.clone()
    }
}
