//! [`CommandScheduler`]: every action becomes a command; commands on one instance run one at a
//! time in submission order, commands on different instances in parallel up to a bound.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::watch;

mod command_cell;

use command_cell::{CellState, CommandCell, FollowerLimits, Stop};
pub use command_cell::{CommandHandle, ConsoleFollower};

use crate::console::{ConsoleBuffer, DEFAULT_CONSOLE_LIMIT};
use crate::history::{interrupt, CommandHistory};
use crate::status_cache::StatusCache;
use crate::{
    Action, ActionRequest, Command, CommandError, CommandStatus, ConsoleSink, DynProvider, Error,
    ErrorKind, Instance, Outcome, ProviderSlots, Result,
};

/// What a caller told to come back later is told to wait.
const RETRY_AFTER: Duration = Duration::from_secs(10);

/// Limits of the scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// Provider calls (with vagrant: processes) at once over all instances: commands, status
    /// reads, IP lookups and creations together.
    pub max_concurrent: usize,
    /// Commands kept per instance, queued and running ones included (the oldest finished ones
    /// are dropped first; a submission that would need to drop an unfinished one is refused).
    pub history_limit: usize,
    /// Bytes of console output kept per command.
    pub console_limit: usize,
    /// Commands waiting to run on one instance; beyond it submissions are refused (429).
    pub max_queued_per_instance: usize,
    /// Commands waiting to run that one key submitted, over all instances.
    pub max_queued_per_key: usize,
    /// Clients following the console of one command at once.
    pub max_followers_per_command: usize,
    /// Clients following consoles at once, all commands together.
    pub max_followers: usize,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            max_concurrent: 2,
            history_limit: 100,
            console_limit: DEFAULT_CONSOLE_LIMIT,
            max_queued_per_instance: 16,
            max_queued_per_key: 64,
            max_followers_per_command: 8,
            max_followers: 256,
        }
    }
}

/// What kind of submission [`CommandScheduler::enqueue`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Enqueue {
    /// Any command on an open instance.
    Normal,
    /// The `sync` creating an instance's folder.
    Creation,
    /// The `destroy` of an instance being deleted (its lane is closed).
    Destroy,
}

/// A command waiting for its turn.
#[derive(Debug)]
struct Pending {
    cell: Arc<CommandCell>,
    instance: Instance,
    request: ActionRequest,
    /// Who submitted it (the per-key bound counts it until it leaves the queue).
    by: String,
}

/// An instance's commands: all kept ones (oldest first), and those waiting to run.
#[derive(Debug, Default)]
struct Lane {
    commands: VecDeque<Arc<CommandCell>>,
    pending: VecDeque<Pending>,
    worker: bool,
    /// Being deleted (or deleted): no new command is accepted.
    closed: bool,
    /// The command creating the instance (its `sync`), while it has not ended: when it fails,
    /// what was queued behind it is cancelled rather than run on a folder that is not there.
    creating: Option<u64>,
    /// Serialises writes of this lane's history, so a later snapshot is written last.
    persist: Arc<Mutex<()>>,
}

#[derive(Debug)]
struct State {
    lanes: HashMap<u64, Lane>,
    /// Queued (not yet started) commands per submitting key.
    queued_by: HashMap<String, usize>,
    next_id: u64,
    reserved: u64,
    shutting_down: bool,
}

impl State {
    /// One command of `by` left the queue.
    fn dequeued(&mut self, by: &str) {
        if let Some(count) = self.queued_by.get_mut(by) {
            *count -= 1;
            if *count == 0 {
                self.queued_by.remove(by);
            }
        }
    }
}

#[derive(Debug)]
struct Inner {
    provider: DynProvider,
    status: Arc<StatusCache>,
    slots: ProviderSlots,
    history: CommandHistory,
    followers: Arc<FollowerLimits>,
    config: SchedulerConfig,
    state: Mutex<State>,
}

/// Runs commands through a provider: one at a time per instance, in submission order, and up
/// to [`SchedulerConfig::max_concurrent`] over all instances; records every command with its
/// console output, and persists them through a [`CommandHistory`].
#[derive(Debug, Clone)]
pub struct CommandScheduler {
    inner: Arc<Inner>,
}

