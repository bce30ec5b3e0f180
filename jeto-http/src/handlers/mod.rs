//! Route handlers, one module per area of the API.

pub mod audit;
pub mod commands;
pub mod domains;
pub mod events;
pub mod hosts;
pub mod instances;
pub mod keys;
pub mod lifecycle;
pub mod machines;
pub mod meta;
pub mod people;
pub mod projects;
pub mod usage;
pub mod webhooks;

use http::StatusCode;
use jeto_core::{Action, ActionRequest, Command, CommandStatus, FailureKind};

use utoipa::{IntoParams, IntoResponses};

use crate::answers::ErrorBody;
use crate::ApiError;

/// The `{id}` of an instance, host or project route.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(
    dead_code,
    reason = "read by the OpenAPI derive only; the router parses paths"
)]
pub struct IdPath {
    /// The id (a positive integer).
    #[param(minimum = 1)]
    pub id: u64,
}

/// The `{id}` and `{cid}` of a command route.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(
    dead_code,
    reason = "read by the OpenAPI derive only; the router parses paths"
)]
pub struct CommandPath {
    /// The instance id (a positive integer).
    #[param(minimum = 1)]
    pub id: u64,
    /// The command id (a positive integer).
    #[param(minimum = 1)]
    pub cid: u64,
}

/// The answers of a synchronous command that did not succeed (see [`command_failure`]); each
/// body carries the command.
#[derive(Debug, IntoResponses)]
#[allow(dead_code, reason = "declares the answers for the OpenAPI document")]
pub enum CommandFailure {
    /// Cancelled, or the machine is not running.
    #[response(status = 409)]
    Conflict(ErrorBody),
    /// Vagrant ran and failed.
    #[response(status = 502)]
    Failed(ErrorBody),
    /// Vagrant cannot be run, or the server stopped while it ran.
    #[response(status = 503)]
    Unavailable(ErrorBody),
    /// The action reached its time limit.
    #[response(status = 504)]
    TimedOut(ErrorBody),
}

/// The error answer for a command that did not succeed, or `None` when it did.
///
/// From the command's status and [`FailureKind`] (never a provider's words): 502 when the
/// action ran and failed, 503 when the provider could not be run or the server stopped, 504 on
/// timeout, 409 when cancelled or the machine is not running, 404 when the machine does not
/// exist. The body carries the command.
pub fn command_failure(command: &Command) -> Option<ApiError> {
    let detail = command
        .error
        .as_ref()
        .map(|e| e.to_string())
        .unwrap_or_default();
    let kind = command.error.as_ref().map(|e| e.kind).unwrap_or_default();
    let (status, code, message) = match command.status {
        CommandStatus::Succeeded | CommandStatus::Queued | CommandStatus::Running => return None,
        // Refused because of the request or the machine's state, not because anything broke.
        CommandStatus::Failed if kind == FailureKind::MachineNotFound => {
            (StatusCode::NOT_FOUND, "machine_not_found", detail)
        }
        CommandStatus::Failed if kind == FailureKind::MachineNotRunning => (
            StatusCode::CONFLICT,
            "machine_not_running",
            format!("{detail} (start the machine first)"),
        ),
        CommandStatus::Failed if kind == FailureKind::InvalidRequest => {
            (StatusCode::BAD_REQUEST, "invalid_request", detail)
        }
        CommandStatus::Failed if kind == FailureKind::NotSupported => (
            StatusCode::CONFLICT,
            "not_supported",
            format!(
                "{detail} (this instance's provider cannot {})",
                command.action
            ),
        ),
        CommandStatus::Failed if kind == FailureKind::ProviderUnavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "provider_unavailable",
            detail,
        ),
        CommandStatus::Failed if kind == FailureKind::TimedOut => {
            (StatusCode::GATEWAY_TIMEOUT, "timeout", detail)
        }
        CommandStatus::Failed => (
            StatusCode::BAD_GATEWAY,
            "action_failed",
            format!(
                "{} failed{}: {detail}; the command's console has the details",
                command.action,
                command
                    .exit_code
                    .map(|c| format!(" with exit code {c}"))
                    .unwrap_or_default()
            ),
        ),
        CommandStatus::TimedOut => (StatusCode::GATEWAY_TIMEOUT, "timeout", detail),
        CommandStatus::Cancelled => (
            StatusCode::CONFLICT,
            "cancelled",
            match detail.as_str() {
                "" => format!("{} was cancelled", command.action),
                why => format!("{} was not completed: {why}", command.action),
            },
        ),
        CommandStatus::Interrupted => (StatusCode::SERVICE_UNAVAILABLE, "interrupted", detail),
    };
    Some(ApiError::new(status, code, message).with_command(command.clone()))
}

/// A request as sent on the wire. As in the original Jeto, clients may send `script` with
/// every state; it only means something for runScript and is dropped otherwise. `sync` works
/// on the whole folder, so a machine sent with it is dropped too.
pub fn wire_request(
    action: Action,
    machine: Option<String>,
    script: Option<String>,
    options: ActionOptions,
) -> ActionRequest {
    ActionRequest {
        action,
        // The original UI sends `machine: ""` for its instance-wide buttons: all machines.
        machine: machine.filter(|m| action != Action::Sync && !m.is_empty()),
        script: script.filter(|_| action == Action::RunScript),
        force: options.force,
        provision: options.provision,
        provision_with: options.provision_with,
        snapshot: options.snapshot,
    }
}

/// The options of an action, as the state and command bodies carry them.
#[derive(Debug, Default)]
pub struct ActionOptions {
    /// For stop: power off at once.
    pub force: bool,
    /// For start and reload: run the provisioners or not.
    pub provision: Option<bool>,
    /// For start, reload and provision: only these provisioners.
    pub provision_with: Vec<String>,
    /// For the snapshot actions: the snapshot's name.
    pub snapshot: Option<String>,
}

/// The URL of a command.
pub fn command_location(command: &Command) -> String {
    format!(
        "/api/instances/{}/commands/{}",
        command.instance_id, command.id
    )
}
