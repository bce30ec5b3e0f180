//! Where Jeto keeps its data: the async [`Store`] trait, [`MemoryStore`] for tests and
//! embedders that keep nothing, and the embedded default [`SqliteStore`] (feature `sqlite`),
//! one SQLite database holding instances, hosts, projects, commands and their consoles.

mod atomic;
mod blocking;
mod memory;
mod people;
mod registry;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
mod sqlite;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use atomic::write_atomically;
pub(crate) use blocking::blocking;
pub use memory::MemoryStore;
pub(crate) use people::People;
pub(crate) use registry::Registry;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::{SqliteStore, DATABASE_FILE};

use crate::access::audit::AuditEntry;
use crate::access::people::{ApiKey, Team, User};
use crate::{Command, Delivery, Domain, Event, Host, InstanceSpec, Project, Result, Webhook};

/// An instance as stored: everything but the live status, and the host by id. Its JSON is
/// the [`InstanceSpec`] fields flattened, with `id`, `host_id` and `managed_folder`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceRecord {
    /// Unique, positive, never reused; 0 in a record not stored yet (the store assigns the
    /// next id).
    pub id: u64,
    /// Name, folder, source, environment, `jeto.json`.
    #[serde(flatten)]
    pub spec: InstanceSpec,
    /// The host it runs on.
    pub host_id: u64,
    /// Whether Jeto made the folder (and so removes it when the instance is deleted).
    #[serde(default)]
    pub managed_folder: bool,
    /// The user whose key or sign-in made it (their quotas and their teams' count it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<u64>,
    /// The project it was made from (its quota counts it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<u64>,
}

impl InstanceRecord {
    /// A record not stored yet (id 0) of an instance on `host_id`, in a folder Jeto did not
    /// make.
    pub fn new(spec: InstanceSpec, host_id: u64) -> Self {
        InstanceRecord {
            id: 0,
            spec,
            host_id,
            managed_folder: false,
            owner: None,
            project: None,
        }
    }
}

/// The answer of a [`Store`] method a store does not implement.
fn unsupported<T>(what: &str) -> Result<T> {
    Err(crate::Error::NotSupported { what: what.into() })
}

/// Ids are int64 in SQLite and in the API: a larger one given by a caller is refused.
pub(crate) fn check_id(kind: &str, id: u64) -> Result<()> {
    if id > i64::MAX as u64 {
        return Err(crate::Error::invalid(format!(
            "{kind} id {id} is larger than the largest id, {}",
            i64::MAX
        )));
    }
    Ok(())
}

/// Which commands of an instance to list: newest first, older than `before` when given, at
/// most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Only commands with a smaller id.
    pub before: Option<u64>,
    /// At most this many.
    pub limit: usize,
}

impl Page {
    /// Every command, newest first.
    pub const ALL: Page = Page {
        before: None,
        limit: usize::MAX,
    };
}

