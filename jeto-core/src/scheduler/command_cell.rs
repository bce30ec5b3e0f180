//! The live state of one command ([`CommandCell`]) and the handles callers hold on it:
//! [`CommandHandle`] to read or wait, [`ConsoleFollower`] to follow the console.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use crate::model::console::ConsoleBuffer;
use crate::{Command, CommandStatus, Error, Result};

/// The most a follower takes in one chunk, so a follower holds little whatever the console.
const MAX_CHUNK: usize = 16 * 1024;

/// The follower bounds, shared by all commands: at most `per_command` on one, `total` in all.
#[derive(Debug)]
pub(super) struct FollowerLimits {
    per_command: usize,
    total: usize,
    following: AtomicUsize,
}

impl FollowerLimits {
    pub(super) fn new(per_command: usize, total: usize) -> Self {
        FollowerLimits {
            per_command: per_command.max(1),
            total: total.max(1),
            following: AtomicUsize::new(0),
        }
    }
}

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
    limits: Arc<FollowerLimits>,
    followers: AtomicUsize,
}

#[derive(Debug)]
pub(super) struct CellState {
    pub(super) command: Command,
    pub(super) console: ConsoleBuffer,
    /// The command has ended and that is recorded in the store: waiters are answered then.
    pub(super) settled: bool,
}

impl CommandCell {
    pub(super) fn new(
        command: Command,
        console: ConsoleBuffer,
        limits: Arc<FollowerLimits>,
    ) -> Arc<Self> {
        Arc::new(CommandCell {
            state: Mutex::new(CellState {
                command,
                console,
                settled: false,
            }),
            changed: watch::Sender::new(()),
            stop: watch::Sender::new(Stop::Keep),
            limits,
            followers: AtomicUsize::new(0),
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
        let console = state.console.text().to_owned();
        Command {
            console_bytes: console.len() as u64,
            console: Some(console),
            console_truncated: state.console.is_truncated(),
            ..state.command.clone()
        }
    }

    pub(super) fn id(&self) -> u64 {
        self.lock().command.id
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
        self.cell.id()
    }

    /// The command as it is now, console included.
    pub fn snapshot(&self) -> Command {
        self.cell.snapshot()
    }

    /// Waits until the command has finished (and that is recorded) and returns it. Dropping
    /// this future does not cancel the command.
    pub async fn wait(&self) -> Command {
        let mut changed = self.cell.changed.subscribe();
        loop {
            changed.borrow_and_update();
            if self.cell.lock().settled {
                return self.cell.snapshot();
            }
            if changed.changed().await.is_err() {
                return self.cell.snapshot();
            }
        }
    }

    /// Follows the console output from its start until the command ends.
    ///
    /// [`Error::LimitReached`] when the command already has `max_followers_per_command`
    /// followers or the server `max_followers` in all; the slot is freed when the follower is
    /// dropped.
    pub fn follow(&self) -> Result<ConsoleFollower> {
        self.follow_from(0)
    }

    /// [`follow`](Self::follow) from byte `position` of the console (what a client that lost
    /// its connection already has): nothing before it is sent again.
    pub fn follow_from(&self, position: u64) -> Result<ConsoleFollower> {
        let cell = &self.cell;
        let limits = &cell.limits;
        let per_command = cell.followers.fetch_add(1, Ordering::AcqRel);
        let total = limits.following.fetch_add(1, Ordering::AcqRel);
        // Built now, so dropping it on refusal gives both counts back.
        let follower = ConsoleFollower {
            cell: cell.clone(),
            changed: cell.changed.subscribe(),
            position,
            done: false,
        };
        if per_command >= limits.per_command {
            return Err(Error::limit(
                format!(
                    "command {} already has {per_command} console followers, the bound max_followers_per_command; read the console without follow=true, or later",
                    self.id()
                ),
                std::time::Duration::from_secs(5),
            ));
        }
        if total >= limits.total {
            return Err(Error::limit(
                format!(
                    "the server already streams {total} consoles, the bound max_followers; read the console without follow=true, or later"
                ),
                std::time::Duration::from_secs(5),
            ));
        }
        Ok(follower)
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
    /// The next piece of output as bytes, from the exact byte it is at (the first piece may
    /// start inside a character, when the follow resumed there); `None` once the command has
    /// ended and everything was read. Cancel-safe.
    pub async fn next_bytes(&mut self) -> Option<Vec<u8>> {
        loop {
            if self.done {
                return None;
            }
            self.changed.borrow_and_update();
            let (chunk, finished) = {
                let state = self.cell.lock();
                let available = state.console.since_bytes(self.position);
                let mut cut = available.len().min(MAX_CHUNK);
                // Later pieces end on a character's end, unless one character is all there is.
                while cut < available.len() && cut > 0 && (available[cut] & 0xC0) == 0x80 {
                    cut -= 1;
                }
                if cut == 0 {
                    cut = available.len().min(MAX_CHUNK);
                }
                let chunk = available[..cut].to_vec();
                let rest = available.len() - cut;
                self.position = state.console.end() - rest as u64;
                (chunk, state.command.status.is_finished() && rest == 0)
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

    /// The next piece of output as text; `None` once the command has ended and everything
    /// was read. Cancel-safe: dropped while it waits, nothing is lost. From the start of a
    /// console, pieces always end on a character's end.
    pub async fn next_chunk(&mut self) -> Option<String> {
        let bytes = self.next_bytes().await?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }
}

impl Drop for ConsoleFollower {
    fn drop(&mut self) {
        self.cell.followers.fetch_sub(1, Ordering::AcqRel);
        self.cell.limits.following.fetch_sub(1, Ordering::AcqRel);
    }
}
