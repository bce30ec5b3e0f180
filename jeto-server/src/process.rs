//! The process around the server and the worker: this box's vagrant with its process records,
//! the stop signal, the wait for killed process groups, the open-files limit.

use std::sync::Arc;
use std::time::Duration;

use jeto_vagrant::{ProcessRecords, VagrantProvider};

use crate::config::ServerConfig;

/// This box's vagrant, with its process records: before anything runs, the groups a server
/// or worker killed outright left running are killed.
pub(crate) fn local_vagrant(
    config: &ServerConfig,
) -> Result<(VagrantProvider, Arc<ProcessRecords>), String> {
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
