//! The process around the server and the worker: this box's vagrant with its process records,
//! the stop signal, the wait for killed process groups, the open-files limit.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jeto_vagrant::{ProcessRecords, VagrantProvider};

use crate::config::ServerConfig;

/// Makes the data folder (when missing) readable by this user only: it holds the database
/// (hosts' secret params, consoles, the audit log) and the admin key's hash, which files made
/// under the usual umask would leave readable by every user of the box.
/// A folder this user may not change the mode of (owned by another) is used as it is, with a
/// warning.
pub(crate) fn private_data_dir(data_dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(data_dir)
        .map_err(|e| format!("cannot create the data folder {}: {e}", data_dir.display()))?;
    if let Err(error) = std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700)) {
        tracing::warn!(folder = %data_dir.display(), %error, "cannot make the data folder readable by this user only");
    }
    Ok(())
}

/// This box's vagrant, with its process records: before anything runs, the groups a server
/// or worker killed outright left running are killed.
pub(crate) fn local_vagrant(
    config: &ServerConfig,
) -> Result<(VagrantProvider, Arc<ProcessRecords>), String> {
    private_data_dir(&config.data_dir)?;
    let dir = config.data_dir.join("processes");
    let (records, killed) =
        ProcessRecords::open(&dir, Duration::from_secs(config.vagrant.kill_grace_secs))
            .map_err(|e| format!("cannot use {}: {e}", dir.display()))?;
    if killed > 0 {
        tracing::warn!(
            killed,
            "killed process groups left running by an earlier run"
        );
    }
    let records = Arc::new(records);
    let vagrant = VagrantProvider::new(config.vagrant.clone()).with_records(records.clone());
    Ok((vagrant, records))
}

/// Completes on Ctrl-C or SIGTERM.
pub(crate) fn stop_signal() -> Result<impl std::future::Future<Output = ()>, String> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
    Ok(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    })
}

/// Stopped actions have their process groups killed on other threads: wait for them, so none
/// outlives the process (what is left, the next start kills).
pub(crate) async fn wait_for_process_groups(records: Arc<ProcessRecords>, config: &ServerConfig) {
    let grace = Duration::from_secs(config.vagrant.kill_grace_secs + 1);
    let left = tokio::task::spawn_blocking(move || records.wait_until_none(grace))
        .await
        .unwrap_or(0);
    if left > 0 {
        tracing::warn!(
            left,
            "process groups still dying at exit; the next start kills them"
        );
    }
}

/// Raises the soft limit on open files to the hard one: connections and vagrant processes
/// both need descriptors, and the connection cap is held below the limit.
pub fn raise_open_files_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            if let Err(error) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::warn!(%error, soft, hard, "could not raise the open-files limit");
            }
        }
    }
}
