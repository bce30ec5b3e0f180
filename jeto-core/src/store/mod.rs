//! Where instances and hosts are kept: the [`InstanceStore`] trait, an in-memory store, and the
//! embedded default, a JSON file replaced atomically.

mod atomic;
mod json_file;
mod memory;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use atomic::write_atomically;
pub use json_file::JsonFileStore;
pub use memory::MemoryStore;

use crate::{Host, HostParams, JetoInfos, Project, Result};

/// An instance as stored: everything but the live status, and the host by id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceRecord {
    /// Unique, positive, never reused.
    pub id: u64,
    /// The name given at creation.
    pub name: String,
    /// The folder with the `Vagrantfile`.
    pub path: String,
    /// The archive it came from, if any.
    pub archive_url: Option<String>,
    /// The git branch or tag it was cloned at, if any.
    pub git_reference: Option<String>,
    /// The git repository it was cloned from, if any.
    #[serde(default)]
    pub git_url: Option<String>,
    /// The expected SHA-256 of its archive, if one was given.
    #[serde(default)]
    pub archive_sha256: Option<String>,
    /// The environment string, exported as `ENVIRONMENT`.
    pub environment: String,
    /// The host it runs on.
    pub host_id: u64,
    /// Whether Jeto made the folder (and so removes it when the instance is deleted).
    #[serde(default)]
    pub managed_folder: bool,
    /// `jeto.json` as last read.
    #[serde(default)]
    pub jeto_infos: JetoInfos,
}

/// An instance to store; the store assigns the id unless one was reserved with
/// [`InstanceStore::reserve_instance_id`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewInstance {
    /// A reserved id, or `None` for the next one.
    pub id: Option<u64>,
    /// See [`InstanceRecord::name`].
    pub name: String,
    /// See [`InstanceRecord::path`].
    pub path: String,
    /// See [`InstanceRecord::archive_url`].
    pub archive_url: Option<String>,
    /// See [`InstanceRecord::git_reference`].
    pub git_reference: Option<String>,
    /// See [`InstanceRecord::git_url`].
    pub git_url: Option<String>,
    /// See [`InstanceRecord::archive_sha256`].
    pub archive_sha256: Option<String>,
    /// See [`InstanceRecord::environment`].
    pub environment: String,
    /// See [`InstanceRecord::host_id`].
    pub host_id: u64,
    /// See [`InstanceRecord::managed_folder`].
    pub managed_folder: bool,
    /// See [`InstanceRecord::jeto_infos`].
    pub jeto_infos: JetoInfos,
}

impl NewInstance {
    fn with_id(self, id: u64) -> InstanceRecord {
        InstanceRecord {
            id,
            name: self.name,
            path: self.path,
            archive_url: self.archive_url,
            git_reference: self.git_reference,
            git_url: self.git_url,
            archive_sha256: self.archive_sha256,
            environment: self.environment,
            host_id: self.host_id,
            managed_folder: self.managed_folder,
            jeto_infos: self.jeto_infos,
        }
    }
}

/// A host to store; the store assigns the id unless one is given (hosts from the config file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewHost {
    /// A fixed id, or `None` for the next free one.
    #[serde(default)]
    pub id: Option<u64>,
    /// A name for people.
    pub name: String,
    /// The Vagrant provider.
    pub provider: String,
    /// `KEY=VALUE` settings.
    #[serde(default)]
    pub params: HostParams,
}

impl NewHost {
    /// A host with no params and the next free id.
    pub fn new(name: impl Into<String>, provider: impl Into<String>) -> Self {
        NewHost {
            id: None,
            name: name.into(),
            provider: provider.into(),
            params: HostParams::default(),
        }
    }
}

/// Keeps instance and host records. Ids are positive and never reused, also after removals
/// (and, for persistent stores, restarts).
///
/// # Contract
///
/// A call that returns `Ok` is durable for a persistent store: a crash after it returns
/// loses nothing. A failed call changes nothing.
pub trait InstanceStore: std::fmt::Debug + Send + Sync + 'static {
    /// All instances, by id.
    fn instances(&self) -> Result<Vec<InstanceRecord>>;
    /// One instance.
    fn instance(&self, id: u64) -> Result<Option<InstanceRecord>>;
    /// Stores a new instance under its reserved id or the next one.
    fn insert_instance(&self, new: NewInstance) -> Result<InstanceRecord>;
    /// Takes the next id for an instance that will be inserted later (e.g. once its folder is
    /// cloned); an id reserved and never used is not handed out again.
    fn reserve_instance_id(&self) -> Result<u64>;
    /// Replaces an existing instance; `false` when there is none with that id.
    fn update_instance(&self, record: InstanceRecord) -> Result<bool>;
    /// Forgets an instance, returning it.
    fn remove_instance(&self, id: u64) -> Result<Option<InstanceRecord>>;
    /// All hosts, by id.
    fn hosts(&self) -> Result<Vec<Host>>;
    /// Stores a host: under its own id when given (replacing one with that id), else the next.
    fn put_host(&self, new: NewHost) -> Result<Host>;
    /// All projects, by id.
    fn projects(&self) -> Result<Vec<Project>>;
    /// Stores a project: under its own id when not 0 (replacing one with that id), else the
    /// next.
    fn put_project(&self, project: Project) -> Result<Project>;
    /// A number that changes whenever anything in the store changes, so callers can cache
    /// what they derive from it.
    fn version(&self) -> u64;
}

/// The data both stores keep, with their id counters. Instances are indexed by id and
/// written as a list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Registry {
    next_instance_id: u64,
    next_host_id: u64,
    #[serde(with = "records_as_list")]
    instances: BTreeMap<u64, InstanceRecord>,
    hosts: Vec<Host>,
    #[serde(default)]
    next_project_id: u64,
    #[serde(default)]
    projects: Vec<Project>,
    /// Bumped by every change; not stored.
    #[serde(skip)]
    version: u64,
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
    fn instances(&self) -> Vec<InstanceRecord> {
        self.instances.values().cloned().collect()
    }

    fn instance(&self, id: u64) -> Option<InstanceRecord> {
        self.instances.get(&id).cloned()
    }

    fn reserve_instance_id(&mut self) -> u64 {
        let id = self.next_instance_id.max(1);
        self.next_instance_id = id + 1;
        self.version += 1;
        id
    }

    fn insert_instance(&mut self, new: NewInstance) -> InstanceRecord {
        let id = match new.id {
            Some(id) => {
                self.next_instance_id = self.next_instance_id.max(id + 1);
                id
            }
            None => self.reserve_instance_id(),
        };
        let record = new.with_id(id);
        self.instances.insert(id, record.clone());
        self.version += 1;
        record
    }

    fn update_instance(&mut self, record: InstanceRecord) -> bool {
        self.version += 1;
        match self.instances.get_mut(&record.id) {
            Some(slot) => {
                *slot = record;
                true
            }
            None => false,
        }
    }

    fn remove_instance(&mut self, id: u64) -> Option<InstanceRecord> {
        self.version += 1;
        self.instances.remove(&id)
    }

    fn put_project(&mut self, mut project: Project) -> Project {
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

    fn put_host(&mut self, new: NewHost) -> Host {
        let id = new.id.unwrap_or_else(|| self.next_host_id.max(1));
        self.next_host_id = self.next_host_id.max(id + 1);
        self.version += 1;
        let host = Host {
            id,
            name: new.name,
            provider: new.provider,
            params: new.params,
        };
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
