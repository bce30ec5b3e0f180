//! Errors of the vagrant provider, converted into [`jeto_core::ProviderError`] at the trait
//! boundary.

use std::path::PathBuf;

use jeto_core::ProviderError;
use std::time::Duration;

/// What can go wrong running `vagrant`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The binary is not there.
    #[error("the vagrant binary {binary:?} was not found: install Vagrant (`apt-get install -y vagrant` on Debian) or set `binary` in the [vagrant] section of the config to its path")]
    BinaryNotFound {
        /// The configured binary.
        binary: PathBuf,
        /// The spawn error.
        #[source]
        source: std::io::Error,
    },
    /// The process could not be spawned for another reason.
    #[error("could not run {binary:?} in {}: {source}", cwd.display())]
    Spawn {
        /// The configured binary.
        binary: PathBuf,
        /// The instance folder.
        cwd: PathBuf,
        /// The spawn error.
        #[source]
        source: std::io::Error,
    },
    /// The process ran longer than its limit and was killed with its whole group.
    #[error("`vagrant {command}` in {} timed out after {}s and was killed", cwd.display(), after.as_secs())]
    Timeout {
        /// The vagrant sub-command.
        command: String,
        /// The instance folder.
        cwd: PathBuf,
        /// The limit.
        after: Duration,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for ProviderError {
    fn from(error: Error) -> Self {
        match error {
            Error::BinaryNotFound { .. } => ProviderError::Unavailable {
                message: error.to_string(),
                source: Some(Box::new(error)),
            },
            Error::Timeout {
                command,
                cwd,
                after,
            } => ProviderError::Timeout {
                what: format!("`vagrant {command}` in {}", cwd.display()),
                after,
            },
            Error::Spawn { .. } => ProviderError::Other {
                context: "spawning vagrant".into(),
                source: Box::new(error),
            },
        }
    }
}
