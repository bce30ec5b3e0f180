//! The JSON bodies Jeto answers with, declared once: serialised by the handlers and described
//! in the OpenAPI document from the same structs.

use jeto_core::audit::AuditEntry;
use jeto_core::ToolInfo;
use jeto_core::{Command, InstanceView};
use serde::Serialize;
use utoipa::ToSchema;

/// Every error answer: `{"error": {"code", "message"}}`, plus the command (and the instance)
/// when a command did not succeed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
    /// The command, when the error is a command that did not succeed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Box<Command>>,
    /// The instance after a failed synchronous action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<Box<InstanceView>>,
}

/// The `error` object of an [`ErrorBody`].
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable snake_case code (`invalid_request`, `instance_not_found`, ...).
    pub code: &'static str,
    /// A sentence a person can act on.
    pub message: String,
}

/// A command, with the instance after it when the action ran synchronously or created it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CommandAnswer {
    /// The command.
    pub command: Command,
    /// The instance (after a synchronous action; at once for an asynchronous creation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<InstanceView>,
}

/// A command in a list: everything but its console, and where to read that.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListedCommand {
    /// The command (without `console`; `console_bytes` says how long it is).
    #[serde(flatten)]
    pub command: Command,
    /// Where its console is read, whole or followed (`?follow=true`).
    #[schema(example = "/api/instances/1/commands/7/console")]
    pub console_url: String,
}

/// The answer to `DELETE /api/instances/{id}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Deleted {
    /// The `destroy` command that ran.
    pub command: Command,
    /// The id of the instance that was forgotten.
    pub deleted: u64,
    /// Whether it was forgotten although `destroy` failed (`?force=true`); its machines may
    /// still exist.
    pub forced: bool,
}

/// The answer to `GET /api/health`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` while the server answers.
    #[schema(example = "ok")]
    pub status: &'static str,
    /// For an admin key only: the tool that runs the machines, its version and plugins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<ToolInfo>,
    /// For an admin key only, when the tool could not be asked: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_error: Option<String>,
}

/// One page of `GET /api/audit`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditPage {
    /// Entries, newest first.
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page; `null` on the last page.
    pub next_before: Option<u64>,
}
