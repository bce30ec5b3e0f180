//! Route handlers, one module per area of the API.

pub mod commands;
pub mod hosts;
pub mod instances;

use http::StatusCode;
use jeto_core::{Command, CommandStatus};
use serde_json::json;

use crate::ApiError;

/// The error answer for a command that did not succeed, or `None` when it did.
///
/// 502 when vagrant ran and failed, 503 when it could not be run or the server stopped, 504
/// on timeout, 409 when cancelled. The body carries the command.
pub fn command_failure(command: &Command) -> Option<ApiError> {
    let detail = command
        .error
        .as_ref()
        .map(|e| e.to_string())
        .unwrap_or_default();
    let (status, code, message) = match command.status {
        CommandStatus::Succeeded | CommandStatus::Queued | CommandStatus::Running => return None,
        CommandStatus::Failed
            if command
                .error
                .as_ref()
                .and_then(|e| e.class.as_deref())
                .is_some_and(|c| c == "jeto::provider_unavailable") =>
        {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "provider_unavailable",
                detail,
            )
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
            format!("{} was cancelled", command.action),
        ),
        CommandStatus::Interrupted => (StatusCode::SERVICE_UNAVAILABLE, "interrupted", detail),
    };
    Some(ApiError::new(status, code, message).with("command", json!(command)))
}

/// The URL of a command.
pub fn command_location(command: &Command) -> String {
    format!(
        "/api/instances/{}/commands/{}",
        command.instance_id, command.id
    )
}
