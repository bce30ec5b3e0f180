//! [`InMemoryProvider`]: a provider whose machines live in memory, the test double to reach
//! for first (like `object_store`'s `InMemory`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use crate::{
    Action, ActionRequest, CheckedRequest, CommandError, ConsoleSink, FailureKind, Instance,
    InstanceSource, MachineSnapshots, Outcome, Provider, ProviderError, Result, Status,
};

/// A provider that keeps machine states in memory and counts what it is asked.
///
/// Instances are known by their `path`: register them with [`with_instance`]. Scripts behave
/// like a tiny shell: `echo WORDS` prints the words, `exit N` exits with code `N`, `sleep S`
/// waits `S` seconds, and `;` separates commands. A [`delay`] makes every call take time, so
/// tests can observe overlap; [`stats`] tells what was called and how much overlapped.
///
/// [`with_instance`]: InMemoryProvider::with_instance
/// [`delay`]: InMemoryProvider::with_delay
/// [`stats`]: InMemoryProvider::stats
///
/// ```
/// # tokio_test_block_on(async {
/// use jeto_core::{testing::InMemoryProvider, Action, ActionRequest, ConsoleSink, Provider};
/// let provider = InMemoryProvider::new().with_instance("/srv/web", &["www", "db"]);
/// let instance = jeto_core::testing::instance_at(1, "/srv/web");
/// let start = ActionRequest::new(Action::Start).on("www").check(&instance).unwrap();
/// provider.run(&instance, &start, ConsoleSink::discard()).await.unwrap();
/// let states: Vec<_> = provider.status(&instance).await.unwrap().into_iter().map(|s| s.status).collect();
/// assert_eq!(states, ["running", "not_created"]);
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct InMemoryProvider {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Machines of each instance path, in Vagrantfile order.
    instances: HashMap<String, Vec<(String, String)>>,
    delay: Duration,
    stats: ProviderStats,
    in_flight: HashMap<String, usize>,
    in_flight_total: usize,
    /// Snapshots of each (instance path, machine): name and the state saved, oldest first.
    snapshots: HashMap<(String, String), Vec<(String, String)>>,
}

/// What an [`InMemoryProvider`] was asked, for assertions in tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderStats {
    /// Calls to `status`.
    pub status_calls: usize,
    /// Calls to `ip`.
    pub ip_calls: usize,
    /// Every `run`, in the order they started: (instance path, request).
    pub runs: Vec<(String, ActionRequest)>,
    /// The most calls in flight at once on a single instance.
    pub max_in_flight_per_instance: usize,
    /// The most calls in flight at once over all instances.
    pub max_in_flight_total: usize,
}

/// The state id of a machine that was never started.
pub const NOT_CREATED: &str = "not_created";
/// The state id of a halted machine.
pub const POWEROFF: &str = "poweroff";
/// The state of a suspended machine (as VirtualBox names it).
pub const SAVED: &str = "saved";

impl InMemoryProvider {
    /// An empty provider with no instances and no delay.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers an instance folder with its machines, all `not_created`.
    pub fn with_instance(self, path: impl Into<String>, machines: &[&str]) -> Self {
        self.add_instance(path, machines);
        self
    }

    /// Registers an instance folder with its machines, all `not_created`.
    pub fn add_instance(&self, path: impl Into<String>, machines: &[&str]) {
        let machines = machines
            .iter()
            .map(|m| (m.to_string(), NOT_CREATED.to_string()))
            .collect();
        self.lock().instances.insert(path.into(), machines);
    }

    /// Makes every call wait `delay` first.
    pub fn with_delay(self, delay: Duration) -> Self {
        self.lock().delay = delay;
        self
    }

    /// Calls running now (a dropped call's future no longer counts).
    pub fn running(&self) -> usize {
        self.lock().in_flight_total
    }

