//! What the machine running Vagrant has beyond instances: installed boxes, every machine
//! Vagrant knows (global status), and the tool itself with its plugins.

use serde::{Deserialize, Serialize};

/// A box installed for Vagrant: `GET /api/hosts/{id}/boxes`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BoxInfo {
    /// The box name (`debian/bookworm64`).
    pub name: String,
    /// The Vagrant provider it is for.
    pub provider: String,
    /// The installed version.
    pub version: String,
    /// Whether a newer version exists in its catalog; `null` unless asked (`?outdated=true`)
    /// or when the box did not come from a catalog.
    pub outdated: Option<bool>,
    /// The newest version in its catalog, when asked and known.
    pub latest_version: Option<String>,
}

impl BoxInfo {
    /// A box with nothing known about newer versions.
    pub fn new(
        name: impl Into<String>,
        provider: impl Into<String>,
        version: impl Into<String>,
    ) -> Self {
        BoxInfo {
            name: name.into(),
            provider: provider.into(),
            version: version.into(),
            outdated: None,
            latest_version: None,
        }
    }
}

/// A machine Vagrant knows, in any folder: `GET /api/global-status` (admin only).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GlobalMachine {
    /// Vagrant's short machine id.
    pub id: String,
    /// The machine name.
    pub name: String,
    /// The Vagrant provider.
    pub provider: String,
    /// The last state Vagrant recorded.
    pub state: String,
    /// The folder of its Vagrantfile.
    pub directory: String,
}

impl GlobalMachine {
    /// A machine as Vagrant's index lists it.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        GlobalMachine {
            id: id.into(),
            name: name.into(),
            provider: String::new(),
            state: String::new(),
            directory: String::new(),
        }
    }
}

/// The tool that runs machines, its version and plugins: in `GET /api/health` for admins.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolInfo {
    /// `vagrant`, or what else the provider drives.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its plugins.
    pub plugins: Vec<PluginInfo>,
}

impl ToolInfo {
    /// A tool with no plugins.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        ToolInfo {
            name: name.into(),
            version: version.into(),
            plugins: Vec::new(),
        }
    }
}

/// A plugin of the tool.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginInfo {
    /// Its name.
    pub name: String,
    /// Its version, as the tool prints it.
    pub version: String,
}

/// A worker process serving a host from another box (`GET /api/hosts/{id}/workers`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HostWorker {
    /// The worker's name (its box and process, unless configured).
    pub name: String,
    /// Whether it was heard from within its heartbeat's time to live.
    pub online: bool,
    /// Seconds since it was last heard from.
    pub last_seen_secs: u64,
    /// The actions it is running now, for all its hosts.
    pub running: u32,
    /// Every host it serves.
    pub hosts: Vec<u64>,
    /// Stopping: it finishes its running actions and takes no new one.
    #[serde(default)]
    pub draining: bool,
}

impl HostWorker {
    /// A worker heard from `last_seen_secs` ago.
    pub fn new(name: impl Into<String>, online: bool, last_seen_secs: u64) -> Self {
        HostWorker {
            name: name.into(),
            online,
            last_seen_secs,
            running: 0,
            hosts: Vec::new(),
            draining: false,
        }
    }
}
