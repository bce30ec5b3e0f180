//! Commands: the record of one action run (or to be run) on an instance.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::action::Action;
use super::failure::CommandError;
use super::request::ActionRequest;

/// Where a command is in its life.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandStatus {
    /// Waiting for the instance (one command per instance at a time) or for a free slot.
    Queued,
    /// The provider is running it.
    Running,
    /// Ran and exited with code 0.
    Succeeded,
    /// Ran and failed, or could not be run.
    Failed,
    /// Killed at its time limit.
    TimedOut,
    /// Cancelled before or while running.
    Cancelled,
    /// The server stopped while it was queued or running.
    Interrupted,
}

impl CommandStatus {
    /// Whether the command has ended (no further change will happen).
    pub fn is_finished(self) -> bool {
        !matches!(self, CommandStatus::Queued | CommandStatus::Running)
    }

    /// The snake_case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandStatus::Queued => "queued",
            CommandStatus::Running => "running",
            CommandStatus::Succeeded => "succeeded",
            CommandStatus::Failed => "failed",
            CommandStatus::TimedOut => "timed_out",
            CommandStatus::Cancelled => "cancelled",
            CommandStatus::Interrupted => "interrupted",
        }
    }
}

/// One action on one instance, as recorded by the command scheduler and shown over HTTP.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// Unique for the server's lifetime and across restarts.
    pub id: u64,
    /// The instance it runs on.
    pub instance_id: u64,
    /// The action, by wire name.
    pub action: Action,
    /// The machine it targets; `null` for all machines.
    pub machine: Option<String>,
    /// The script name for `runScript`.
    pub script: Option<String>,
    /// Where it is in its life.
    pub status: CommandStatus,
    /// The process exit code, once it exited.
    pub exit_code: Option<i32>,
    /// Why it failed, when it did.
    pub error: Option<CommandError>,
    /// The console output (stdout and stderr, interleaved as read), at most its last
    /// `console_limit_bytes`. Absent from lists of commands: read it from the command or its
    /// `/console`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console: Option<String>,
    /// The size of the kept console output, in bytes.
    #[serde(default)]
    pub console_bytes: u64,
    /// Whether the start of the console output was dropped to stay within the bound.
    pub console_truncated: bool,
    /// When it was submitted.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it started running.
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// When it ended.
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// The name of the token (or principal) that asked for it.
    #[serde(default)]
    pub requested_by: Option<String>,
}

impl Command {
    /// A command for `request` on an instance, queued now by `requested_by`; its id is given
    /// when a [`Store`](crate::store::Store) records it.
    pub fn queued(instance_id: u64, request: &ActionRequest, requested_by: &str) -> Self {
        Command {
            id: 0,
            instance_id,
            action: request.action,
            machine: request.machine.clone(),
            script: request.script.clone(),
            status: CommandStatus::Queued,
            exit_code: None,
            error: None,
            console: None,
            console_bytes: 0,
            console_truncated: false,
            created_at: OffsetDateTime::now_utc(),
            started_at: None,
            finished_at: None,
            requested_by: Some(requested_by.to_owned()),
        }
    }

    /// Marks a command that will never finish because the server stopped.
    pub(crate) fn interrupt(&mut self) {
        self.status = CommandStatus::Interrupted;
        self.finished_at = Some(OffsetDateTime::now_utc());
        self.error = Some(CommandError::message(
            "the server stopped before this command finished; run it again if it is still needed",
        ));
    }

    /// Marks a queued command that will never run.
    pub(crate) fn cancel(&mut self, why: &str) {
        self.status = CommandStatus::Cancelled;
        self.finished_at = Some(OffsetDateTime::now_utc());
        self.error = Some(CommandError::message(why));
    }
}