    /// What was called so far.
    pub fn stats(&self) -> ProviderStats {
        self.lock().stats.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn enter(&self, path: &str) -> InFlight {
        let delay = {
            let mut inner = self.lock();
            let count = inner.in_flight.entry(path.to_owned()).or_default();
            *count += 1;
            let count = *count;
            inner.in_flight_total += 1;
            let total = inner.in_flight_total;
            let stats = &mut inner.stats;
            stats.max_in_flight_per_instance = stats.max_in_flight_per_instance.max(count);
            stats.max_in_flight_total = stats.max_in_flight_total.max(total);
            inner.delay
        };
        let guard = InFlight {
            provider: self.clone(),
            path: path.to_owned(),
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        guard
    }

    fn machines(&self, instance: &Instance) -> Result<Vec<(String, String)>, ProviderError> {
        self.lock()
            .instances
            .get(&instance.spec.path)
            .cloned()
            .ok_or_else(|| unknown_folder(&instance.spec.path))
    }

    fn set_state(
        &self,
        instance: &Instance,
        machine: Option<&str>,
        state: &str,
    ) -> Result<Vec<String>, ProviderError> {
        let mut inner = self.lock();
        let machines = inner
            .instances
            .get_mut(&instance.spec.path)
            .ok_or_else(|| unknown_folder(&instance.spec.path))?;
        let mut touched = Vec::new();
        for (name, current) in machines.iter_mut() {
            if machine.is_none_or(|m| m == name) {
                *current = state.to_owned();
                touched.push(name.clone());
            }
        }
        Ok(touched)
    }
}

impl InMemoryProvider {
    /// Saves, restores or deletes snapshot `name` of the targeted machines, as Vagrant does:
    /// a machine not created is skipped on save; a duplicate or unknown name is refused.
    fn snapshot(
        &self,
        instance: &Instance,
        machine: Option<&str>,
        action: Action,
        name: &str,
        console: &ConsoleSink,
    ) -> Result<Outcome, ProviderError> {
        let path = instance.spec.path.clone();
        let mut inner = self.lock();
        let targets: Vec<(String, String)> = inner
            .instances
            .get(&path)
            .ok_or_else(|| unknown_folder(&path))?
            .iter()
            .filter(|(n, _)| machine.is_none_or(|m| m == n))
            .cloned()
            .collect();
        let refused = |message: String| {
            Ok(Outcome::failure(
                1,
                CommandError::new(FailureKind::InvalidRequest, message),
            ))
        };
        for (target, state) in targets {
            let saved = inner
                .snapshots
                .entry((path.clone(), target.clone()))
                .or_default();
            let found = saved.iter().position(|(n, _)| n == name);
            match (action, found) {
                (Action::SnapshotSave, _) if state == NOT_CREATED => {
                    console.line(&format!("==> {target}: not created, no snapshot taken"));
                }
                (Action::SnapshotSave, Some(_)) => {
                    return refused(format!("{target} already has a snapshot {name:?}"))
                }
                (Action::SnapshotSave, None) => {
                    saved.push((name.to_owned(), state));
                    console.line(&format!("==> {target}: snapshot {name} saved"));
                }
                (_, None) => return refused(format!("{target} has no snapshot {name:?}")),
                (Action::SnapshotDelete, Some(index)) => {
                    saved.remove(index);
                    console.line(&format!("==> {target}: snapshot {name} deleted"));
                }
                (_, Some(index)) => {
                    let state = saved[index].1.clone();
                    if let Some(slot) = inner
                        .instances
                        .get_mut(&path)
                        .and_then(|m| m.iter_mut().find(|(n, _)| n == &target))
                    {
                        slot.1 = state;
                    }
                    console.line(&format!("==> {target}: snapshot {name} restored"));
                }
            }
        }
        Ok(Outcome::success())
    }
}

/// Decrements the in-flight counters when a call ends, also when its future is dropped.
struct InFlight {
    provider: InMemoryProvider,
    path: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut inner = self.provider.lock();
        if let Some(count) = inner.in_flight.get_mut(&self.path) {
            *count -= 1;
        }
        inner.in_flight_total -= 1;
    }
}

fn unknown_folder(path: &str) -> ProviderError {
    ProviderError::InstanceFolder {
        path: PathBuf::from(path),
        reason: "is not an instance of this InMemoryProvider (register it with with_instance)"
            .into(),
    }
}

/// A bare instance at `path` on a `memory` host, for tests and examples.
pub fn instance_at(id: u64, path: &str) -> Instance {
    let spec = crate::InstanceSpec {
        environment: "test".into(),
        ..crate::InstanceSpec::new(format!("instance-{id}"), path)
    };
    let host = crate::Host {
        id: 1,
        ..crate::Host::new("memory", "memory")
    };
    Instance::new(id, spec, host)
}

#[async_trait]
impl Provider for InMemoryProvider {
    async fn status(&self, instance: &Instance) -> Result<Vec<Status>, ProviderError> {
        self.lock().stats.status_calls += 1;
        let _guard = self.enter(&instance.spec.path).await;
        Ok(self
            .machines(instance)?
            .into_iter()
            .map(|(name, state)| Status {
                provider: Some("memory".into()),
                ..Status::new(name, state)
            })
            .collect())
    }

