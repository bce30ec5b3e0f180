//! [`VagrantConfig`]: how the vagrant provider runs `vagrant`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Settings of [`VagrantProvider`](crate::VagrantProvider); the `[vagrant]` table of the
/// server's config file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VagrantConfig {
    /// The `vagrant` program: a name looked up on PATH, or a path.
    pub binary: PathBuf,
    /// Variables exported to every vagrant process, before the host's and the instance's.
    pub env: BTreeMap<String, String>,
    /// Provider processes at once (vagrant, git; archive downloads count too), all instances and all kinds of call
    /// together: commands, status reads, IP lookups, creations. The provider does not limit
    /// itself: the server hands this to jeto-core's `ProviderSlots`.
    pub max_concurrent: usize,
    /// Time limit of `vagrant status`, in seconds.
    pub status_timeout_secs: u64,
    /// Time limit of every other command, in seconds.
    pub command_timeout_secs: u64,
    /// Seconds between SIGTERM and SIGKILL when a command is killed.
    pub kill_grace_secs: u64,
    /// The `git` program, for instances created from a repository.
    pub git_binary: PathBuf,
    /// Time limit of an archive download, in seconds.
    pub download_timeout_secs: u64,
    /// Largest archive downloaded, in bytes.
    pub archive_max_bytes: u64,
    /// Largest total size of an archive's extracted files, in bytes.
    pub archive_max_extracted_bytes: u64,
    /// Longest output line kept, in bytes; the rest of a longer line is dropped (the console
    /// says so), so memory stays bounded whatever a process prints.
    pub max_line_bytes: usize,
}

impl Default for VagrantConfig {
    fn default() -> Self {
        VagrantConfig {
            binary: PathBuf::from("vagrant"),
            env: BTreeMap::from([("VAGRANT_CHECKPOINT_DISABLE".into(), "1".into())]),
            max_concurrent: 2,
            status_timeout_secs: 120,
            command_timeout_secs: 1800,
            kill_grace_secs: 10,
            git_binary: PathBuf::from("git"),
            download_timeout_secs: 600,
            archive_max_bytes: 512 << 20,
            archive_max_extracted_bytes: 2 << 30,
            max_line_bytes: crate::runner::DEFAULT_MAX_LINE,
        }
    }
}

impl VagrantConfig {
    /// The time limit of `vagrant status`.
    pub fn status_timeout(&self) -> Duration {
        Duration::from_secs(self.status_timeout_secs)
    }

    /// The time limit of actions.
    pub fn command_timeout(&self) -> Duration {
        Duration::from_secs(self.command_timeout_secs)
    }
}
