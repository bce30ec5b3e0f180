//! Machines that stop on their own: an instance's expiry and what happens then.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Action;

/// What happens to an instance's machines when it expires.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryAction {
    /// `vagrant halt`: the machines stop, nothing is lost.
    #[default]
    Halt,
    /// `vagrant destroy`: the machines are destroyed (the instance stays registered).
    Destroy,
}

impl ExpiryAction {
    /// The action run.
    pub fn action(self) -> Action {
        match self {
            ExpiryAction::Halt => Action::Stop,
            ExpiryAction::Destroy => Action::Destroy,
        }
    }
}

/// When an instance expires, what happens then, and how far that went (a warning given, the
/// action queued), so a restart neither repeats nor forgets it.
///
/// ```
/// use jeto_core::{Expiry, ExpiryAction};
/// let at = time::OffsetDateTime::now_utc() + time::Duration::hours(8);
/// let expiry = Expiry::new(at, ExpiryAction::Halt);
/// assert!(!expiry.done && !expiry.warned);
/// ```
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Expiry {
    /// When it expires.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: OffsetDateTime,
    /// What happens then.
    #[serde(default)]
    pub action: ExpiryAction,
    /// Whether the warning (an `instance_expiring` event) was given.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(read_only))]
    pub warned: bool,
    /// Whether the action was queued (it is never queued twice).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(read_only))]
    pub done: bool,
}

impl Expiry {
    /// An expiry at `at`, not warned of nor done yet.
    pub fn new(at: OffsetDateTime, action: ExpiryAction) -> Self {
        Expiry {
            at,
            action,
            warned: false,
            done: false,
        }
    }
}

/// When idle stop will halt an instance's running machines if nothing happens, and since when
/// it is idle (its last activity: a Jeto command, a keep-up, an SSH session seen open, or the
/// server's start).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IdleStop {
    /// When the machines will be halted.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: OffsetDateTime,
    /// The last activity seen.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub last_activity: OffsetDateTime,
}

impl IdleStop {
    /// A halt at `at`, idle since `last_activity`.
    pub fn new(at: OffsetDateTime, last_activity: OffsetDateTime) -> Self {
        IdleStop { at, last_activity }
    }
}
