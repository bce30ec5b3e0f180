//! Start-up recovery: what a server killed mid-work left behind is cleaned up before anything
//! runs again.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::Path;

use super::Jeto;
use crate::{Action, CommandStatus, Error, Result};

impl Jeto {
    /// Removes instances whose creation was interrupted (their first command, the `sync` that
    /// clones or extracts, was among the `interrupted` ones, and nothing succeeded since), then
    /// every file in `<data dir>/instances` that no instance owns: partial clones,
    /// half-extracted archives, downloads. Only instances with an interrupted `sync` are looked
    /// at, so a start over many instances reads no history.
    pub(super) async fn recover(&self, interrupted: &[crate::Command]) -> Result<()> {
        let store = &self.inner.store;
        let syncing: std::collections::BTreeSet<u64> = interrupted
            .iter()
            .filter(|c| c.action == Action::Sync)
            .map(|c| c.instance_id)
            .collect();
        for id in syncing {
            let Some(record) = store.instance(id).await?.filter(|r| r.managed_folder) else {
                continue;
            };
            let commands = self
                .inner
                .scheduler
                .commands(record.id, crate::store::Page::ALL)
                .await?;
            let interrupted_creation = commands.last().is_some_and(|first| {
                first.action == Action::Sync && first.status == CommandStatus::Interrupted
            }) && !commands
                .iter()
                .any(|c| c.status == CommandStatus::Succeeded);
            if interrupted_creation {
                tracing::warn!(instance = record.id, path = %record.spec.path, "the server stopped while this instance was being created; removing it");
                store.remove_instance(record.id).await?;
                self.inner.scheduler.discard(record.id);
                remove(Path::new(&record.spec.path))?;
            }
        }
        let Some(data_dir) = &self.inner.config.data_dir else {
            return Ok(());
        };
        let folder = data_dir.join("instances");
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::storage(format!("reading {}", folder.display()), e)),
        };
        let owned: HashSet<OsString> = store
            .instances()
            .await?
            .into_iter()
            .filter(|r| r.managed_folder)
            .filter_map(|r| Path::new(&r.spec.path).file_name().map(|n| n.to_owned()))
            .collect();
        for entry in entries {
            let entry =
                entry.map_err(|e| Error::storage(format!("reading {}", folder.display()), e))?;
            if !owned.contains(&entry.file_name()) {
                tracing::warn!(path = %entry.path().display(), "removing what an interrupted creation left behind");
                remove(&entry.path())?;
            }
        }
        Ok(())
    }
}

/// Removes a file or a folder (never following a link); a missing one is fine.
fn remove(path: &Path) -> Result<()> {
    let result = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) => Err(e),
    };
    match result {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::storage(format!("removing {}", path.display()), e))
        }
        _ => Ok(()),
    }
}
