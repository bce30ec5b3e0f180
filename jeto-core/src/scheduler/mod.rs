//! [`CommandScheduler`]: every action becomes a command; commands on one instance run one at a
//! time in submission order, and every provider call takes one of the [`ProviderSlots`].
//! Commands are recorded in the [`Store`] as they are queued, start, stream output and end;
//! only queued and running ones are kept in memory.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use time::OffsetDateTime;

mod admission;
mod command_cell;
mod status_cache;
mod worker;

use command_cell::{CommandCell, FollowerLimits, Stop};
pub use command_cell::{CommandHandle, ConsoleFollower};

use crate::events::EventLog;
use crate::metrics::Metrics;
use crate::model::console::{ConsoleBuffer, DEFAULT_CONSOLE_LIMIT};
use crate::store::{Page, Store};
use crate::{
    Action, ActionRequest, Command, CommandStatus, DynProvider, Error, EventKind, Instance,
    ProviderSlots, Result,
};
pub(crate) use status_cache::{StatusCache, StatusSnapshot};

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

/// An instance's live commands: the unfinished ones (oldest first) and those waiting to run.
#[derive(Debug, Default)]
struct Lane {
    live: VecDeque<Arc<CommandCell>>,
    pending: VecDeque<Pending>,
    worker: bool,
    /// Being deleted (or deleted): no new command is accepted.
    closed: bool,
    /// The command creating the instance (its `sync`), while it has not ended: when it fails,
    /// what was queued behind it is cancelled rather than run on a folder that is not there.
    creating: Option<u64>,
    /// Submissions checked against the bounds and being recorded.
    reserved: usize,
    /// Taken by a submission while it is recorded, so ids follow the order of the queue.
    submitting: Arc<tokio::sync::Mutex<()>>,
    /// The instance's host, for the events of its commands.
    host: Option<u64>,
}

#[derive(Debug, Default)]
struct State {
    lanes: HashMap<u64, Lane>,
    /// Queued (not yet started) commands per submitting key, reserved ones included.
    queued_by: HashMap<String, usize>,
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
    store: Arc<dyn Store>,
    followers: Arc<FollowerLimits>,
    config: SchedulerConfig,
    state: Mutex<State>,
    events: EventLog,
}

/// Runs commands through a provider: one at a time per instance, in submission order, one
/// [`ProviderSlots`] slot per provider call; records every command and its console output in
/// the [`Store`] (the output as it streams, at least every second).
#[derive(Debug, Clone)]
pub(crate) struct CommandScheduler {
    inner: Arc<Inner>,
}

