//! [`FolderQueue`]: one read-only vagrant call per folder at a time.
//!
//! Vagrant locks a machine while it reads its state; a second `vagrant status` (or
//! `ssh-config`) of the same folder started meanwhile fails with "machine is locked". Reads of
//! one folder so wait their turn; reads of different folders still run at once. (A read that
//! meets an action of the same folder is tried again instead; see `LOCKED_RETRY`.)

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

/// The queue of each folder with a read in flight.
#[derive(Debug, Default)]
pub(crate) struct FolderQueue {
    folders: Arc<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>>,
}

impl FolderQueue {
    /// Waits for `folder`'s turn; the turn lasts until the returned value is dropped.
    pub(crate) async fn turn(&self, folder: &Path) -> FolderTurn {
        let queue = self.lock().entry(folder.to_owned()).or_default().clone();
        FolderTurn {
            guard: Some(queue.lock_owned().await),
            folder: folder.to_owned(),
            folders: self.folders.clone(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>> {
        self.folders.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A folder's turn; dropping it lets the next read of the folder run.
pub(crate) struct FolderTurn {
    guard: Option<OwnedMutexGuard<()>>,
    folder: PathBuf,
    folders: Arc<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>>,
}

impl Drop for FolderTurn {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut folders = self.folders.lock().unwrap_or_else(|e| e.into_inner());
        // Only the map holds the queue: nobody waits, so forget the folder.
        if folders
            .get(&self.folder)
            .is_some_and(|queue| Arc::strong_count(queue) == 1)
        {
            folders.remove(&self.folder);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_turn_per_folder_and_none_left_behind() {
        let queue = FolderQueue::default();
        let a = queue.turn(Path::new("/a")).await;
        let _b = queue.turn(Path::new("/b")).await;
        let waiting = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            queue.turn(Path::new("/a")),
        )
        .await;
        assert!(waiting.is_err(), "a second read of /a waits for the first");
        drop(a);
        let again = queue.turn(Path::new("/a")).await;
        drop(again);
        drop(_b);
        assert!(queue.lock().is_empty(), "finished folders are forgotten");
    }
}
