//! [`MemoryStore`]: records in memory, for tests and embedders that keep nothing.

use std::sync::{Arc, Mutex, MutexGuard};

use super::{InstanceRecord, InstanceStore, NewHost, NewInstance, Registry};
use crate::{Host, Project, Result};

/// An [`InstanceStore`] in memory; clones share the same records.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    registry: Arc<Mutex<Registry>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl InstanceStore for MemoryStore {
    fn instances(&self) -> Result<Vec<InstanceRecord>> {
        Ok(self.lock().instances())
    }

    fn instance(&self, id: u64) -> Result<Option<InstanceRecord>> {
        Ok(self.lock().instance(id))
    }

    fn insert_instance(&self, new: NewInstance) -> Result<InstanceRecord> {
        Ok(self.lock().insert_instance(new))
    }

    fn reserve_instance_id(&self) -> Result<u64> {
        Ok(self.lock().reserve_instance_id())
    }

    fn update_instance(&self, record: InstanceRecord) -> Result<bool> {
        Ok(self.lock().update_instance(record))
    }

    fn remove_instance(&self, id: u64) -> Result<Option<InstanceRecord>> {
        Ok(self.lock().remove_instance(id))
    }

    fn hosts(&self) -> Result<Vec<Host>> {
        Ok(self.lock().hosts.clone())
    }

    fn put_host(&self, new: NewHost) -> Result<Host> {
        Ok(self.lock().put_host(new))
    }

    fn projects(&self) -> Result<Vec<Project>> {
        Ok(self.lock().projects.clone())
    }

    fn put_project(&self, project: Project) -> Result<Project> {
        Ok(self.lock().put_project(project))
    }

    fn version(&self) -> u64 {
        self.lock().version
    }
}