impl CommandScheduler {
    /// A scheduler over `provider` recording in `store`. Call
    /// [`recover`](CommandScheduler::recover) once before submitting.
    pub fn new(
        provider: DynProvider,
        status: Arc<StatusCache>,
        slots: ProviderSlots,
        store: Arc<dyn Store>,
        config: SchedulerConfig,
        events: EventLog,
    ) -> Self {
        CommandScheduler {
            inner: Arc::new(Inner {
                provider,
                status,
                slots,
                store,
                events,
                followers: Arc::new(FollowerLimits::new(
                    config.max_followers_per_command,
                    config.max_followers,
                )),
                config,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// At start: commands a previous run left queued or running become `interrupted` (and are
    /// returned), and every instance keeps at most `history_limit` commands.
    pub async fn recover(&self) -> Result<Vec<Command>> {
        let interrupted = self.inner.store.interrupt_unfinished().await?;
        if !interrupted.is_empty() {
            tracing::warn!(
                interrupted = interrupted.len(),
                "commands the previous run left unfinished are recorded as interrupted"
            );
        }
        self.inner
            .store
            .prune_commands(self.inner.config.history_limit.max(1))
            .await?;
        Ok(interrupted)
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
        self.enqueue(instance, request, requested_by, Enqueue::Normal)
            .await
    }

    /// Queues the `sync` that creates a registered instance's folder; if it does not succeed,
    /// the instance is closed and everything queued behind it ends `cancelled`.
    pub async fn submit_creation(
        &self,
        instance: Instance,
        requested_by: &str,
    ) -> Result<CommandHandle> {
        let request = ActionRequest::new(Action::Sync);
        self.enqueue(instance, request, requested_by, Enqueue::Creation)
            .await
    }

    async fn enqueue(
        &self,
        instance: Instance,
        request: ActionRequest,
        requested_by: &str,
        mode: Enqueue,
    ) -> Result<CommandHandle> {
        let instance_id = instance.id;
        let config = &self.inner.config;
        let turn = self
            .lock()
            .lanes
            .entry(instance_id)
            .or_default()
            .submitting
            .clone();
        let _turn = turn.lock().await;
        self.reserve(instance_id, requested_by, mode)?;
        let command = Command::queued(instance_id, &request, requested_by);
        let insert = self
            .inner
            .store
            .insert_command(command, config.history_limit.max(1));
        let metrics = self.inner.events.metrics();
        let recorded = Metrics::timed(metrics, "insert_command", insert).await;
        let mut state = self.lock();
        let state = &mut *state;
        let lane = state.lanes.entry(instance_id).or_default();
        // The lane may have been forgotten meanwhile (a fresh one then has nothing reserved).
        lane.reserved = lane.reserved.saturating_sub(1);
        let deleted = lane.closed && mode != Enqueue::Destroy;
        let command = match recorded {
            Ok(command) if !deleted => command,
            Ok(mut command) => {
                state.dequeued(requested_by);
                command.cancel("cancelled: the instance was deleted");
                let store = self.inner.store.clone();
                tokio::spawn(async move { store.update_command(&command).await });
                return Err(Error::Conflict {
                    message: format!("instance {instance_id} was deleted meanwhile"),
                });
            }
            Err(error) => {
                state.dequeued(requested_by);
                return Err(error);
            }
        };
        let cell = CommandCell::new(
            command,
            ConsoleBuffer::new(config.console_limit),
            self.inner.followers.clone(),
        );
        if mode == Enqueue::Creation {
            lane.creating = Some(cell.id());
        }
        lane.host = Some(instance.host.id);
        self.inner.events.emit(
            Some(instance_id),
            Some(instance.host.id),
            EventKind::CommandQueued {
                command: cell.id(),
                action: request.action,
                requested_by: requested_by.to_owned(),
            },
        );
        lane.live.push_back(cell.clone());
        lane.pending.push_back(Pending {
            cell: cell.clone(),
            instance,
            request,
            by: requested_by.to_owned(),
        });
        if !lane.worker {
            lane.worker = true;
            tokio::spawn(self.clone().work(instance_id));
        }
        Ok(CommandHandle { cell })
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

    /// Closes an instance with no command queued, being queued or running (to change it
    /// under its commands' feet); a `Conflict` saying so otherwise. [`reopen`] it after.
    ///
    /// [`reopen`]: CommandScheduler::reopen
    pub fn close_idle(&self, instance_id: u64) -> Result<()> {
        let mut state = self.lock();
        let lane = state.lanes.entry(instance_id).or_default();
        let busy =
            lane.worker || !lane.pending.is_empty() || lane.reserved > 0 || lane.creating.is_some();
        if lane.closed || busy {
            return Err(Error::Conflict {
                message: format!(
                    "instance {instance_id} has commands queued or running (or is being deleted); change it once they end"
                ),
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
        let request = ActionRequest::new(Action::Destroy);
        let handle = self
            .enqueue(instance, request, requested_by, Enqueue::Destroy)
            .await?;
        Ok(handle.wait().await)
    }

    /// Records a command that did not need to run (e.g. `destroy` of a folder that is gone)
    /// as succeeded, with `note` as its console.
    pub async fn skipped(
        &self,
        instance_id: u64,
        action: Action,
        requested_by: &str,
        note: &str,
    ) -> Result<Command> {
        let now = OffsetDateTime::now_utc();
        let command = Command {
            status: CommandStatus::Succeeded,
            exit_code: Some(0),
            started_at: Some(now),
            finished_at: Some(now),
            ..Command::queued(instance_id, &ActionRequest::new(action), requested_by)
        };
        let store = &self.inner.store;
        let limit = self.inner.config.history_limit.max(1);
        let mut command = store.insert_command(command, limit).await?;
        let console = format!("{note}\n");
        store
            .append_console(command.id, &console, self.inner.config.console_limit)
            .await?;
        command.console_bytes = console.len() as u64;
        command.console = Some(console);
        Ok(command)
    }

    /// A page of the commands of an instance, newest first, without consoles.
    pub async fn commands(&self, instance_id: u64, page: Page) -> Result<Vec<Command>> {
        self.inner.store.commands(instance_id, page).await
    }

    /// One command of an instance: live while it is queued or running, else as recorded.
    pub async fn command(&self, instance_id: u64, command_id: u64) -> Result<CommandHandle> {
        let live = self
            .lock()
            .lanes
            .get(&instance_id)
            .and_then(|lane| lane.live.iter().find(|c| c.id() == command_id).cloned());
        if let Some(cell) = live {
            return Ok(CommandHandle { cell });
        }
        let not_found = Error::CommandNotFound {
            instance_id,
            command_id,
        };
        let mut command = self
            .inner
            .store
            .command(instance_id, command_id)
            .await?
            .ok_or(not_found)?;
        let console = ConsoleBuffer::restore(
            command.console.take().unwrap_or_default(),
            command.console_truncated,
            self.inner.config.console_limit,
        );
        let cell = CommandCell::new(command, console, self.inner.followers.clone());
        cell.update(|state| state.settled = true);
        Ok(CommandHandle { cell })
    }

    /// Cancels a command: a queued one never starts; a running one is stopped (its process
    /// tree killed) and ends `cancelled`. Returns the command once it has ended.
    pub async fn cancel(&self, instance_id: u64, command_id: u64) -> Result<Command> {
        let handle = self.command(instance_id, command_id).await?;
        let was_queued = handle.cell.update(|state| {
            let queued = state.command.status == CommandStatus::Queued;
            if queued {
                state.command.cancel("cancelled before it started");
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
            {
                let mut state = self.lock();
                let removed = state.lanes.get_mut(&instance_id).and_then(|lane| {
                    lane.live.retain(|c| !Arc::ptr_eq(c, &handle.cell));
                    let index = lane
                        .pending
                        .iter()
                        .position(|p| Arc::ptr_eq(&p.cell, &handle.cell))?;
                    lane.pending.remove(index)
                });
                if let Some(pending) = removed {
                    state.dequeued(&pending.by);
                }
            }
            self.settle(&handle.cell).await;
        }
        Ok(handle.wait().await)
    }

    /// Forgets an instance's live commands (after the instance is deleted): queued ones end
    /// `cancelled`, running ones are stopped, and everyone waiting on them is woken. The
    /// instance stays closed to new commands until [`reopen`](CommandScheduler::reopen).
    pub fn forget(&self, instance_id: u64) {
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
        for cell in lane.iter().flat_map(|lane| lane.live.iter()) {
            cell.update(|state| {
                if state.command.status == CommandStatus::Queued {
                    state.command.cancel("cancelled: the instance was deleted");
                    state.settled = true;
                }
            });
            cell.stop.send_replace(Stop::Cancel);
        }
    }

    /// Drops what is known of an instance at start-up, before anything runs.
    pub(crate) fn discard(&self, instance_id: u64) {
        self.lock().lanes.remove(&instance_id);
    }

    /// Stops accepting commands (new ones are refused with [`Error::ShuttingDown`]), ends
    /// queued ones `interrupted` (they would start work the drain may not see end), and waits
    /// up to `deadline` for running ones to finish by themselves. The number still running.
    pub async fn drain(&self, deadline: Duration) -> usize {
        let mut running = Vec::new();
        for (cell, queued) in self.stop_accepting().await {
            if queued {
                cell.stop.send_replace(Stop::Shutdown);
            } else {
                running.push(cell);
            }
        }
        tracing::info!(
            running = running.len(),
            drain_secs = deadline.as_secs(),
            "draining: no new commands; waiting for the running ones"
        );
        let all = async {
            for cell in &running {
                CommandHandle { cell: cell.clone() }.wait().await;
            }
        };
        if tokio::time::timeout(deadline, all).await.is_ok() {
            return 0;
        }
        running
            .iter()
            .filter(|cell| !cell.snapshot().status.is_finished())
            .count()
    }

    /// Refuses new commands from now on and ends the queued ones `interrupted` (recorded):
    /// every live command, with whether it was queued.
    async fn stop_accepting(&self) -> Vec<(Arc<CommandCell>, bool)> {
        let cells: Vec<Arc<CommandCell>> = {
            let mut state = self.lock();
            state.shutting_down = true;
            state
                .lanes
                .values()
                .flat_map(|lane| lane.live.iter().cloned())
                .collect()
        };
        let mut live = Vec::with_capacity(cells.len());
        for cell in cells {
            let queued = cell.update(|state| {
                let queued = state.command.status == CommandStatus::Queued;
                if queued {
                    state.command.interrupt();
                }
                queued
            });
            if queued {
                self.settle(&cell).await;
            }
            live.push((cell, queued));
        }
        live
    }

    /// Whether a command is queued or running on the instance.
    pub fn is_busy(&self, instance_id: u64) -> bool {
        self.lock().lanes.get(&instance_id).is_some_and(|lane| {
            !lane.pending.is_empty() || lane.live.iter().any(|c| !c.snapshot().status.is_finished())
        })
    }

    /// The unfinished (queued or running) commands of an instance, oldest first.
    pub fn unfinished(&self, instance_id: u64) -> Vec<Command> {
        self.lock()
            .lanes
            .get(&instance_id)
            .map(|lane| {
                lane.live
                    .iter()
                    .map(|c| c.snapshot())
                    .filter(|c| !c.status.is_finished())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Commands queued and not started, on every instance.
    pub fn queued(&self) -> usize {
        self.lock().queued_by.values().sum()
    }

    /// Whether it has stopped accepting commands (draining or shut down).
    pub fn is_draining(&self) -> bool {
        self.lock().shutting_down
    }

    /// Stops accepting commands, stops every queued and running one (they end
    /// `interrupted`), and waits up to `deadline` for running ones to be recorded.
    pub async fn shutdown(&self, deadline: Duration) {
        let cells: Vec<Arc<CommandCell>> = self
            .stop_accepting()
            .await
            .into_iter()
            .map(|(cell, _)| cell)
            .collect();
        for cell in &cells {
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
                let changed = cell.update(|state| {
                    let running = !state.command.status.is_finished();
                    if running {
                        state.command.interrupt();
                    }
                    running
                });
                if changed {
                    self.settle(cell).await;
                }
            }
        }
    }

    /// Records that something happened to `command`, with its instance's host.
    pub(super) fn announce(&self, command: &Command, kind: EventKind) {
        let host = self
            .lock()
            .lanes
            .get(&command.instance_id)
            .and_then(|lane| lane.host);
        self.inner
            .events
            .emit(Some(command.instance_id), host, kind);
    }

    /// Records a cell's state in the store, then marks it settled (waiters wake then, so what
    /// they are told is on disk). A failure is logged; the state stays in memory.
    async fn settle(&self, cell: &Arc<CommandCell>) {
        let command = cell.snapshot();
        let update = self.inner.store.update_command(&command);
        let metrics = self.inner.events.metrics();
        if let Err(error) = Metrics::timed(metrics, "update_command", update).await {
            tracing::error!(command = command.id, %error, "could not record a command");
        }
        let already = cell.update(|state| state.settled);
        if command.status.is_finished() && !already {
            self.announce(
                &command,
                EventKind::CommandEnded {
                    command: command.id,
                    action: command.action,
                    status: command.status,
                },
            );
        }
        cell.update(|state| {
            state.settled = state.command.status.is_finished();
        });
    }
}
