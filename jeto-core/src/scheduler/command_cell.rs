//! The live state of one command ([`CommandCell`]) and the handles callers hold on it:
//! [`CommandHandle`] to read or wait, [`ConsoleFollower`] to follow the console.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use crate::console::ConsoleBuffer;
use crate::{Command, CommandStatus};

/// Why a command was told to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    Keep,
    Cancel,
    Shutdown,
}

/// One command's live state, shared by the worker, waiters and followers.
#[derive(Debug)]
pub(super) struct CommandCell {
    pub(super) state: Mutex<CellState>,
    /// Bumped on every change (status or console), for waiters and followers.
    pub(super) changed: watch::Sender<()>,
    pub(super) stop: watch::Sender<Stop>,
}

#[derive(Debug)]
pub(super) struct CellState {
    pub(super) command: Command,
    pub(super) console: ConsoleBuffer,
}

impl CommandCell {
    pub(super) fn new(command: Command, console: ConsoleBuffer) -> Arc<Self> {
        Arc::new(CommandCell {
            state: Mutex::new(CellState { command, console }),
            changed: watch::Sender::new(()),
            stop: watch::Sender::new(Stop::Keep),
        })
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, CellState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn update<T>(&self, f: impl FnOnce(&mut CellState) -> T) -> T {
        let result = f(&mut self.lock());
        self.changed.send_replace(());
        result
    }

    pub(super) fn snapshot(&self) -> Command {
        let state = self.lock();
        Command {
            console: state.console.text().to_owned(),
            console_truncated: state.console.is_truncated(),
            ..state.command.clone()
        }
    }

    pub(super) fn status(&self) -> CommandStatus {
        self.lock().command.status
    }
}

/// A submitted command: read it, wait for it, follow its console.
#[derive(Debug, Clone)]
pub struct CommandHandle {
    pub(super) cell: Arc<CommandCell>,
}

impl CommandHandle {
    /// The command's id.
    pub fn id(&self) -> u64 {
        self.cell.lock().command.id
    }

    /// The command as it is now, console included.
    pub fn snapshot(&self) -> Command {
        self.cell.snapshot()
    }

    /// Waits until the command has finished and returns it. Dropping this future does not
    /// cancel the command.
    pub async fn wait(&self) -> Command {
        let mut changed = self.cell.changed.subscribe();
        loop {
            changed.borrow_and_update();
            if self.cell.status().is_finished() {
                return self.cell.snapshot();
            }
            if changed.changed().await.is_err() {
                return self.cell.snapshot();
            }
        }
    }

    /// Follows the console output from its start until the command ends.
    pub fn follow(&self) -> ConsoleFollower {
        ConsoleFollower {
            cell: self.cell.clone(),
            changed: self.cell.changed.subscribe(),
            position: 0,
            done: false,
        }
    }
}

/// Reads a command's console output as it grows.
#[derive(Debug)]
pub struct ConsoleFollower {
    pub(super) cell: Arc<CommandCell>,
    changed: watch::Receiver<()>,
    position: u64,
    done: bool,
}

impl ConsoleFollower {
    /// The next piece of output; `None` once the command has ended and everything was read.
    pub async fn next_chunk(&mut self) -> Option<String> {
        loop {
            if self.done {
                return None;
            }
            self.changed.borrow_and_update();
            let (chunk, finished) = {
                let state = self.cell.lock();
                let chunk = state.console.since(self.position).to_owned();
                self.position = state.console.end();
                (chunk, state.command.status.is_finished())
            };
            self.done = finished;
            if !chunk.is_empty() {
                return Some(chunk);
            }
            if finished || self.changed.changed().await.is_err() {
                return None;
            }
        }
    }
}
