//! [`ActionRequest`]: one action as asked, and [`CheckedRequest`], the same once checked
//! against its instance (the only form a provider runs).

use serde::{Deserialize, Serialize};

use super::action::Action;
use super::error::{Error, Result};
use super::instance::Instance;
use super::validate::{machine_name, snapshot_name};

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
/// use jeto_core::{testing::instance_at, Action, ActionRequest};
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
    pub fn check(&self, instance: &Instance) -> Result<CheckedRequest> {
        let script_command = action_request(instance, self)?.map(str::to_owned);
        Ok(CheckedRequest {
            request: self.clone(),
            script_command,
        })
    }
}

/// Checks a request against the instance it targets: machine name syntax, and for
/// `runScript` a machine and a script declared in `jeto.json`. Returns the script's command
/// for `runScript`.
fn action_request<'a>(instance: &'a Instance, request: &ActionRequest) -> Result<Option<&'a str>> {
    if let Some(machine) = &request.machine {
        machine_name(machine)?;
    }
    if request.force && request.action != Action::Stop {
        return Err(Error::invalid(format!(
            "\"force\" applies to stop only, not to {}",
            request.action
        )));
    }
    if request.provision.is_some() && !matches!(request.action, Action::Start | Action::Reload) {
        return Err(Error::invalid(format!(
            "\"provision\" applies to start and reload only, not to {}",
            request.action
        )));
    }
    if !request.provision_with.is_empty() {
        if !matches!(
            request.action,
            Action::Start | Action::Reload | Action::Provision
        ) {
            return Err(Error::invalid(format!(
                "\"provision_with\" applies to start, reload and provision only, not to {}",
                request.action
            )));
        }
        if request.provision_with.len() > 16 {
            return Err(Error::invalid(
                "\"provision_with\" names at most 16 provisioners",
            ));
        }
        for name in &request.provision_with {
            machine_name(name).map_err(|_| {
                Error::invalid(format!(
                    "provision_with: {name:?} is not a provisioner name (letters, digits, '_', '.', '-')"
                ))
            })?;
        }
        if request.provision == Some(false) {
            return Err(Error::invalid(
                "\"provision\": false and \"provision_with\" contradict each other",
            ));
        }
    }
    if matches!(request.action, Action::Sync | Action::Validate) && request.machine.is_some() {
        return Err(Error::invalid(format!(
            "{} works on the whole instance; leave \"machine\" out",
            request.action
        )));
    }
    match (&request.snapshot, request.action.is_snapshot()) {
        (Some(name), true) => snapshot_name(name)?,
        (None, true) => {
            return Err(Error::invalid(format!(
                "{} needs a \"snapshot\": the snapshot's name",
                request.action
            )))
        }
        (Some(_), false) => {
            return Err(Error::invalid(format!(
                "\"snapshot\" applies to snapshot_save, snapshot_restore and snapshot_delete only, not to {}",
                request.action
            )))
        }
        (None, false) => {}
    }
    if request.action != Action::RunScript {
        if request.script.is_some() {
            return Err(Error::invalid(format!(
                "\"script\" is only allowed with runScript, not with {}",
                request.action
            )));
        }
        return Ok(None);
    }
    if request.machine.is_none() {
        return Err(Error::invalid(
            "runScript needs a \"machine\": the name of the machine to run the script on",
        ));
    }
    let Some(script) = &request.script else {
        return Err(Error::invalid(format!(
            "runScript needs a \"script\"; declared scripts: {}",
            declared(instance)
        )));
    };
    match instance.spec.jeto_infos.script(script) {
        Some(command) => Ok(Some(command)),
        None => Err(Error::invalid(format!(
            "script {script:?} is not declared in jeto.json of instance {}; declared scripts: {}",
            instance.id,
            declared(instance)
        ))),
    }
}

fn declared(instance: &Instance) -> String {
    let names = instance.spec.jeto_infos.script_names();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}
