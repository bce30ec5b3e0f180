//! [`JsonFileStore`]: the embedded default store, one JSON file replaced atomically.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use super::{write_atomically, InstanceRecord, InstanceStore, NewHost, NewInstance, Registry};
use crate::{Error, Host, Project, Result};

/// The file name inside the data folder.
pub const REGISTRY_FILE: &str = "instances.json";

/// An [`InstanceStore`] kept in `<data dir>/instances.json`.
///
/// Every change rewrites the whole file atomically ([`write_atomically`]) before the call
/// returns, so an acknowledged change survives a crash. A file that exists but cannot be read
/// or parsed stops [`open`](JsonFileStore::open) with an error naming it: never a silent empty
/// registry.
#[derive(Debug)]
pub struct JsonFileStore {
    path: PathBuf,
    registry: Mutex<Registry>,
}

impl JsonFileStore {
    /// Opens (or creates) the store in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<JsonFileStore> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            Error::storage(
                format!("creating the data folder {}", data_dir.display()),
                e,
            )
        })?;
        let path = data_dir.join(REGISTRY_FILE);
        let registry = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::storage(
                    format!(
                        "{} is corrupt (fix or restore it from a backup; Jeto will not start over an unreadable registry)",
                        path.display()
                    ),
                    e,
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Registry::default(),
            Err(e) => return Err(Error::storage(format!("reading {}", path.display()), e)),
        };
        Ok(JsonFileStore {
            path,
            registry: Mutex::new(registry),
        })
    }

    /// The file the store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `change` to a copy, persists the copy, and only then makes it current.
    fn change<T>(&self, change: impl FnOnce(&mut Registry) -> T) -> Result<T> {
        let mut current = self.lock();
        let mut next = current.clone();
        let result = change(&mut next);
        let bytes = serde_json::to_vec(&next)
            .map_err(|e| Error::storage(format!("encoding {}", self.path.display()), e))?;
        write_atomically(&self.path, &bytes)?;
        *current = next;
        Ok(result)
    }
}

impl InstanceStore for JsonFileStore {
    fn instances(&self) -> Result<Vec<InstanceRecord>> {
        Ok(self.lock().instances())
    }

    fn instance(&self, id: u64) -> Result<Option<InstanceRecord>> {
        Ok(self.lock().instance(id))
    }

    fn insert_instance(&self, new: NewInstance) -> Result<InstanceRecord> {
        self.change(|r| r.insert_instance(new))
    }

    fn reserve_instance_id(&self) -> Result<u64> {
        self.change(Registry::reserve_instance_id)
    }

    fn update_instance(&self, record: InstanceRecord) -> Result<bool> {
        self.change(|r| r.update_instance(record))
    }

    fn remove_instance(&self, id: u64) -> Result<Option<InstanceRecord>> {
        self.change(|r| r.remove_instance(id))
    }

    fn hosts(&self) -> Result<Vec<Host>> {
        Ok(self.lock().hosts.clone())
    }

    fn put_host(&self, new: NewHost) -> Result<Host> {
        self.change(|r| r.put_host(new))
    }

    fn projects(&self) -> Result<Vec<Project>> {
        Ok(self.lock().projects.clone())
    }

    fn put_project(&self, project: Project) -> Result<Project> {
        self.change(|r| r.put_project(project))
    }

    fn version(&self) -> u64 {
        self.lock().version
    }
}
