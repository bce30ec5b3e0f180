//! Failure kinds: the class of an error ([`ErrorKind`]) and of a failed command
//! ([`FailureKind`], [`CommandError`]), typed here so that adapters map kinds, never strings.

use serde::{Deserialize, Serialize};

/// The class of an [`Error`](crate::Error), stable across versions, used for HTTP statuses and JSON codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request is malformed or not allowed as written (HTTP 400).
    InvalidRequest,
    /// No valid key (HTTP 401).
    Unauthenticated,
    /// Key valid, action not granted (HTTP 403).
    Forbidden,
    /// The thing does not exist or is not visible (HTTP 404).
    NotFound,
    /// The request conflicts with the current state (HTTP 409).
    Conflict,
    /// The provider ran and failed (HTTP 502).
    ActionFailed,
    /// The provider's tool cannot be run (HTTP 503).
    Unavailable,
    /// A time limit was reached (HTTP 504).
    Timeout,
    /// A bound on queued work was reached; retry later (HTTP 429).
    LimitReached,
    /// A fault inside Jeto (HTTP 500).
    Internal,
}

/// What kind of failure ended a command, set by the provider (or by Jeto for errors it
/// raises), so adapters map failures without knowing any provider's words.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureKind {
    /// The action ran and failed (the default).
    #[default]
    Failed,
    /// The instance has no machine of that name.
    MachineNotFound,
    /// The machine must be running for this action (e.g. a script over SSH).
    MachineNotRunning,
    /// The provider's tool cannot be run at all.
    ProviderUnavailable,
    /// A time limit was reached.
    TimedOut,
    /// The provider cannot do this action at all (e.g. suspend on docker).
    NotSupported,
    /// The provider refused the request as written (e.g. an unknown provisioner name).
    InvalidRequest,
    /// The action was cut short by something outside it (the machine running it stopped); it
    /// may have done part of its work. The command ends `interrupted`.
    Interrupted,
}

impl FailureKind {
    /// The service error kind a failure of this kind is answered as.
    pub fn error_kind(self) -> ErrorKind {
        match self {
            FailureKind::Failed => ErrorKind::ActionFailed,
            FailureKind::MachineNotFound => ErrorKind::NotFound,
            FailureKind::MachineNotRunning | FailureKind::NotSupported => ErrorKind::Conflict,
            FailureKind::ProviderUnavailable | FailureKind::Interrupted => ErrorKind::Unavailable,
            FailureKind::TimedOut => ErrorKind::Timeout,
            FailureKind::InvalidRequest => ErrorKind::InvalidRequest,
        }
    }

    /// The wire name (`machine_not_found`, ...), used as the error code.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Failed => "action_failed",
            FailureKind::MachineNotFound => "machine_not_found",
            FailureKind::MachineNotRunning => "machine_not_running",
            FailureKind::ProviderUnavailable => "provider_unavailable",
            FailureKind::TimedOut => "timeout",
            FailureKind::NotSupported => "not_supported",
            FailureKind::InvalidRequest => "invalid_request",
            FailureKind::Interrupted => "interrupted",
        }
    }
}

/// Why a command failed: its [`FailureKind`], the provider's error class (e.g. Vagrant's
/// `Vagrant::Errors::RSyncNotFound`) when it gave one, and a message.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandError {
    /// What kind of failure it is.
    #[serde(default)]
    pub kind: FailureKind,
    /// The provider's error class, when it reported one.
    pub class: Option<String>,
    /// What went wrong, in the provider's words when it gave some.
    pub message: String,
}

impl CommandError {
    /// A failure with a message and no class.
    pub fn message(message: impl Into<String>) -> Self {
        CommandError::new(FailureKind::Failed, message)
    }

    /// A failure of this kind with a message and no class.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        CommandError {
            kind,
            class: None,
            message: message.into(),
        }
    }

    /// The same error with the provider's error class.
    pub fn with_class(mut self, class: impl Into<String>) -> Self {
        self.class = Some(class.into());
        self
    }
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.class {
            Some(class) => write!(f, "{} ({class})", self.message),
            None => f.write_str(&self.message),
        }
    }
}
