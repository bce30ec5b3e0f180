//! Instances (a folder with a Vagrantfile) and the status of their machines.

use serde::{Deserialize, Serialize};

use super::host::Host;
use super::jeto_infos::JetoInfos;

/// A Vagrant environment managed by Jeto: a folder with a `Vagrantfile`, bound to a [`Host`].
///
/// The JSON fields are exactly those of the original Jeto's Instance object: `id`, the
/// [`InstanceSpec`] fields flattened, `status` and `host`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Instance {
    /// Unique, positive id, never reused.
    pub id: u64,
    /// What the instance is: name, folder, source, environment, `jeto.json`.
    #[serde(flatten)]
    pub spec: InstanceSpec,
    /// The last known status of each machine.
    #[serde(default)]
    pub status: Vec<Status>,
    /// The complete host object.
    pub host: Host,
}

/// What an instance is, as created: the fields the API's [`Instance`] and the stored
/// [`crate::store::InstanceRecord`] share (one declaration, flattened into both).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InstanceSpec {
    /// The name given at creation.
    pub name: String,
    /// The folder holding the `Vagrantfile`, on the machine that runs vagrant.
    pub path: String,
    /// The archive URL given at creation, if the instance came from an archive.
    pub archive_url: Option<String>,
    /// The branch or tag the instance was cloned at (without the repository URL).
    pub git_reference: Option<String>,
    /// The environment string given at creation, exported as `ENVIRONMENT`.
    pub environment: String,
    /// Everything found in the instance's `jeto.json`.
    #[serde(default)]
    pub jeto_infos: JetoInfos,
    /// The git repository the instance was cloned from, if any (used by `sync`).
    #[serde(default)]
    pub git_url: Option<String>,
    /// The expected SHA-256 of the archive, if one was given.
    #[serde(default)]
    pub archive_sha256: Option<String>,
    /// When the instance expires and what happens then; absent: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<super::Expiry>,
}

impl InstanceSpec {
    /// An instance named `name` in `path`, with no source, environment or `jeto.json`.
    pub fn new(name: impl Into<String>, path: impl Into<String>) -> Self {
        InstanceSpec {
            name: name.into(),
            path: path.into(),
            ..InstanceSpec::default()
        }
    }
}

impl Instance {
    /// An instance with no known status.
    pub fn new(id: u64, spec: InstanceSpec, host: Host) -> Self {
        Instance {
            id,
            spec,
            status: Vec::new(),
            host,
        }
    }

    /// The folder as a path.
    pub fn folder(&self) -> &std::path::Path {
        std::path::Path::new(&self.spec.path)
    }
}

/// The state of one machine of an instance.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The machine name (`default` for a single-machine Vagrantfile).
    pub name: String,
    /// The first IP found on the machine; `null` when it is not running or unknown.
    pub ip: Option<String>,
    /// Vagrant's state id: `running`, `poweroff`, `not_created`, `saved`, ...
    pub status: String,
    /// The Vagrant provider that reported the state, when known.
    #[serde(default)]
    pub provider: Option<String>,
    /// SSH connections open to the running machine, where the provider can tell (Vagrant's
    /// docker provider on the server's own docker: established connections to the
    /// container's port 22); absent where it cannot. Open sessions count as activity for
    /// idle stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_sessions: Option<u32>,
}

impl Status {
    /// The state id Vagrant reports for a running machine.
    pub const RUNNING: &'static str = "running";

    /// A machine in `state`, with no IP.
    pub fn new(name: impl Into<String>, state: impl Into<String>) -> Self {
        Status {
            name: name.into(),
            ip: None,
            status: state.into(),
            provider: None,
            ssh_sessions: None,
        }
    }

    /// Whether the machine is running (and so may have an IP).
    pub fn is_running(&self) -> bool {
        self.status == Status::RUNNING
    }
}
