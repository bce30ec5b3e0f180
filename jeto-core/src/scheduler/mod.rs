//! [`CommandScheduler`]: every action becomes a command; commands on one instance run one at a
//! time in submission order, commands on different instances in parallel up to a bound.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::{watch, Semaphore};

mod command_cell;

use command_cell::{CellState, CommandCell, Stop};
pub use command_cell::{CommandHandle, ConsoleFollower};

use crate::console::{ConsoleBuffer, DEFAULT_CONSOLE_LIMIT};
use crate::history::{interrupt, CommandHistory};
use crate::status_cache::StatusCache;
use crate::{
    Action, ActionRequest, Command, CommandError, CommandStatus, ConsoleSink, DynProvider, Error,
    ErrorKind, Instance, Outcome, Result,
};

/// Limits of the scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// Commands running at once over all instances.
    pub max_concurrent: usize,
    /// Commands kept per instance (the oldest finished ones are dropped first).
    pub history_limit: usize,
    /// Bytes of console output kept per command.
    pub console_limit: usize,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            max_concurrent: 2,
            history_limit: 100,
            console_limit: DEFAULT_CONSOLE_LIMIT,
        }
    }
}

/// An instance's commands: all kept ones (oldest first), and those waiting to run.
#[derive(Debug, Default)]
struct Lane {
    commands: VecDeque<Arc<CommandCell>>,
    pending: VecDeque<(Arc<CommandCell>, Instance, ActionRequest)>,
    worker: bool,
    /// Serialises writes of this lane's history, so a later snapshot is written last.
    persist: Arc<Mutex<()>>,
}

#[derive(Debug)]
struct State {
    lanes: HashMap<u64, Lane>,
    next_id: u64,
    reserved: u64,
    shutting_down: bool,
}

#[derive(Debug)]
struct Inner {
    provider: DynProvider,
    status: Arc<StatusCache>,
    permits: Arc<Semaphore>,
    history: CommandHistory,
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
    /// queued or running come back `interrupted`).
    pub fn new(
        provider: DynProvider,
        status: Arc<StatusCache>,
        history: CommandHistory,
        config: SchedulerConfig,
    ) -> Result<Self> {
        let loaded = history.load()?;
        let lanes = loaded
            .commands
            .into_iter()
            .map(|(instance_id, commands)| {
                let commands = commands
                    .into_iter()
                    .map(|mut command| {
                        let console = ConsoleBuffer::restore(
                            std::mem::take(&mut command.console),
                            command.console_truncated,
                            config.console_limit,
                        );
                        CommandCell::new(command, console)
                    })
                    .collect();
                (
                    instance_id,
                    Lane {
                        commands,
                        ..Lane::default()
                    },
                )
            })
            .collect();
        Ok(CommandScheduler {
            inner: Arc::new(Inner {
                provider,
                status,
                permits: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
                history,
                state: Mutex::new(State {
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

    /// Queues `request` on `instance` (a snapshot taken now) and returns at once.
    ///
    /// The request must already be validated (see [`crate::validate`]).
    pub fn submit(
        &self,
        instance: Instance,
        request: ActionRequest,
        requested_by: &str,
    ) -> Result<CommandHandle> {
        let instance_id = instance.id;
        let cell = {
            let mut state = self.lock();
            if state.shutting_down {
                return Err(Error::ShuttingDown);
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
            let cell =
                CommandCell::new(command, ConsoleBuffer::new(self.inner.config.console_limit));
            let limit = self.inner.config.history_limit.max(1);
            let lane = state.lanes.entry(instance_id).or_default();
            lane.commands.push_back(cell.clone());
            prune(lane, limit);
            lane.pending.push_back((cell.clone(), instance, request));
            if !lane.worker {
                lane.worker = true;
                tokio::spawn(self.clone().work(instance_id));
            }
            cell
        };
        self.persist(instance_id);
        Ok(CommandHandle { cell })
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
            self.persist(instance_id);
        }
        Ok(handle.wait().await)
    }

    /// Forgets an instance's commands (after the instance is deleted).
    pub fn forget(&self, instance_id: u64) -> Result<()> {
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
            self.persist(instance_id);
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
                    Some(next) => next,
                    None => {
                        lane.worker = false;
                        return;
                    }
                }
            };
            self.run_one(next.0, next.1, next.2).await;
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
        let permit = tokio::select! {
            permit = self.inner.permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = stopped(&mut stop) => return,
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
        self.persist(instance.id);
        let sink = ConsoleSink::new({
            let cell = cell.clone();
            move |line: &str| cell.update(|state| state.console.push_line(line))
        });
        let result = tokio::select! {
            result = self.execute(&instance, &request, sink) => Some(result),
            () = stopped(&mut stop) => None,
        };
        drop(permit);
        // Invalidate before waiters wake, so the status they read is from after the command.
        if request.action != Action::Status {
            self.inner.status.invalidate(instance.id);
        }
        cell.update(|state| finish(state, result, *stop.borrow()));
        self.persist(instance.id);
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

    /// Writes an instance's commands; a failure is logged, the commands stay in memory.
    fn persist(&self, instance_id: u64) {
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
