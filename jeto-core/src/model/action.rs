//! What can be done to an instance, with the wire names of the seed document.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An action on an instance. Serialised with the original Jeto's wire names
/// (`start`, `stop`, `status`, `runScript`, `reload`, `rsync`, `provision`, `destroy`), and
/// Jeto's own (`sync`, `suspend`, `resume`, `validate`, `snapshot_save`, `snapshot_restore`,
/// `snapshot_delete`).
///
/// ```
/// use jeto_core::Action;
/// assert_eq!("runScript".parse::<Action>().unwrap(), Action::RunScript);
/// assert_eq!(serde_json::to_string(&Action::Start).unwrap(), "\"start\"");
/// ```
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "An action on an instance, by the original Jeto's wire name.")
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Action {
    /// `vagrant up`.
    #[serde(rename = "start")]
    Start,
    /// `vagrant halt`.
    #[serde(rename = "stop")]
    Stop,
    /// `vagrant status`: refreshes the instance's status.
    #[serde(rename = "status")]
    Status,
    /// `vagrant ssh MACHINE -c COMMAND` with a script from `jeto.json`.
    #[serde(rename = "runScript")]
    RunScript,
    /// `vagrant reload`.
    #[serde(rename = "reload")]
    Reload,
    /// `vagrant rsync`.
    #[serde(rename = "rsync")]
    Rsync,
    /// `vagrant provision`.
    #[serde(rename = "provision")]
    Provision,
    /// `vagrant destroy --force`.
    #[serde(rename = "destroy")]
    Destroy,
    /// Brings the instance folder to its source: for a git instance fetch, reset to the remote
    /// reference and update submodules; a missing folder is cloned or extracted again.
    #[serde(rename = "sync")]
    Sync,
    /// `vagrant suspend`: saves the machines' state and stops them (providers that cannot,
    /// such as docker, refuse it: a typed `not_supported` failure).
    #[serde(rename = "suspend")]
    Suspend,
    /// `vagrant resume`: runs suspended machines again.
    #[serde(rename = "resume")]
    Resume,
    /// `vagrant validate`: checks the Vagrantfile; its errors come back in the console.
    #[serde(rename = "validate")]
    Validate,
    /// `vagrant snapshot save [MACHINE] NAME`: saves the machines' state under a name.
    #[serde(rename = "snapshot_save")]
    SnapshotSave,
    /// `vagrant snapshot restore [MACHINE] NAME`: returns the machines to a saved state.
    #[serde(rename = "snapshot_restore")]
    SnapshotRestore,
    /// `vagrant snapshot delete [MACHINE] NAME`: forgets a saved state.
    #[serde(rename = "snapshot_delete")]
    SnapshotDelete,
}

impl Action {
    /// Every action, in wire-name order of the seed document first.
    pub const ALL: [Action; 15] = [
        Action::Start,
        Action::Stop,
        Action::Status,
        Action::RunScript,
        Action::Reload,
        Action::Rsync,
        Action::Provision,
        Action::Destroy,
        Action::Sync,
        Action::Suspend,
        Action::Resume,
        Action::Validate,
        Action::SnapshotSave,
        Action::SnapshotRestore,
        Action::SnapshotDelete,
    ];

    /// The wire name (`runScript`, `start`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Status => "status",
            Action::RunScript => "runScript",
            Action::Reload => "reload",
            Action::Rsync => "rsync",
            Action::Provision => "provision",
            Action::Destroy => "destroy",
            Action::Sync => "sync",
            Action::Suspend => "suspend",
            Action::Resume => "resume",
            Action::Validate => "validate",
            Action::SnapshotSave => "snapshot_save",
            Action::SnapshotRestore => "snapshot_restore",
            Action::SnapshotDelete => "snapshot_delete",
        }
    }

    /// Whether the action works on a named snapshot (and so needs one).
    pub fn is_snapshot(self) -> bool {
        matches!(
            self,
            Action::SnapshotSave | Action::SnapshotRestore | Action::SnapshotDelete
        )
    }

    /// The wire names of all actions, comma separated, for error messages.
    pub fn wire_names() -> String {
        Action::ALL.map(Action::as_str).join(", ")
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = UnknownAction;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownAction { name: s.to_owned() })
    }
}

/// A name that is no [`Action`]'s wire name; converts into
/// [`Error::InvalidRequest`](crate::Error::InvalidRequest) with `?`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown state {name:?}; expected one of: {}", Action::wire_names())]
pub struct UnknownAction {
    /// The name that was given.
    pub name: String,
}