impl CommandScheduler {
    /// A scheduler over `provider`, loading earlier commands from `history` (those that were
    /// queued or running come back `interrupted`; only the newest `history_limit` are kept).
    /// Each provider call takes one of `slots`.
    pub fn new(
        provider: DynProvider,
        status: Arc<StatusCache>,
        slots: ProviderSlots,
        history: CommandHistory,
        config: SchedulerConfig,
    ) -> Result<Self> {
        let loaded = history.load()?;
        let followers = Arc::new(FollowerLimits::new(
            config.max_followers_per_command,
            config.max_followers,
        ));
        let limit = config.history_limit.max(1);
        let mut lanes = HashMap::new();
        for (instance_id, mut commands) in loaded.commands {
            if commands.len() > limit {
                commands.drain(..commands.len() - limit);
                history.save(instance_id, &commands)?;
            }
            let commands = commands
                .into_iter()
                .map(|mut command| {
                    let console = ConsoleBuffer::restore(
                        std::mem::take(&mut command.console),
                        command.console_truncated,
                        config.console_limit,
                    );
                    CommandCell::new(command, console, followers.clone())
                })
                .collect();
            lanes.insert(
                instance_id,
                Lane {
                    commands,
                    ..Lane::default()
                },
            );
        }
        Ok(CommandScheduler {
            inner: Arc::new(Inner {
                provider,
                status,
                slots,
                history,
                followers,
                state: Mutex::new(State {
                    queued_by: HashMap::new(),
                    lanes,
                    next_id: loaded.next_id,
                    reserved: loaded.next_id,
                    shutting_down: false,
                }),
                config,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `request` on `instance` (a snapshot taken now) and returns once the queued
    /// command is recorded.
    ///
    /// The request must already be validated (see [`crate::validate`]). Refused with
    /// [`Error::LimitReached`] beyond the queue bounds, and with [`Error::Conflict`] while the
    /// instance is being deleted.
    pub async fn submit(
        &self,
        instance: Instance,
        request: ActionRequest,
        requested_by: &str,
    ) -> Result<CommandHandle> {
        let instance_id = instance.id;
        let handle = self.enqueue(instance, request, requested_by, Enqueue::Normal)?;
        self.persist(instance_id).await;
        Ok(handle)
    }

    fn enqueue(
        &self,
        instance: Instance,
        request: ActionRequest,
        requested_by: &str,
        mode: Enqueue,
    ) -> Result<CommandHandle> {
        let instance_id = instance.id;
        let config = &self.inner.config;
        let mut state = self.lock();
        if state.shutting_down {
            return Err(Error::ShuttingDown);
        }
        let lane = state.lanes.entry(instance_id).or_default();
        if lane.closed && mode != Enqueue::Destroy {
            return Err(Error::Conflict {
                message: format!(
                    "instance {instance_id} is being deleted and accepts no new command"
                ),
            });
        }
        if lane.pending.len() >= config.max_queued_per_instance.max(1) {
            return Err(Error::limit(
                format!(
                    "instance {instance_id} already has {} commands waiting ({}); the bound is max_queued_per_instance = {}: wait for them to run or cancel some",
                    lane.pending.len(),
                    summary(lane.pending.iter().map(|p| p.request.action)),
                    config.max_queued_per_instance
                ),
                RETRY_AFTER,
            ));
        }
        let limit = config.history_limit.max(1);
        let unfinished = lane
            .commands
            .iter()
            .filter(|c| !c.status().is_finished())
            .count();
        if unfinished >= limit {
            return Err(Error::limit(
                format!(
                    "instance {instance_id} already keeps {unfinished} unfinished commands, its whole history_limit ({limit}); wait for them to end"
                ),
                RETRY_AFTER,
            ));
        }
        let by_key = state.queued_by.get(requested_by).copied().unwrap_or(0);
        if by_key >= config.max_queued_per_key.max(1) {
            let mut per_instance: BTreeMap<u64, usize> = BTreeMap::new();
            for (id, lane) in &state.lanes {
                let mine = lane.pending.iter().filter(|p| p.by == requested_by).count();
                if mine > 0 {
                    per_instance.insert(*id, mine);
                }
            }
            let listed: Vec<String> = per_instance
                .iter()
                .map(|(id, n)| format!("{n} on instance {id}"))
                .collect();
            return Err(Error::limit(
                format!(
                    "key {requested_by:?} already has {by_key} commands waiting ({}); the bound is max_queued_per_key = {}: wait for them to run or cancel some",
                    listed.join(", "),
                    config.max_queued_per_key
                ),
                RETRY_AFTER,
            ));
        }
        let id = state.next_id;
        state.reserved = self.inner.history.reserve(id, state.reserved)?;
        state.next_id += 1;
        let command = Command {
            id,
            instance_id,
            action: request.action,
            machine: request.machine.clone(),
            script: request.script.clone(),
            status: CommandStatus::Queued,
            exit_code: None,
            error: None,
            console: String::new(),
            console_truncated: false,
            created_at: OffsetDateTime::now_utc(),
            started_at: None,
            finished_at: None,
            requested_by: Some(requested_by.to_owned()),
        };
        let cell = CommandCell::new(
            command,
            ConsoleBuffer::new(config.console_limit),
            self.inner.followers.clone(),
        );
        *state.queued_by.entry(requested_by.to_owned()).or_default() += 1;
        let lane = state.lanes.entry(instance_id).or_default();
        lane.commands.push_back(cell.clone());
        prune(lane, limit);
        lane.pending.push_back(Pending {
            cell: cell.clone(),
            instance,
            request,
            by: requested_by.to_owned(),
        });
        if mode == Enqueue::Creation {
            lane.creating = Some(id);
        }
        if !lane.worker {
            lane.worker = true;
            tokio::spawn(self.clone().work(instance_id));
        }
        Ok(CommandHandle { cell })
    }

    /// Queues the `sync` that creates a registered instance's folder; if it does not succeed,
    /// the instance is closed and everything queued behind it ends `cancelled`.
    pub async fn submit_creation(
        &self,
        instance: Instance,
        requested_by: &str,
    ) -> Result<CommandHandle> {
        let instance_id = instance.id;
        let handle = self.enqueue(
            instance,
            ActionRequest::new(Action::Sync),
            requested_by,
            Enqueue::Creation,
        )?;
        self.persist(instance_id).await;
        Ok(handle)
    }

    /// After a creation's `sync` ended without success: closes the lane and cancels what
    /// waits in it.
    fn creation_failed(&self, instance_id: u64) {
        let cancelled: Vec<Arc<CommandCell>> = {
            let mut state = self.lock();
            let state = &mut *state;
            let Some(lane) = state.lanes.get_mut(&instance_id) else {
                return;
            };
            lane.closed = true;
            let pending: Vec<Pending> = lane.pending.drain(..).collect();
            for p in &pending {
                state.dequeued(&p.by);
            }
            pending.into_iter().map(|p| p.cell).collect()
        };
        for cell in cancelled {
            cell.update(|state| {
                if state.command.status == CommandStatus::Queued {
                    state.command.status = CommandStatus::Cancelled;
                    state.command.finished_at = Some(OffsetDateTime::now_utc());
                    state.command.error = Some(CommandError::message(
                        "cancelled: the instance's creation failed, and the instance is removed",
                    ));
                }
            });
        }
    }

    /// Refuses new commands on an instance about to be deleted; [`Error::Conflict`] when it
    /// already is being deleted. The commands queued before still run first.
    pub fn close(&self, instance_id: u64) -> Result<()> {
        let mut state = self.lock();
        let lane = state.lanes.entry(instance_id).or_default();
        if lane.closed {
            return Err(Error::Conflict {
                message: format!("instance {instance_id} is already being deleted"),
            });
        }
        lane.closed = true;
        Ok(())
    }

    /// Accepts commands again on an instance whose deletion did not happen, or on a new
    /// instance that got the id of a deleted one.
    pub fn reopen(&self, instance_id: u64) {
        if let Some(lane) = self.lock().lanes.get_mut(&instance_id) {
            lane.closed = false;
        }
    }

    /// Runs `destroy` on a closed instance (see [`close`](CommandScheduler::close)) and waits
    /// for it.
    pub async fn destroy_closed(&self, instance: Instance, requested_by: &str) -> Result<Command> {
        let instance_id = instance.id;
        let handle = self.enqueue(
            instance,
            ActionRequest::new(Action::Destroy),
            requested_by,
            Enqueue::Destroy,
        )?;
        self.persist(instance_id).await;
        Ok(handle.wait().await)
    }

    /// A command that did not need to run (e.g. `destroy` of a folder that is gone), recorded
    /// as succeeded with `note` as its console, under a fresh id. It is not kept.
    pub fn skipped(
        &self,
        instance_id: u64,
        action: Action,
        requested_by: &str,
        note: &str,
    ) -> Result<Command> {
        let mut state = self.lock();
        let id = state.next_id;
        state.reserved = self.inner.history.reserve(id, state.reserved)?;
        state.next_id += 1;
        let now = OffsetDateTime::now_utc();
        Ok(Command {
            id,
            instance_id,
            action,
            machine: None,
            script: None,
            status: CommandStatus::Succeeded,
            exit_code: Some(0),
            error: None,
            console: format!("{note}\n"),
            console_truncated: false,
            created_at: now,
            started_at: Some(now),
            finished_at: Some(now),
            requested_by: Some(requested_by.to_owned()),
        })
    }

    /// The commands of an instance, newest first.
    pub fn commands(&self, instance_id: u64) -> Vec<Command> {
        let cells: Vec<_> = match self.lock().lanes.get(&instance_id) {
            Some(lane) => lane.commands.iter().rev().cloned().collect(),
            None => Vec::new(),
        };
        cells.iter().map(|c| c.snapshot()).collect()
    }

    /// One command of an instance.
    pub fn command(&self, instance_id: u64, command_id: u64) -> Result<CommandHandle> {
        self.lock()
            .lanes
            .get(&instance_id)
            .and_then(|lane| {
                lane.commands
                    .iter()
                    .find(|c| c.lock().command.id == command_id)
            })
            .map(|cell| CommandHandle { cell: cell.clone() })
            .ok_or(Error::CommandNotFound {
                instance_id,
                command_id,
            })
    }

    /// Whether a command of the instance is queued or running.
    pub fn is_busy(&self, instance_id: u64) -> bool {
        self.lock()
            .lanes
            .get(&instance_id)
            .is_some_and(|lane| lane.commands.iter().any(|c| !c.status().is_finished()))
    }

    /// Cancels a command: a queued one never starts; a running one is stopped (its process
    /// tree killed) and ends `cancelled`. Returns the command once it has ended.
    pub async fn cancel(&self, instance_id: u64, command_id: u64) -> Result<Command> {
        let handle = self.command(instance_id, command_id)?;
        let was_queued = handle.cell.update(|state| {
            let queued = state.command.status == CommandStatus::Queued;
            if queued {
                state.command.status = CommandStatus::Cancelled;
                state.command.finished_at = Some(OffsetDateTime::now_utc());
                state.command.error = Some(CommandError::message("cancelled before it started"));
            }
            queued
        });
        let status = handle.cell.status();
        if !was_queued && status.is_finished() {
            return Err(Error::Conflict {
                message: format!(
                    "command {command_id} has already ended ({}); only queued or running commands can be cancelled",
                    status.as_str()
                ),
            });
        }
        handle.cell.stop.send_replace(Stop::Cancel);
        if was_queued {
            let mut state = self.lock();
            let state = &mut *state;
            if let Some(lane) = state.lanes.get_mut(&instance_id) {
                if let Some(index) = lane
                    .pending
                    .iter()
                    .position(|p| Arc::ptr_eq(&p.cell, &handle.cell))
                {
                    let pending = lane.pending.remove(index).expect("found above");
                    state.dequeued(&pending.by);
                }
            }
        }
        if was_queued {
            self.persist(instance_id).await;
        }
        Ok(handle.wait().await)
    }

    /// Forgets an instance's commands (after the instance is deleted): queued ones end
    /// `cancelled`, running ones are stopped, and everyone waiting on them is woken. The
    /// instance stays closed to new commands until [`reopen`](CommandScheduler::reopen).
    pub async fn forget(&self, instance_id: u64) -> Result<()> {
        let lane = {
            let mut state = self.lock();
            let lane = state.lanes.insert(
                instance_id,
                Lane {
                    closed: true,
                    ..Lane::default()
                },
            );
            if let Some(lane) = &lane {
                for pending in &lane.pending {
                    state.dequeued(&pending.by);
                }
            }
            lane
        };
        for cell in lane.iter().flat_map(|lane| lane.commands.iter()) {
            cell.update(|state| {
                if state.command.status == CommandStatus::Queued {
                    state.command.status = CommandStatus::Cancelled;
                    state.command.finished_at = Some(OffsetDateTime::now_utc());
                    state.command.error =
                        Some(CommandError::message("cancelled: the instance was deleted"));
                }
            });
            cell.stop.send_replace(Stop::Cancel);
        }
        let history = self.inner.history.clone();
        blocking(move || history.remove(instance_id)).await
    }

    /// Drops an instance's finished commands at start-up, before anything runs (see
    /// [`forget`](CommandScheduler::forget) for a live instance).
    pub(crate) fn discard(&self, instance_id: u64) -> Result<()> {
        self.lock().lanes.remove(&instance_id);
        self.inner.history.remove(instance_id)
    }

    /// Stops accepting commands, stops every queued and running one (they end
    /// `interrupted`), and waits up to `deadline` for running ones to be recorded.
    pub async fn shutdown(&self, deadline: Duration) {
        let cells: Vec<Arc<CommandCell>> = {
            let mut state = self.lock();
            state.shutting_down = true;
            state
                .lanes
                .values()
                .flat_map(|lane| lane.commands.iter().cloned())
                .filter(|c| !c.status().is_finished())
                .collect()
        };
        for cell in &cells {
            cell.update(|state| {
                if state.command.status == CommandStatus::Queued {
                    interrupt(&mut state.command);
                }
            });
            cell.stop.send_replace(Stop::Shutdown);
        }
        let all = async {
            for cell in &cells {
                CommandHandle { cell: cell.clone() }.wait().await;
            }
        };
        if tokio::time::timeout(deadline, all).await.is_err() {
            tracing::warn!(
                "commands still running at the shutdown deadline are recorded as interrupted"
            );
            for cell in &cells {
                cell.update(|state| {
                    if !state.command.status.is_finished() {
                        interrupt(&mut state.command);
                    }
                });
            }
        }
        let lanes: Vec<u64> = self.lock().lanes.keys().copied().collect();
        for instance_id in lanes {
            self.persist(instance_id).await;
        }
    }

    /// Runs the pending commands of one instance, in order, until there are none.
    async fn work(self, instance_id: u64) {
        loop {
            let next = {
                let mut state = self.lock();
                let Some(lane) = state.lanes.get_mut(&instance_id) else {
                    return;
                };
                match lane.pending.pop_front() {
                    Some(next) => {
                        state.dequeued(&next.by);
                        next
                    }
                    None => {
                        lane.worker = false;
                        return;
                    }
                }
            };
            let id = next.cell.lock().command.id;
            let cell = next.cell.clone();
            self.run_one(next.cell, next.instance, next.request).await;
            let creation = {
                let mut state = self.lock();
                state
                    .lanes
                    .get_mut(&instance_id)
                    .filter(|lane| lane.creating == Some(id))
                    .map(|lane| lane.creating = None)
                    .is_some()
            };
            if creation && cell.status() != CommandStatus::Succeeded {
                self.creation_failed(instance_id);
                self.persist(instance_id).await;
            }
        }
    }

    async fn run_one(&self, cell: Arc<CommandCell>, instance: Instance, request: ActionRequest) {
        let mut stop = cell.stop.subscribe();
        let stopped = |stop: &mut watch::Receiver<Stop>| {
            let mut stop = stop.clone();
            async move {
                let _ = stop.wait_for(|s| *s != Stop::Keep).await;
            }
        };
        // A status read takes its slot in the status cache, where reads are shared.
        let slot = if request.action == Action::Status {
            None
        } else {
            tokio::select! {
                slot = self.inner.slots.acquire() => Some(slot),
                () = stopped(&mut stop) => return,
            }
        };
        let started = cell.update(|state| {
            let queued = state.command.status == CommandStatus::Queued;
            if queued {
                state.command.status = CommandStatus::Running;
                state.command.started_at = Some(OffsetDateTime::now_utc());
            }
            queued
        });
        if !started {
            return;
        }
        self.persist(instance.id).await;
        let sink = ConsoleSink::new({
            let cell = cell.clone();
            move |line: &str| cell.update(|state| state.console.push_line(line))
        });
        let result = tokio::select! {
            result = self.execute(&instance, &request, sink) => Some(result),
            () = stopped(&mut stop) => None,
        };
        drop(slot);
        // Invalidate before waiters wake, so the status they read is from after the command.
        if request.action != Action::Status {
            self.inner.status.invalidate(instance.id);
        }
        cell.update(|state| finish(state, result, *stop.borrow()));
        self.persist(instance.id).await;
    }

    async fn execute(
        &self,
        instance: &Instance,
        request: &ActionRequest,
        sink: ConsoleSink,
    ) -> Result<Outcome> {
        if request.action != Action::Status {
            return self.inner.provider.run(instance, request, sink).await;
        }
        let snapshot = self.inner.status.get(instance, Duration::ZERO).await;
        for s in &snapshot.statuses {
            sink.line(&format!(
                "{:<25} {} ({}){}",
                s.name,
                s.status,
                s.provider.as_deref().unwrap_or(&instance.host.provider),
                s.ip.as_deref()
                    .map(|ip| format!(" {ip}"))
                    .unwrap_or_default()
            ));
        }
        Ok(match snapshot.error {
            Some(error) => Outcome::failure(1, CommandError::message(error)),
            None => Outcome::success(),
        })
    }

    /// Writes an instance's commands (on a blocking thread); a failure is logged, the
    /// commands stay in memory.
    async fn persist(&self, instance_id: u64) {
        let scheduler = self.clone();
        blocking(move || {
            scheduler.persist_now(instance_id);
            Ok(())
        })
        .await
        .ok();
    }

    fn persist_now(&self, instance_id: u64) {
        let Some(lock) = self
            .lock()
            .lanes
            .get(&instance_id)
            .map(|l| l.persist.clone())
        else {
            return;
        };
        let _ordered = lock.lock().unwrap_or_else(|e| e.into_inner());
        let cells: Vec<_> = match self.lock().lanes.get(&instance_id) {
            Some(lane) => lane.commands.iter().cloned().collect(),
            None => return,
        };
        let commands: Vec<Command> = cells.iter().map(|c| c.snapshot()).collect();
        if let Err(error) = self.inner.history.save(instance_id, &commands) {
            tracing::error!(instance_id, %error, "could not persist the command history");
        }
    }
}

/// Runs file work on tokio's blocking threads, off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::storage("a file task", e))?
}

/// `3 start, 1 stop`: what a queue holds, for people.
fn summary(actions: impl Iterator<Item = Action>) -> String {
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for action in actions {
        *counts.entry(action.as_str()).or_default() += 1;
    }
    counts
        .iter()
        .map(|(action, n)| format!("{n} {action}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Drops the oldest finished commands beyond `limit`.
fn prune(lane: &mut Lane, limit: usize) {
    while lane.commands.len() > limit {
        match lane.commands.iter().position(|c| c.status().is_finished()) {
            Some(index) => {
                lane.commands.remove(index);
            }
            None => break,
        }
    }
}

fn finish(state: &mut CellState, result: Option<Result<Outcome>>, stop: Stop) {
    let command = &mut state.command;
    command.finished_at = Some(OffsetDateTime::now_utc());
    match result {
        None if stop == Stop::Shutdown => interrupt(command),
        None => {
            command.status = CommandStatus::Cancelled;
            command.error = Some(CommandError::message(
                "cancelled while running; its processes were killed",
            ));
        }
        Some(Ok(outcome)) => {
            let success = outcome.is_success();
            let code = outcome.exit_code;
            command.exit_code = Some(code);
            command.status = if success {
                CommandStatus::Succeeded
            } else {
                CommandStatus::Failed
            };
            command.error = outcome.error.or_else(|| {
                (!success).then(|| CommandError::message(format!("exited with code {code}")))
            });
        }
        Some(Err(error)) => {
            command.status = if error.kind() == ErrorKind::Timeout {
                CommandStatus::TimedOut
            } else {
                CommandStatus::Failed
            };
            state.console.push_line(&format!("jeto: {error}"));
            // The class names Jeto as the origin, with the error's stable code.
            command.error = Some(CommandError {
                class: Some(format!("jeto::{}", error.code())),
                message: error.to_string(),
            });
        }
    }
}
