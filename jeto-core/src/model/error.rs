//! The one error type of jeto-core, shared by every [`Provider`](crate::Provider).

use std::path::PathBuf;
use std::time::Duration;

use super::action::{Action, UnknownAction};
use super::failure::{CommandError, ErrorKind};

/// A boxed error kept as the source of another error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with jeto-core's [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in Jeto, with enough context for a person to act on it.
///
/// Each variant maps to exactly one HTTP status in `jeto-http` (see [`Error::kind`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request itself is wrong: a missing field, an unknown action, a bad machine name.
    #[error("{message}")]
    InvalidRequest {
        /// What is wrong and what would be accepted instead.
        message: String,
    },

    /// No valid access key was given.
    #[error("missing or unknown access key: send it as `X-JETO-KEY: KEY` or `Authorization: Bearer KEY`")]
    Unauthenticated,

    /// A user's key that has expired.
    #[error(
        "this key ({name}) expired at {at}: make a new one (POST /api/keys) with a key that works"
    )]
    KeyExpired {
        /// The key's name.
        name: String,
        /// When it expired (RFC 3339).
        at: String,
    },

    /// A person the identity provider vouched for, whom this server does not let in.
    #[error("{name} may not sign in here: {reason}")]
    SignInRefused {
        /// Who (the provider's name for them).
        name: String,
        /// Why, and what would let them in.
        reason: String,
    },

    /// The key may see the instance but not do this.
    #[error("this key may not {action} here; ask an admin to grant it")]
    Forbidden {
        /// The action that was refused (`create`, `start`, `runScript`, ...).
        action: String,
    },

    /// No instance with this id, or one the key may not see.
    #[error("instance {id} not found")]
    InstanceNotFound {
        /// The id that was asked for.
        id: u64,
    },

    /// No host with this id, or one the key may not see.
    #[error("host {id} not found")]
    HostNotFound {
        /// The id that was asked for.
        id: u64,
    },

    /// No user, team or key with this id (answered to admins and, for keys, to their users).
    #[error("{what} not found")]
    NotFound {
        /// What was asked for (`user 4`, `team 2`, `key 9`).
        what: String,
    },

    /// Something the key may not see at all, answered as if it did not exist.
    #[error("not found")]
    NotVisible,

    /// No project with this id, or one the key may not use.
    #[error("project {id} not found")]
    ProjectNotFound {
        /// The id that was asked for.
        id: u64,
    },

    /// The instance has no machine of this name.
    #[error("instance {instance_id} has no machine {machine:?}; its machines: {known}")]
    MachineNotFound {
        /// The instance.
        instance_id: u64,
        /// The machine that was asked for.
        machine: String,
        /// The machines it has, comma separated.
        known: String,
    },

    /// No command with this id on this instance.
    #[error("command {command_id} not found on instance {instance_id}")]
    CommandNotFound {
        /// The instance the command was looked up on.
        instance_id: u64,
        /// The command id that was asked for.
        command_id: u64,
    },

    /// The state of the server forbids the request (e.g. cancelling a finished command).
    #[error("{message}")]
    Conflict {
        /// Why the request cannot be done now.
        message: String,
    },

    /// The instance folder is missing or is not a Vagrant project.
    #[error("instance folder {}: {reason}", path.display())]
    InstanceFolder {
        /// The folder that was looked at.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// `jeto.json` exists but cannot be read or is not a JSON object.
    #[error("{}: {source}", path.display())]
    JetoInfos {
        /// The `jeto.json` file.
        path: PathBuf,
        /// The parse or read error, with line and column for JSON errors.
        #[source]
        source: BoxError,
    },

    /// The provider's tool cannot be run at all (e.g. `vagrant` is not installed).
    #[error("{message}")]
    ProviderUnavailable {
        /// What is missing and how to fix it.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },

    /// The provider cannot do this at all (e.g. an embedder's provider without boxes).
    #[error("this provider cannot {what}")]
    NotSupported {
        /// What was asked (`list boxes`, ...).
        what: String,
    },

    /// The provider ran and failed.
    #[error("{action} on instance {instance} failed{}: {error}", exit_code.map(|c| format!(" with exit code {c}")).unwrap_or_default())]
    ActionFailed {
        /// The instance name or path.
        instance: String,
        /// What was run.
        action: Action,
        /// The exit code, when the process exited.
        exit_code: Option<i32>,
        /// The provider's error class and message.
        error: CommandError,
        /// The last lines of the output, for context.
        output_tail: String,
    },

    /// Making an instance folder from its source failed (git clone, download, extraction).
    #[error("{what} failed: {message}")]
    PrepareFailed {
        /// What was being done (`git clone of URL at REF`, `download of URL`).
        what: String,
        /// Why, in the tool's words when it gave some.
        message: String,
    },

    /// Something took longer than it is allowed to.
    #[error("{what} timed out after {}s", after.as_secs())]
    Timeout {
        /// What was waited for.
        what: String,
        /// The limit that was reached.
        after: Duration,
    },

    /// Reading or writing Jeto's own data failed.
    #[error("{context}: {source}")]
    Storage {
        /// Which file and what was being done.
        context: String,
        /// The I/O or encoding error.
        #[source]
        source: BoxError,
    },

    /// Something Jeto does itself failed (no randomness for a salt, a hash that could not be
    /// made): a fault of the server, not of the request.
    #[error("{message}")]
    Internal {
        /// What failed.
        message: String,
    },

    /// A bound was reached (queued commands, console followers): the request is refused
    /// whole, and may be sent again after `retry_after`.
    #[error("{message}")]
    LimitReached {
        /// Which bound, what holds it, and the config key that sets it.
        message: String,
        /// When trying again may succeed.
        retry_after: Duration,
    },

    /// A quota would be exceeded: nothing was created or queued.
    #[error("{set_by}'s quota: at most {limit} {} ({} in use now); free some, or ask an admin for a larger quota", resource.as_str(), usage)]
    QuotaExceeded {
        /// What is bounded.
        resource: super::QuotaResource,
        /// The limit.
        limit: u32,
        /// What is in use now.
        usage: u32,
        /// Whose quota: `user ann`, `team blue`, `project 3`.
        set_by: String,
    },

    /// The server is stopping (draining its running commands) and accepts no new commands.
    #[error("the server is stopping: it lets its running commands finish and accepts no new command; retry in a few seconds, against the restarted server")]
    ShuttingDown,

    /// Any other provider error, with its source kept.
    #[error("{context}: {source}")]
    Provider {
        /// What the provider was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
}

impl Error {
    /// Shorthand for [`Error::InvalidRequest`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidRequest {
            message: message.into(),
        }
    }

    /// Shorthand for [`Error::LimitReached`].
    pub fn limit(message: impl Into<String>, retry_after: Duration) -> Self {
        Error::LimitReached {
            message: message.into(),
            retry_after,
        }
    }

    /// How long to wait before retrying, for errors that say so.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::LimitReached { retry_after, .. } => Some(*retry_after),
            Error::ShuttingDown => Some(Duration::from_secs(5)),
            _ => None,
        }
    }

    /// Shorthand for [`Error::Storage`].
    pub fn storage(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Storage {
            context: context.into(),
            source: source.into(),
        }
    }

    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidRequest { .. }
            | Error::InstanceFolder { .. }
            | Error::JetoInfos { .. } => ErrorKind::InvalidRequest,
            Error::Unauthenticated | Error::KeyExpired { .. } => ErrorKind::Unauthenticated,
            Error::Forbidden { .. } | Error::SignInRefused { .. } | Error::QuotaExceeded { .. } => {
                ErrorKind::Forbidden
            }
            Error::InstanceNotFound { .. }
            | Error::HostNotFound { .. }
            | Error::ProjectNotFound { .. }
            | Error::NotVisible
            | Error::NotFound { .. }
            | Error::MachineNotFound { .. }
            | Error::CommandNotFound { .. } => ErrorKind::NotFound,
            Error::Conflict { .. } | Error::NotSupported { .. } => ErrorKind::Conflict,
            // A typed failure (a missing machine, an unsupported verb) is not the provider's
            // fault: it gets the status its kind stands for.
            Error::ActionFailed { error, .. } => error.kind.error_kind(),
            // The URL or reference the caller gave could not be fetched.
            Error::PrepareFailed { .. } => ErrorKind::InvalidRequest,
            Error::ProviderUnavailable { .. } | Error::ShuttingDown => ErrorKind::Unavailable,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::LimitReached { .. } => ErrorKind::LimitReached,
            Error::Storage { .. } | Error::Provider { .. } | Error::Internal { .. } => {
                ErrorKind::Internal
            }
        }
    }

    /// A stable snake_case code for this error, used in JSON error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidRequest { .. } => "invalid_request",
            Error::Unauthenticated => "unauthenticated",
            Error::KeyExpired { .. } => "key_expired",
            Error::NotFound { .. } => "not_found",
            Error::Forbidden { .. } => "forbidden",
            Error::QuotaExceeded { .. } => "quota_exceeded",
            Error::SignInRefused { .. } => "sign_in_refused",
            Error::InstanceNotFound { .. } => "instance_not_found",
            Error::HostNotFound { .. } => "host_not_found",
            Error::ProjectNotFound { .. } => "project_not_found",
            Error::NotVisible => "not_found",
            Error::CommandNotFound { .. } => "command_not_found",
            Error::MachineNotFound { .. } => "machine_not_found",
            Error::Conflict { .. } => "conflict",
            Error::NotSupported { .. } => "not_supported",
            Error::InstanceFolder { .. } => "invalid_instance_folder",
            Error::JetoInfos { .. } => "invalid_jeto_json",
            Error::ProviderUnavailable { .. } => "provider_unavailable",
            Error::ActionFailed { error, .. } => error.kind.as_str(),
            Error::PrepareFailed { .. } => "prepare_failed",
            Error::Timeout { .. } => "timeout",
            Error::LimitReached { .. } => "limit_reached",
            Error::Storage { .. } => "storage_error",
            Error::Internal { .. } => "internal_error",
            Error::ShuttingDown => "shutting_down",
            Error::Provider { .. } => "provider_error",
        }
    }
}

impl From<UnknownAction> for Error {
    fn from(unknown: UnknownAction) -> Self {
        Error::invalid(unknown.to_string())
    }
}