    async fn run(
        &self,
        instance: &Instance,
        request: &CheckedRequest,
        console: ConsoleSink,
    ) -> Result<Outcome, ProviderError> {
        let command = request.script_command();
        if request.action == Action::Sync {
            if instance.spec.git_url.is_none() && instance.spec.archive_url.is_none() {
                return Err(ProviderError::invalid(
                    "sync needs an instance created from git or an archive",
                ));
            }
            self.lock()
                .stats
                .runs
                .push((instance.spec.path.clone(), (**request).clone()));
            console.line("synced (memory)");
            return Ok(Outcome::success());
        }
        let machines = self.machines(instance)?;
        if let Some(machine) = &request.machine {
            if !machines.iter().any(|(name, _)| name == machine) {
                return Ok(Outcome::failure(
                    1,
                    CommandError::new(
                        FailureKind::MachineNotFound,
                        format!("the instance has no machine {machine:?}"),
                    ),
                ));
            }
        }
        self.lock()
            .stats
            .runs
            .push((instance.spec.path.clone(), (**request).clone()));
        let _guard = self.enter(&instance.spec.path).await;
        let machine = request.machine.as_deref();
        let new_state = match request.action {
            Action::Start | Action::Reload => Some(Status::RUNNING),
            Action::Stop => Some(POWEROFF),
            Action::Suspend => Some(SAVED),
            Action::Resume => Some(Status::RUNNING),
            Action::Destroy => Some(NOT_CREATED),
            Action::Status => {
                for (name, state) in machines {
                    console.line(&format!("{name:<25} {state} (memory)"));
                }
                None
            }
            Action::Rsync | Action::Provision => {
                let stopped = machines
                    .iter()
                    .filter(|(name, _)| machine.is_none_or(|m| m == name))
                    .any(|(_, state)| state != Status::RUNNING);
                if stopped {
                    return Ok(not_running(machine.unwrap_or("default")));
                }
                None
            }
            Action::Sync => None,
            Action::Validate => {
                console.line("Vagrantfile validated (memory)");
                None
            }
            Action::SnapshotSave | Action::SnapshotRestore | Action::SnapshotDelete => {
                let name = request.snapshot.as_deref().unwrap_or_default();
                return self.snapshot(instance, machine, request.action, name, &console);
            }
            Action::RunScript => {
                let machine = machine.unwrap_or_default();
                let running = machines
                    .iter()
                    .any(|(n, s)| n == machine && s == Status::RUNNING);
                if !running {
                    return Ok(not_running(machine));
                }
                return Ok(run_script(command.unwrap_or_default(), &console).await);
            }
        };
        if let Some(state) = new_state {
            for name in self.set_state(instance, machine, state)? {
                console.line(&format!("==> {name}: {} ({state})", request.action));
            }
        } else {
            console.line(&format!("==> {}", request.action));
        }
        Ok(Outcome::success())
    }

    async fn snapshots(&self, instance: &Instance) -> Result<Vec<MachineSnapshots>, ProviderError> {
        let machines = self.machines(instance)?;
        let inner = self.lock();
        Ok(machines
            .into_iter()
            .map(|(machine, _)| MachineSnapshots {
                snapshots: inner
                    .snapshots
                    .get(&(instance.spec.path.clone(), machine.clone()))
                    .map(|saved| saved.iter().map(|(name, _)| name.clone()).collect())
                    .unwrap_or_default(),
                machine,
            })
            .collect())
    }

    async fn ip(
        &self,
        instance: &Instance,
        machine: &str,
    ) -> Result<Option<String>, ProviderError> {
        self.lock().stats.ip_calls += 1;
        let _guard = self.enter(&instance.spec.path).await;
        let machines = self.machines(instance)?;
        Ok(machines
            .iter()
            .position(|(name, state)| name == machine && state == Status::RUNNING)
            .map(|index| format!("192.0.2.{}", 10 + index)))
    }

    async fn prepare(
        &self,
        _host: &crate::Host,
        source: &InstanceSource,
        _target: &Path,
    ) -> Result<PathBuf, ProviderError> {
        match source {
            InstanceSource::Path(path) => {
                let key = path.to_string_lossy();
                if self.lock().instances.contains_key(key.as_ref()) {
                    Ok(path.clone())
                } else {
                    Err(unknown_folder(&key))
                }
            }
            other => Err(ProviderError::invalid(format!(
                "the in-memory provider only knows registered paths, not {other:?}"
            ))),
        }
    }
}

fn not_running(machine: &str) -> Outcome {
    Outcome::failure(
        1,
        CommandError::new(
            FailureKind::MachineNotRunning,
            format!("machine {machine} is not running"),
        ),
    )
}

/// Interprets `echo`, `exit` and `sleep`, separated by `;`.
async fn run_script(command: &str, console: &ConsoleSink) -> Outcome {
    for part in command.split(';').map(str::trim) {
        let (word, rest) = part.split_once(' ').unwrap_or((part, ""));
        match word {
            "echo" => console.line(rest),
            "exit" => {
                let code = rest.trim().parse().unwrap_or(1);
                return if code == 0 {
                    Outcome::success()
                } else {
                    Outcome::failure(
                        code,
                        CommandError::message(format!("script exited with code {code}")),
                    )
                };
            }
            "sleep" => {
                let secs: f64 = rest.trim().parse().unwrap_or(0.0);
                tokio::time::sleep(Duration::from_secs_f64(secs)).await;
            }
            "" => {}
            other => console.line(&format!("{other}: simulated")),
        }
    }
    Outcome::success()
}
