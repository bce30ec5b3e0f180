//! What a provider tells about one machine beyond its state: SSH details, forwarded ports,
//! snapshots.

use serde::{Deserialize, Serialize};

/// One machine of an instance in detail: `GET /api/instances/{id}/machines/{machine}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MachineDetails {
    /// The machine name.
    pub name: String,
    /// Vagrant's state id (`running`, `poweroff`, `not_created`, ...).
    pub state: String,
    /// The Vagrant provider that reported the state, when known.
    pub provider: Option<String>,
    /// The first routable IP of a running machine.
    pub ip: Option<String>,
    /// How to reach it over SSH; `null` when it is not running.
    pub ssh: Option<SshDetails>,
    /// Ports forwarded from the host to the machine.
    pub forwarded_ports: Vec<ForwardedPort>,
}

impl MachineDetails {
    /// A machine in `state`, with nothing else known.
    pub fn new(name: impl Into<String>, state: impl Into<String>) -> Self {
        MachineDetails {
            name: name.into(),
            state: state.into(),
            provider: None,
            ip: None,
            ssh: None,
            forwarded_ports: Vec::new(),
        }
    }
}

/// Where a machine's SSH server listens and as whom to log in.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SshDetails {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// User name.
    pub user: String,
    /// The private key file on the server; shown to admin keys only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_path: Option<String>,
}

impl SshDetails {
    /// SSH on `host:port` as `user`, with no key path.
    pub fn new(host: impl Into<String>, port: u16, user: impl Into<String>) -> Self {
        SshDetails {
            host: host.into(),
            port,
            user: user.into(),
            private_key_path: None,
        }
    }
}

/// A port of the host forwarded to a port of the machine.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardedPort {
    /// The port in the machine.
    pub guest: u16,
    /// The port on the host.
    pub host: u16,
}

/// The snapshots of one machine: `GET /api/instances/{id}/snapshots`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineSnapshots {
    /// The machine name.
    pub machine: String,
    /// Snapshot names, oldest first.
    pub snapshots: Vec<String>,
}
