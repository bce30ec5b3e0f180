//! [`Registry`]: instances, hosts and projects with their id counters, in memory. The memory
//! store keeps its records here; the SQLite store keeps a copy of its tables here, so the reads
//! every request makes never touch the disk.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::InstanceRecord;
use crate::{Host, Project};

/// Instances, hosts and projects with their id counters; instances indexed by id (and read
/// from the JSON files of earlier versions, where they were a list).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Registry {
    pub(crate) next_instance_id: u64,
    pub(crate) next_host_id: u64,
    #[serde(with = "records_as_list")]
    pub(crate) instances: BTreeMap<u64, InstanceRecord>,
    pub(crate) hosts: Vec<Host>,
    #[serde(default)]
    pub(crate) next_project_id: u64,
    #[serde(default)]
    pub(crate) projects: Vec<Project>,
    /// Bumped by every change; not stored.
    #[serde(skip)]
    pub(crate) version: u64,
    /// Users, teams and their keys (not in the JSON data folders of old versions).
    #[serde(skip)]
    pub(crate) people: super::People,
    /// Instance ids by path (one folder holds one instance), kept with `instances`.
    #[serde(skip)]
    by_path: HashMap<String, u64>,
}

mod records_as_list {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serializer};

    use super::InstanceRecord;

    pub fn serialize<S: Serializer>(
        map: &BTreeMap<u64, InstanceRecord>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.values())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<u64, InstanceRecord>, D::Error> {
        let list = Vec::<InstanceRecord>::deserialize(d)?;
        Ok(list.into_iter().map(|r| (r.id, r)).collect())
    }
}

impl Registry {
    pub(crate) fn instances(&self) -> Vec<InstanceRecord> {
        self.instances.values().cloned().collect()
    }

    pub(crate) fn instance(&self, id: u64) -> Option<InstanceRecord> {
        self.instances.get(&id).cloned()
    }

    /// The instance registered on `path`, without looking at the others.
    pub(crate) fn instance_at(&self, path: &str) -> Option<InstanceRecord> {
        self.by_path.get(path).and_then(|id| self.instance(*id))
    }

    /// Refuses `record` when another instance holds its folder: one folder, one instance
    /// (two would run vagrant in it at once, and deleting one would destroy the other's
    /// machines). Stores check it in the same step as the write.
    pub(crate) fn check_folder_free(&self, record: &InstanceRecord) -> crate::Result<()> {
        match self.by_path.get(&record.spec.path) {
            Some(holder) if *holder != record.id => Err(crate::Error::Conflict {
                message: format!(
                    "{} is already registered as an instance; one folder can hold one instance",
                    record.spec.path
                ),
            }),
            _ => Ok(()),
        }
    }

    /// Puts a record as it is (loaded, or written by a store), keeping the path index.
    pub(crate) fn put_record(&mut self, record: InstanceRecord) {
        if let Some(old) = self.instances.get(&record.id) {
            self.by_path.remove(&old.spec.path);
        }
        self.next_instance_id = self.next_instance_id.max(record.id + 1);
        self.by_path.insert(record.spec.path.clone(), record.id);
        self.instances.insert(record.id, record);
        self.version += 1;
    }

    pub(crate) fn reserve_instance_id(&mut self) -> u64 {
        let id = self.next_instance_id.max(1);
        self.next_instance_id = id + 1;
        self.version += 1;
        id
    }

    pub(crate) fn insert_instance(&mut self, mut record: InstanceRecord) -> InstanceRecord {
        if record.id == 0 {
            record.id = self.reserve_instance_id();
        }
        self.put_record(record.clone());
        record
    }

    pub(crate) fn update_instance(&mut self, record: InstanceRecord) -> bool {
        self.version += 1;
        if !self.instances.contains_key(&record.id) {
            return false;
        }
        self.put_record(record);
        true
    }

    pub(crate) fn remove_instance(&mut self, id: u64) -> Option<InstanceRecord> {
        self.version += 1;
        let removed = self.instances.remove(&id)?;
        self.by_path.remove(&removed.spec.path);
        Some(removed)
    }

    /// Refuses to remove host `id` while instances run on it, saying how many.
    pub(crate) fn check_host_unused(&self, id: u64) -> crate::Result<()> {
        let users: Vec<String> = self
            .instances
            .values()
            .filter(|i| i.host_id == id)
            .map(|i| i.id.to_string())
            .collect();
        if users.is_empty() {
            return Ok(());
        }
        Err(crate::Error::Conflict {
            message: format!(
                "host {id} is used by {} instance(s) ({}): delete them or move them to another host first",
                users.len(),
                users.iter().take(10).cloned().collect::<Vec<_>>().join(", ")
            ),
        })
    }

    pub(crate) fn remove_host(&mut self, id: u64) -> Option<Host> {
        let at = self.hosts.iter().position(|h| h.id == id)?;
        self.version += 1;
        Some(self.hosts.remove(at))
    }

    pub(crate) fn remove_project(&mut self, id: u64) -> Option<Project> {
        let at = self.projects.iter().position(|p| p.id == id)?;
        self.version += 1;
        Some(self.projects.remove(at))
    }

    pub(crate) fn put_project(&mut self, mut project: Project) -> Project {
        if project.id == 0 {
            project.id = self.next_project_id.max(1);
        }
        self.next_project_id = self.next_project_id.max(project.id + 1);
        self.version += 1;
        match self.projects.iter_mut().find(|p| p.id == project.id) {
            Some(slot) => *slot = project.clone(),
            None => {
                self.projects.push(project.clone());
                self.projects.sort_by_key(|p| p.id);
            }
        }
        project
    }

    pub(crate) fn put_host(&mut self, mut host: Host) -> Host {
        if host.id == 0 {
            host.id = self.next_host_id.max(1);
        }
        let id = host.id;
        self.next_host_id = self.next_host_id.max(id + 1);
        self.version += 1;
        match self.hosts.iter_mut().find(|h| h.id == id) {
            Some(slot) => *slot = host.clone(),
            None => {
                self.hosts.push(host.clone());
                self.hosts.sort_by_key(|h| h.id);
            }
        }
        host
    }
}
