//! The worker of one instance: runs its queued commands in order, each with one provider slot,
//! streaming the console to the store while it runs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::{oneshot, watch, Notify};

use super::command_cell::{CellState, CommandCell, Stop};
use super::{CommandScheduler, Pending};
use crate::metrics::Metrics;
use crate::{
    Action, ActionRequest, CommandError, CommandStatus, ConsoleSink, Error, ErrorKind, FailureKind,
    Instance, Outcome, Result,
};

/// How often a running command's new output is written to the store.
const CONSOLE_FLUSH: Duration = Duration::from_secs(1);

/// How far a running command's console has been written to the store, and a way to ask for an
/// early write.
#[derive(Debug, Default)]
struct FlushProgress {
    written: AtomicU64,
    wake: Notify,
}

impl CommandScheduler {
    /// Runs the pending commands of one instance, in order, until there are none.
    pub(super) async fn work(self, instance_id: u64) {
        loop {
            let next: Pending = {
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
            let cell = next.cell.clone();
            let id = cell.id();
            self.run_one(next.cell, next.instance, next.request).await;
            let creation = {
                let mut state = self.lock();
                let Some(lane) = state.lanes.get_mut(&instance_id) else {
                    return;
                };
                lane.live.retain(|c| !Arc::ptr_eq(c, &cell));
                let creation = lane.creating == Some(id);
                if creation {
                    lane.creating = None;
                }
                creation
            };
            if creation && cell.status() != CommandStatus::Succeeded {
                self.creation_failed(instance_id).await;
            }
        }
    }

    /// After a creation's `sync` ended without success: closes the lane and cancels what
    /// waits in it.
    async fn creation_failed(&self, instance_id: u64) {
        let cancelled: Vec<Arc<CommandCell>> = {
            let mut state = self.lock();
            let state = &mut *state;
            let Some(lane) = state.lanes.get_mut(&instance_id) else {
                return;
            };
            lane.closed = true;
            let pending: Vec<Pending> = lane.pending.drain(..).collect();
            lane.live.clear();
            for p in &pending {
                state.dequeued(&p.by);
            }
            pending.into_iter().map(|p| p.cell).collect()
        };
        for cell in cancelled {
            cell.update(|state| {
                if state.command.status == CommandStatus::Queued {
                    state.command.cancel(
                        "cancelled: the instance's creation failed, and the instance is removed",
                    );
                }
            });
            self.settle(&cell).await;
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
        let command = cell.snapshot();
        if let Err(error) = self.inner.store.update_command(&command).await {
            tracing::error!(command = command.id, %error, "could not record a command start");
        }
        self.announce(
            &command,
            crate::EventKind::CommandStarted {
                command: command.id,
                action: command.action,
            },
        );
        let (flushed_tx, flushed_rx) = oneshot::channel();
        let progress = Arc::new(FlushProgress::default());
        let flusher = tokio::spawn(self.clone().flush_console(
            cell.clone(),
            progress.clone(),
            flushed_rx,
        ));
        let sink = ConsoleSink::new({
            let cell = cell.clone();
            let half = self.inner.config.console_limit as u64 / 2;
            move |line: &str| {
                let end = cell.update(|state| {
                    state.console.push_line(line);
                    state.console.end()
                });
                // Flush early rather than let the buffer drop what was never written.
                if end - progress.written.load(Ordering::Acquire) > half {
                    progress.wake.notify_one();
                }
            }
        });
        let result = tokio::select! {
            result = self.execute(&instance, &request, sink) => Some(result),
            () = stopped(&mut stop) => None,
        };
        drop(slot);
        // Before waiters wake, so the status they read is from after the command: the state
        // the action reported, or a fresh read.
        if request.action != Action::Status {
            let after = result
                .as_ref()
                .and_then(|r| r.as_ref().ok())
                .and_then(|outcome| outcome.after.clone());
            match after {
                Some(statuses) => self.inner.status.put(&instance, statuses),
                None => self.inner.status.invalidate(instance.id),
            }
        }
        cell.update(|state| finish(state, result, *stop.borrow()));
        let _ = flushed_tx.send(());
        let _ = flusher.await;
        self.settle(&cell).await;
    }

    /// Writes the new output of a running command to the store every [`CONSOLE_FLUSH`], sooner
    /// when half the console bound is waiting, and once more when told the command ended.
    async fn flush_console(
        self,
        cell: Arc<CommandCell>,
        progress: Arc<FlushProgress>,
        mut ended: oneshot::Receiver<()>,
    ) {
        let limit = self.inner.config.console_limit;
        let id = cell.id();
        loop {
            let last = tokio::select! {
                _ = &mut ended => true,
                () = tokio::time::sleep(CONSOLE_FLUSH) => false,
                () = progress.wake.notified() => false,
            };
            let written = progress.written.load(Ordering::Acquire);
            let (text, end) = {
                let state = cell.lock();
                (state.console.since(written).to_owned(), state.console.end())
            };
            if !text.is_empty() {
                let append = self.inner.store.append_console(id, &text, limit);
                let metrics = self.inner.events.metrics();
                if let Err(error) = Metrics::timed(metrics, "append_console", append).await {
                    tracing::error!(command = id, %error, "could not record console output");
                }
                progress.written.store(end, Ordering::Release);
            }
            if last {
                return;
            }
        }
    }

    async fn execute(
        &self,
        instance: &Instance,
        request: &ActionRequest,
        sink: ConsoleSink,
    ) -> Result<Outcome> {
        if request.action != Action::Status {
            // Checked again as it starts: jeto.json may have changed since it was queued.
            let checked = request.check(instance)?;
            let started = std::time::Instant::now();
            let outcome = self.inner.provider.run(instance, &checked, sink).await;
            if let Some(metrics) = self.inner.events.metrics() {
                metrics.provider_call(request.action.as_str(), started.elapsed().as_secs_f64());
            }
            return Ok(outcome?);
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
}

fn finish(state: &mut CellState, result: Option<Result<Outcome>>, stop: Stop) {
    let command = &mut state.command;
    command.finished_at = Some(OffsetDateTime::now_utc());
    match result {
        None if stop == Stop::Shutdown => command.interrupt(),
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
            let interrupted = outcome
                .error
                .as_ref()
                .is_some_and(|e| e.kind == FailureKind::Interrupted);
            command.status = match (success, interrupted) {
                (true, _) => CommandStatus::Succeeded,
                (false, true) => CommandStatus::Interrupted,
                (false, false) => CommandStatus::Failed,
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
            let kind = match error.kind() {
                ErrorKind::Unavailable => FailureKind::ProviderUnavailable,
                ErrorKind::Timeout => FailureKind::TimedOut,
                _ => match error {
                    Error::MachineNotFound { .. } => FailureKind::MachineNotFound,
                    _ => FailureKind::Failed,
                },
            };
            // The class names Jeto as the origin, with the error's stable code.
            command.error = Some(
                CommandError::new(kind, error.to_string())
                    .with_class(format!("jeto::{}", error.code())),
            );
        }
    }
}
