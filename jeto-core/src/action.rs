//! What can be done to an instance, with the wire names of the seed document.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

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
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "unknown state {s:?}; expected one of: {}",
                    Action::wire_names()
                ))
            })
    }
}

/// One action as asked of a [`Provider`](crate::Provider): which machine, which script, and
/// the options of `stop` (`force`) and of `start`/`reload`/`provision` (provisioners).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRequest {
    /// What to do.
    pub action: Action,
    /// The machine to act on; `None` means every machine of the instance.
    pub machine: Option<String>,
    /// For [`Action::RunScript`]: the name of the script in `jeto.json`.
    pub script: Option<String>,
    /// For the snapshot actions: the snapshot's name.
    #[serde(default)]
    pub snapshot: Option<String>,
    /// For [`Action::Stop`]: power off at once instead of a graceful shutdown.
    #[serde(default)]
    pub force: bool,
    /// For [`Action::Start`] and [`Action::Reload`]: run the provisioners (`true`) or not
    /// (`false`); `None` leaves it to Vagrant.
    #[serde(default)]
    pub provision: Option<bool>,
    /// For [`Action::Start`], [`Action::Reload`] and [`Action::Provision`]: run only these
    /// provisioners (by name or type).
    #[serde(default)]
    pub provision_with: Vec<String>,
}

impl ActionRequest {
    /// An action on every machine of the instance.
    pub fn new(action: Action) -> Self {
        ActionRequest {
            action,
            machine: None,
            script: None,
            snapshot: None,
            force: false,
            provision: None,
            provision_with: Vec::new(),
        }
    }

    /// The same request restricted to one machine.
    pub fn on(mut self, machine: impl Into<String>) -> Self {
        self.machine = Some(machine.into());
        self
    }

    /// The same request naming a script (for [`Action::RunScript`]).
    pub fn script(mut self, script: impl Into<String>) -> Self {
        self.script = Some(script.into());
        self
    }

    /// The same request naming a snapshot (for the snapshot actions).
    pub fn snapshot(mut self, name: impl Into<String>) -> Self {
        self.snapshot = Some(name.into());
        self
    }

    /// The same request forced (for [`Action::Stop`]).
    pub fn forced(mut self) -> Self {
        self.force = true;
        self
    }

    /// The same request with provisioning on or off (for start and reload).
    pub fn provisioning(mut self, on: bool) -> Self {
        self.provision = Some(on);
        self
    }

    /// The same request running only these provisioners.
    pub fn provisioning_with(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.provision_with = names.into_iter().map(Into::into).collect();
        self
    }
}

/// An [`ActionRequest`] checked against the instance it targets: what a
/// [`Provider`](crate::Provider) runs. Only [`ActionRequest::check`] makes one, so a provider
/// never sees an invalid request: machine, snapshot and provisioner names are checked, options
/// appear only where they mean something, and a runScript carries its script's command from
/// `jeto.json`. It reads as the request it wraps (`Deref`) and cannot be changed.
///
/// ```
/// use jeto_core::{memory::instance_at, Action, ActionRequest};
/// let instance = instance_at(1, "/srv/app");
/// assert!(ActionRequest::new(Action::Start).on("-f").check(&instance).is_err());
/// let checked = ActionRequest::new(Action::Start).on("web").check(&instance).unwrap();
/// assert_eq!(checked.machine.as_deref(), Some("web"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedRequest {
    request: ActionRequest,
    script_command: Option<String>,
}

impl CheckedRequest {
    /// For runScript: the command of the script, as `jeto.json` declares it.
    pub fn script_command(&self) -> Option<&str> {
        self.script_command.as_deref()
    }

    /// The request, unwrapped.
    pub fn into_inner(self) -> ActionRequest {
        self.request
    }
}

impl std::ops::Deref for CheckedRequest {
    type Target = ActionRequest;

    fn deref(&self) -> &ActionRequest {
        &self.request
    }
}

impl ActionRequest {
    /// Checks the request against `instance` (see [`CheckedRequest`]); a request that is
    /// wrong is [`Error::InvalidRequest`] saying what is wrong.
    pub fn check(&self, instance: &crate::Instance) -> Result<CheckedRequest, Error> {
        let script_command = crate::validate::action_request(instance, self)?.map(str::to_owned);
        Ok(CheckedRequest {
            request: self.clone(),
            script_command,
        })
    }
}