/// Keeps Jeto's data: instances, hosts and projects, every instance's commands with their
/// consoles, and the audit log. Async at its interface; an implementation never blocks the async workers.
///
/// # Contract
///
/// - Ids (instances, hosts, projects, commands) are positive and never reused, also after
///   removals and, for persistent stores, restarts.
/// - A call that returns `Ok` is durable for a persistent store: a crash after it returns loses
///   nothing. A failed call changes nothing.
/// - An instance's commands keep their submission (id) order; listing them carries no console
///   (`console` is `None`, `console_bytes` says how much there is), reading one carries it.
/// - Run against [`crate::testing::store_conformance`] (feature `testing`).
#[async_trait]
pub trait Store: std::fmt::Debug + Send + Sync + 'static {
    /// All instances, by id.
    async fn instances(&self) -> Result<Vec<InstanceRecord>>;
    /// One instance.
    async fn instance(&self, id: u64) -> Result<Option<InstanceRecord>>;
    /// The instance registered on a folder (one folder holds one instance).
    async fn instance_at(&self, path: &str) -> Result<Option<InstanceRecord>>;
    /// Stores a new instance under its id (one from [`Store::reserve_instance_id`]), or the
    /// next one when its id is 0.
    async fn insert_instance(&self, record: InstanceRecord) -> Result<InstanceRecord>;
    /// Takes the next id for an instance that will be inserted later (e.g. once its folder is
    /// cloned); an id reserved and never used is not handed out again.
    async fn reserve_instance_id(&self) -> Result<u64>;
    /// Replaces an existing instance; `false` when there is none with that id.
    async fn update_instance(&self, record: InstanceRecord) -> Result<bool>;
    /// Forgets an instance and its commands, returning it.
    async fn remove_instance(&self, id: u64) -> Result<Option<InstanceRecord>>;
    /// All hosts, by id.
    async fn hosts(&self) -> Result<Vec<Host>>;
    /// Stores a host: under its own id when not 0 (replacing one with that id), else the next.
    async fn put_host(&self, host: Host) -> Result<Host>;
    /// All projects, by id.
    async fn projects(&self) -> Result<Vec<Project>>;
    /// Stores a project: under its own id when not 0 (replacing one with that id), else the
    /// next.
    async fn put_project(&self, project: Project) -> Result<Project>;
    /// Removes a host, in one step with the check that no instance runs on it (a
    /// [`crate::Error::Conflict`] saying how many do); `None` when there is no such host. The
    /// default: [`crate::Error::NotSupported`].
    async fn remove_host(&self, id: u64) -> Result<Option<Host>> {
        let _ = id;
        Err(crate::Error::NotSupported {
            what: "remove hosts from this store".into(),
        })
    }
    /// All users, by id.
    async fn users(&self) -> Result<Vec<User>> {
        unsupported("keep users")
    }
    /// Stores a user: a new one (id 0: the next id) or a replacement; a `Conflict` when
    /// another user has its name.
    async fn put_user(&self, user: User) -> Result<User> {
        let _ = user;
        unsupported("keep users")
    }
    /// Removes a user, with their keys and their places in teams.
    async fn remove_user(&self, id: u64) -> Result<Option<User>> {
        let _ = id;
        unsupported("keep users")
    }
    /// All teams, by id.
    async fn teams(&self) -> Result<Vec<Team>> {
        unsupported("keep teams")
    }
    /// Stores a team (as [`Store::put_user`]); its members must be users.
    async fn put_team(&self, team: Team) -> Result<Team> {
        let _ = team;
        unsupported("keep teams")
    }
    /// Removes a team.
    async fn remove_team(&self, id: u64) -> Result<Option<Team>> {
        let _ = id;
        unsupported("keep teams")
    }
    /// All keys users made, by id, with their hashes.
    async fn api_keys(&self) -> Result<Vec<ApiKey>> {
        unsupported("keep keys")
    }
    /// The key whose SHA-256 is `hash` (what signing in asks at each request). The default
    /// looks through [`Store::api_keys`].
    async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>> {
        Ok(self
            .api_keys()
            .await?
            .into_iter()
            .find(|k| k.key_sha256 == hash))
    }
    /// Stores a key (as [`Store::put_user`]); its user must exist and its hash be its own.
    async fn put_api_key(&self, key: ApiKey) -> Result<ApiKey> {
        let _ = key;
        unsupported("keep keys")
    }
    /// Removes a key: refused from its next request on.
    async fn remove_api_key(&self, id: u64) -> Result<Option<ApiKey>> {
        let _ = id;
        unsupported("keep keys")
    }
    /// Removes a project (instances made from it keep their folder and source); `None` when
    /// there is no such project. The default: [`crate::Error::NotSupported`].
    async fn remove_project(&self, id: u64) -> Result<Option<Project>> {
        let _ = id;
        Err(crate::Error::NotSupported {
            what: "remove projects from this store".into(),
        })
    }
    /// A number that changes whenever an instance, host or project changes, so callers can
    /// cache what they derive from them.
    fn version(&self) -> u64;

    /// Stores a new command of an existing instance under the next command id (its `id` and
    /// console are ignored), then drops that instance's oldest finished commands beyond `keep`.
    async fn insert_command(&self, command: Command, keep: usize) -> Result<Command>;
    /// Records a command's new state (status, times, exit code, error); its console is kept.
    async fn update_command(&self, command: &Command) -> Result<()>;
    /// Appends output to a command's console, keeping its last `limit` bytes.
    async fn append_console(&self, command_id: u64, text: &str, limit: usize) -> Result<()>;
    /// A page of an instance's commands, newest first, without consoles.
    async fn commands(&self, instance_id: u64, page: Page) -> Result<Vec<Command>>;
    /// One command of an instance, with its console.
    async fn command(&self, instance_id: u64, command_id: u64) -> Result<Option<Command>>;
    /// At start: every command still queued or running (the previous run stopped before it
    /// ended) becomes `interrupted`. Returns those commands (without consoles).
    async fn interrupt_unfinished(&self) -> Result<Vec<Command>>;
    /// Drops each instance's oldest finished commands beyond `keep`.
    async fn prune_commands(&self, keep: usize) -> Result<()>;

    /// Appends an audit entry under the next audit id (its `id` is ignored), then drops the
    /// oldest entries of its kind beyond `keep`: entries with a principal and entries without
    /// one (requests with no valid key) are kept apart, so neither kind evicts the other.
    async fn append_audit(&self, entry: AuditEntry, keep: usize) -> Result<AuditEntry>;
    /// Up to `limit` audit entries with an id below `before`, newest first.
    async fn audit(&self, before: Option<u64>, limit: usize) -> Result<Vec<AuditEntry>>;

    /// Appends events under the next event ids, in order (their `id` is ignored), then drops
    /// the oldest beyond `keep` (at least the newest is kept). The events as stored.
    async fn append_events(&self, events: Vec<Event>, keep: usize) -> Result<Vec<Event>> {
        let _ = (events, keep);
        Err(crate::Error::NotSupported {
            what: "keep events in this store".into(),
        })
    }
    /// Up to `limit` events with an id above `after`, oldest first.
    async fn events(&self, after: u64, limit: usize) -> Result<Vec<Event>> {
        let _ = (after, limit);
        Err(crate::Error::NotSupported {
            what: "keep events in this store".into(),
        })
    }
    /// The ids of the oldest and the newest event kept; `None` when none is.
    async fn event_bounds(&self) -> Result<Option<(u64, u64)>> {
        Err(crate::Error::NotSupported {
            what: "keep events in this store".into(),
        })
    }

    /// Every webhook, by id.
    async fn webhooks(&self) -> Result<Vec<Webhook>> {
        Ok(Vec::new())
    }
    /// Stores a webhook (a new id when its id is 0); the webhook as stored.
    async fn put_webhook(&self, webhook: Webhook) -> Result<Webhook> {
        let _ = webhook;
        Err(crate::Error::NotSupported {
            what: "keep webhooks in this store".into(),
        })
    }
    /// Records a webhook's progress: the last event handled and why it is paused, leaving
    /// its definition as it is. `false` when there is no such webhook.
    async fn advance_webhook(&self, id: u64, cursor: u64, paused: Option<String>) -> Result<bool> {
        let _ = (id, cursor, paused);
        Ok(false)
    }
    /// Removes a webhook and its deliveries.
    async fn remove_webhook(&self, id: u64) -> Result<Option<Webhook>> {
        let _ = id;
        Ok(None)
    }
    /// Records a delivery attempt under the next id, keeping the newest `keep` per webhook.
    async fn append_delivery(&self, delivery: Delivery, keep: usize) -> Result<Delivery> {
        let _ = (delivery, keep);
        Err(crate::Error::NotSupported {
            what: "keep webhook deliveries in this store".into(),
        })
    }
    /// Up to `limit` deliveries of a webhook, newest first.
    async fn deliveries(&self, webhook: u64, limit: usize) -> Result<Vec<Delivery>> {
        let _ = (webhook, limit);
        Ok(Vec::new())
    }

    /// Every domain, by id (with password hashes and private keys: the service redacts).
    async fn domains(&self) -> Result<Vec<Domain>> {
        Ok(Vec::new())
    }
    /// Stores a domain (a new id when its id is 0); the domain as stored. The service checks
    /// that names are unique before.
    async fn put_domain(&self, domain: Domain) -> Result<Domain> {
        let _ = domain;
        Err(crate::Error::NotSupported {
            what: "keep domains in this store".into(),
        })
    }
    /// Removes a domain.
    async fn remove_domain(&self, id: u64) -> Result<Option<Domain>> {
        let _ = id;
        Ok(None)
    }
}
