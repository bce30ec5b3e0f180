//! [`ProviderError`]: how a [`Provider`](crate::Provider) call fails.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Action, BoxError, CommandError, Error, ErrorKind, Instance};

/// How a [`Provider`](crate::Provider) call failed: only what a provider can mean (it cannot
/// say "unauthenticated" or "instance not found"; the service decides those). The service
/// turns it into its [`Error`] with `?`, keeping the source; the HTTP status follows the
/// variant and, for [`ProviderError::Failed`], the [`crate::FailureKind`].
///
/// ```
/// use jeto_core::{Error, ErrorKind, ProviderError};
/// let failure = ProviderError::invalid("an archive URL must be http or https");
/// assert_eq!(failure.kind(), ErrorKind::InvalidRequest);
/// let error: Error = failure.into();
/// assert_eq!(error.code(), "invalid_request");
/// ```
///
/// It crosses process boundaries as JSON (a remote provider, e.g. over NATS, returns what its
/// worker's provider returned); a source travels as its message.
#[derive(Debug, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProviderError {
    /// The request cannot be done as asked (a source the provider does not take, ...).
    #[error("{message}")]
    InvalidRequest {
        /// What is wrong and what would be accepted.
        message: String,
    },
    /// The instance folder is missing or is not a project of the provider's tool.
    #[error("instance folder {}: {reason}", path.display())]
    InstanceFolder {
        /// The folder.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The provider's tool cannot be run at all.
    #[error("{message}")]
    Unavailable {
        /// What is missing and how to fix it.
        message: String,
        /// The underlying error.
        #[source]
        #[serde(with = "source_as_text::optional", default)]
        source: Option<BoxError>,
    },
    /// A time limit passed.
    #[error("{what} timed out after {}s", after.as_secs())]
    Timeout {
        /// What was running.
        what: String,
        /// The limit.
        after: Duration,
    },
    /// A call ran and failed, in the tool's words; its [`crate::FailureKind`] picks the
    /// answer (`not_supported` 409, `machine_not_found` 404, ...).
    #[error("{action} on instance {instance} failed{}: {error}", exit_code.map(|c| format!(" with exit code {c}")).unwrap_or_default())]
    Failed {
        /// The instance name or path.
        instance: String,
        /// What was run.
        action: Action,
        /// The exit code, when the process exited.
        exit_code: Option<i32>,
        /// The tool's error class and message.
        error: CommandError,
        /// The last lines of the output, for context.
        output_tail: String,
    },
    /// Making an instance folder from its source failed (clone, download, extraction).
    #[error("{what} failed: {message}")]
    PrepareFailed {
        /// What was being done.
        what: String,
        /// Why.
        message: String,
    },
    /// The provider cannot do this at all.
    #[error("this provider cannot {what}")]
    NotSupported {
        /// What was asked (`list boxes`, ...).
        what: String,
    },
    /// Anything else: a bug or an environment problem, with context.
    #[error("{context}: {source}")]
    Other {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        #[serde(with = "source_as_text")]
        source: BoxError,
    },
}

/// Sources as their messages on the wire (an error type does not serialise).
mod source_as_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::BoxError;

    pub fn serialize<S: Serializer>(source: &BoxError, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(source)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BoxError, D::Error> {
        Ok(String::deserialize(d)?.into())
    }

    pub mod optional {
        use serde::{Deserialize, Deserializer, Serializer};

        use crate::BoxError;

        pub fn serialize<S: Serializer>(
            source: &Option<BoxError>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match source {
                Some(source) => s.collect_str(source),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<BoxError>, D::Error> {
            Ok(Option::<String>::deserialize(d)?.map(Into::into))
        }
    }
}

impl ProviderError {
    /// Shorthand for [`ProviderError::InvalidRequest`].
    pub fn invalid(message: impl Into<String>) -> Self {
        ProviderError::InvalidRequest {
            message: message.into(),
        }
    }

    /// Shorthand for [`ProviderError::Other`].
    pub fn other(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        ProviderError::Other {
            context: context.into(),
            source: source.into(),
        }
    }

    /// A call on `instance` that failed with `error`, with no exit code or output.
    pub fn failed(instance: &Instance, action: Action, error: CommandError) -> Self {
        ProviderError::Failed {
            instance: instance.spec.name.clone(),
            action,
            exit_code: None,
            error,
            output_tail: String::new(),
        }
    }

    /// The kind of the service error this becomes.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ProviderError::InvalidRequest { .. }
            | ProviderError::InstanceFolder { .. }
            | ProviderError::PrepareFailed { .. } => ErrorKind::InvalidRequest,
            ProviderError::Unavailable { .. } => ErrorKind::Unavailable,
            ProviderError::Timeout { .. } => ErrorKind::Timeout,
            ProviderError::Failed { error, .. } => error.kind.error_kind(),
            ProviderError::NotSupported { .. } => ErrorKind::Conflict,
            ProviderError::Other { .. } => ErrorKind::Internal,
        }
    }
}

impl From<ProviderError> for Error {
    fn from(error: ProviderError) -> Self {
        match error {
            ProviderError::InvalidRequest { message } => Error::InvalidRequest { message },
            ProviderError::InstanceFolder { path, reason } => {
                Error::InstanceFolder { path, reason }
            }
            ProviderError::Unavailable { message, source } => {
                Error::ProviderUnavailable { message, source }
            }
            ProviderError::Timeout { what, after } => Error::Timeout { what, after },
            ProviderError::Failed {
                instance,
                action,
                exit_code,
                error,
                output_tail,
            } => Error::ActionFailed {
                instance,
                action,
                exit_code,
                error,
                output_tail,
            },
            ProviderError::PrepareFailed { what, message } => {
                Error::PrepareFailed { what, message }
            }
            ProviderError::NotSupported { what } => Error::NotSupported { what },
            ProviderError::Other { context, source } => Error::Provider { context, source },
        }
    }
}
