//! [`SqliteStore`]: the embedded default store, one SQLite database in the data folder.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

mod commands;
mod import;
mod schema;

pub(crate) use schema::to_json;

use commands::{listed_command, prune, trim_console};
use schema::{connect, from_json, load_registry, lock, migrate, raise_counter, storage, take_id};

use super::{InstanceRecord, Page, Registry, Store};
use crate::access::audit::AuditEntry;
use crate::access::people::{ApiKey, Team, User};
use crate::{Command, Delivery, Domain, Error, Host, Project, Result, Webhook};

/// The database file inside the data folder.
pub const DATABASE_FILE: &str = "jeto.sqlite3";

/// Read connections kept open between reads.
/// Read connections at once (each has its own page cache): the bound on the store's memory.
const READERS: usize = 4;

/// A [`Store`] in `<data dir>/jeto.sqlite3`: WAL mode, `synchronous = FULL` (a call that
/// returned is on disk), foreign keys on, the schema migrated at open.
///
/// Writes go through one connection, readers through their own (WAL lets them run alongside
/// the writer), every call on tokio's blocking threads. Instances, hosts and projects are also
/// kept in memory, so the reads every request makes never touch the disk.
///
/// On its first open over a data folder written by an earlier version (`instances.json` and
/// `commands/*.json`), it imports those files in one transaction and renames them with an
/// `.imported` suffix.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use jeto_core::store::{SqliteStore, Store};
/// use jeto_core::Host;
/// let dir = tempfile::tempdir().unwrap();
/// let store = SqliteStore::open(dir.path()).unwrap();
/// let host = store.put_host(Host::new("local", "virtualbox")).await.unwrap();
/// drop(store);
/// let again = SqliteStore::open(dir.path()).unwrap();
/// assert_eq!(again.hosts().await.unwrap(), vec![host]);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// One permit per read connection in use.
    reading: tokio::sync::Semaphore,
    registry: Mutex<Registry>,
}

/// Makes the database and its WAL files readable by this user only (SQLite gives the files it
/// makes later the database file's mode).
fn private_files(database: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut wal = database.as_os_str().to_owned();
    wal.push("-wal");
    let mut shm = database.as_os_str().to_owned();
    shm.push("-shm");
    for file in [database.to_path_buf(), wal.into(), shm.into()] {
        match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::storage(
                    format!("making {} private", file.display()),
                    e,
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

impl SqliteStore {
    /// Opens (creating and migrating) the database in `data_dir`; see the type's docs for the
    /// import of earlier JSON files.
    pub fn open(data_dir: &Path) -> Result<SqliteStore> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            Error::storage(
                format!("creating the data folder {}", data_dir.display()),
                e,
            )
        })?;
        let path = data_dir.join(DATABASE_FILE);
        let mut writer = connect(&path)?;
        private_files(&path)?;
        migrate(&mut writer, &path)?;
        import::import_json_files(&mut writer, data_dir)?;
        let registry = load_registry(&writer)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
                reading: tokio::sync::Semaphore::new(READERS),
                registry: Mutex::new(registry),
            }),
        })
    }

    /// Writes a consistent copy of the database in `data_dir` to `target` (SQLite's
    /// `VACUUM INTO`), while a server may be writing to it. `target` must not exist.
    pub fn backup(data_dir: &Path, target: &Path) -> Result<()> {
        let source = data_dir.join(DATABASE_FILE);
        if !source.is_file() {
            return Err(Error::invalid(format!(
                "there is no database at {}: is this the server's data_dir?",
                source.display()
            )));
        }
        let connection = rusqlite::Connection::open_with_flags(
            &source,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(storage("opening the database to back it up"))?;
        connection
            .busy_timeout(std::time::Duration::from_secs(30))
            .map_err(storage("opening the database to back it up"))?;
        let target = target
            .to_str()
            .ok_or_else(|| Error::invalid(format!("{} is not a UTF-8 path", target.display())))?;
        connection
            .execute("VACUUM INTO ?1", [target])
            .map_err(storage("copying the database"))?;
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        lock(&self.inner.registry)
    }

    /// Runs `change` in a write transaction on a blocking thread; once it is committed, `apply`
    /// brings the in-memory registry along (under the writer lock, so in commit order).
    async fn write<T: Send + 'static>(
        &self,
        change: impl FnOnce(&Transaction, &Registry) -> Result<T> + Send + 'static,
        apply: impl FnOnce(&mut Registry, &T) + Send + 'static,
    ) -> Result<T> {
        let inner = self.inner.clone();
        crate::store::blocking(move || {
            let mut writer = lock(&inner.writer);
            let tx = writer
                .transaction()
                .map_err(storage("starting a transaction"))?;
            let result = {
                let registry = lock(&inner.registry);
                change(&tx, &registry)?
            };
            tx.commit().map_err(storage("committing a transaction"))?;
            apply(&mut lock(&inner.registry), &result);
            Ok(result)
        })
        .await
    }

    /// Runs `query` on a read connection on a blocking thread, at most [`READERS`] at once.
    async fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let _reading = self
            .inner
            .reading
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let inner = self.inner.clone();
        crate::store::blocking(move || {
            let connection = lock(&inner.readers).pop();
            let connection = match connection {
                Some(connection) => connection,
                None => connect(&inner.path)?,
            };
            let result = query(&connection);
            let mut idle = lock(&inner.readers);
            if idle.len() < READERS {
                idle.push(connection);
            }
            result
        })
        .await
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn instances(&self) -> Result<Vec<InstanceRecord>> {
        Ok(self.registry().instances())
    }

    async fn instance(&self, id: u64) -> Result<Option<InstanceRecord>> {
        Ok(self.registry().instance(id))
    }

    async fn instance_at(&self, path: &str) -> Result<Option<InstanceRecord>> {
        Ok(self.registry().instance_at(path))
    }

    async fn insert_instance(&self, mut record: InstanceRecord) -> Result<InstanceRecord> {
        super::check_id("instance", record.id)?;
        self.write(
            move |tx, registry| {
                registry.check_folder_free(&record)?;
                record.id = match record.id {
                    0 => take_id(tx, "instance", registry.next_instance_id)?,
                    id => {
                        raise_counter(tx, "instance", id + 1)?;
                        id
                    }
                };
                let id = record.id;
                tx.execute(
                    "INSERT INTO instances (id, body, path) VALUES (?1, ?2, ?3)",
                    params![id, to_json(&record)?, record.spec.path],
                )
                .map_err(storage(format!("storing instance {id}")))?;
                Ok(record)
            },
            |registry, record| registry.put_record(record.clone()),
        )
        .await
    }

    async fn reserve_instance_id(&self) -> Result<u64> {
        self.write(
            |tx, registry| take_id(tx, "instance", registry.next_instance_id),
            |registry, id| registry.next_instance_id = registry.next_instance_id.max(id + 1),
        )
        .await
    }

    async fn update_instance(&self, record: InstanceRecord) -> Result<bool> {
        self.write(
            move |tx, registry| {
                if !registry.instances.contains_key(&record.id) {
                    return Ok(None);
                }
                registry.check_folder_free(&record)?;
                let changed = tx
                    .execute(
                        "UPDATE instances SET body = ?2, path = ?3 WHERE id = ?1",
                        params![record.id, to_json(&record)?, record.spec.path],
                    )
                    .map_err(storage(format!("updating instance {}", record.id)))?;
                Ok((changed > 0).then_some(record))
            },
            |registry, record| {
                if let Some(record) = record {
                    registry.update_instance(record.clone());
                }
            },
        )
        .await
        .map(|record| record.is_some())
    }

    async fn remove_instance(&self, id: u64) -> Result<Option<InstanceRecord>> {
        let removed = self.registry().instance(id);
        self.write(
            move |tx, _| {
                tx.execute("DELETE FROM instances WHERE id = ?1", [id])
                    .map_err(storage(format!("removing instance {id}")))?;
                Ok(())
            },
            move |registry, ()| {
                registry.remove_instance(id);
            },
        )
        .await?;
        Ok(removed)
    }

    async fn hosts(&self) -> Result<Vec<Host>> {
        Ok(self.registry().hosts.clone())
    }

    async fn put_host(&self, mut host: Host) -> Result<Host> {
        super::check_id("host", host.id)?;
        self.write(
            move |tx, registry| {
                host.id = match host.id {
                    0 => take_id(tx, "host", registry.next_host_id)?,
                    id => {
                        raise_counter(tx, "host", id + 1)?;
                        id
                    }
                };
                let id = host.id;
                tx.execute(
                    "INSERT INTO hosts (id, body) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                    params![id, to_json(&host)?],
                )
                .map_err(storage(format!("storing host {id}")))?;
                Ok(host)
            },
            |registry, host| {
                registry.put_host(host.clone());
            },
        )
        .await
    }

    async fn projects(&self) -> Result<Vec<Project>> {
        Ok(self.registry().projects.clone())
    }

    async fn put_project(&self, mut project: Project) -> Result<Project> {
        super::check_id("project", project.id)?;
        self.write(
            move |tx, registry| {
                if project.id == 0 {
                    project.id = take_id(tx, "project", registry.next_project_id)?;
                } else {
                    raise_counter(tx, "project", project.id + 1)?;
                }
                tx.execute(
                    "INSERT INTO projects (id, body) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                    params![project.id, to_json(&project)?],
                )
                .map_err(storage(format!("storing project {}", project.id)))?;
                Ok(project)
            },
            |registry, project| {
                registry.put_project(project.clone());
            },
        )
        .await
    }

    async fn remove_host(&self, id: u64) -> Result<Option<Host>> {
        self.write(
            move |tx, registry| {
                let Some(host) = registry.hosts.iter().find(|h| h.id == id).cloned() else {
                    return Ok(None);
                };
                registry.check_host_unused(id)?;
                tx.execute("DELETE FROM hosts WHERE id = ?1", [id])
                    .map_err(storage(format!("removing host {id}")))?;
                Ok(Some(host))
            },
            move |registry, removed| {
                if removed.is_some() {
                    registry.remove_host(id);
                }
            },
        )
        .await
    }

    async fn remove_project(&self, id: u64) -> Result<Option<Project>> {
        self.write(
            move |tx, registry| {
                let project = registry.projects.iter().find(|p| p.id == id).cloned();
                if project.is_some() {
                    tx.execute("DELETE FROM projects WHERE id = ?1", [id])
                        .map_err(storage(format!("removing project {id}")))?;
                }
                Ok(project)
            },
            move |registry, removed| {
                if removed.is_some() {
                    registry.remove_project(id);
                }
            },
        )
        .await
    }

    async fn users(&self) -> Result<Vec<User>> {
        Ok(self.registry().people.users.clone())
    }

    async fn put_user(&self, mut user: User) -> Result<User> {
        super::check_id("user", user.id)?;
        self.write(
            move |tx, registry| {
                registry.people.check_user(&user)?;
                user.id = match user.id {
                    0 => take_id(tx, "user", registry.people.next_user_id)?,
                    id => {
                        raise_counter(tx, "user", id + 1)?;
                        id
                    }
                };
                tx.execute(
                    "INSERT INTO users (id, name, body) VALUES (?1, ?2, ?3) ON CONFLICT(id) DO UPDATE SET name = excluded.name, body = excluded.body",
                    params![user.id, user.name, to_json(&user)?],
                )
                .map_err(storage(format!("storing user {}", user.id)))?;
                Ok(user)
            },
            |registry, user| registry.people.store_user(user.clone()),
        )
        .await
    }

    async fn remove_user(&self, id: u64) -> Result<Option<User>> {
        self.write(
            move |tx, registry| {
                let Some(user) = registry.people.users.iter().find(|u| u.id == id).cloned() else {
                    return Ok(None);
                };
                for team in registry.people.teams_without(id) {
                    tx.execute(
                        "UPDATE teams SET body = ?2 WHERE id = ?1",
                        params![team.id, to_json(&team)?],
                    )
                    .map_err(storage(format!("taking user {id} out of team {}", team.id)))?;
                }
                // Its keys go with it (ON DELETE CASCADE).
                tx.execute("DELETE FROM users WHERE id = ?1", [id])
                    .map_err(storage(format!("removing user {id}")))?;
                Ok(Some(user))
            },
            move |registry, removed| {
                if removed.is_some() {
                    registry.people.remove_user(id);
                }
            },
        )
        .await
    }

    async fn teams(&self) -> Result<Vec<Team>> {
        Ok(self.registry().people.teams.clone())
    }

    async fn put_team(&self, mut team: Team) -> Result<Team> {
        super::check_id("team", team.id)?;
        self.write(
            move |tx, registry| {
                registry.people.check_team(&team)?;
                team.id = match team.id {
                    0 => take_id(tx, "team", registry.people.next_team_id)?,
                    id => {
                        raise_counter(tx, "team", id + 1)?;
                        id
                    }
                };
                tx.execute(
                    "INSERT INTO teams (id, name, body) VALUES (?1, ?2, ?3) ON CONFLICT(id) DO UPDATE SET name = excluded.name, body = excluded.body",
                    params![team.id, team.name, to_json(&team)?],
                )
                .map_err(storage(format!("storing team {}", team.id)))?;
                Ok(team)
            },
            |registry, team| registry.people.store_team(team.clone()),
        )
        .await
    }

    async fn remove_team(&self, id: u64) -> Result<Option<Team>> {
        self.write(
            move |tx, registry| {
                let team = registry.people.teams.iter().find(|t| t.id == id).cloned();
                tx.execute("DELETE FROM teams WHERE id = ?1", [id])
                    .map_err(storage(format!("removing team {id}")))?;
                Ok(team)
            },
            move |registry, removed| {
                if removed.is_some() {
                    registry.people.remove_team(id);
                }
            },
        )
        .await
    }

    async fn api_keys(&self) -> Result<Vec<ApiKey>> {
        Ok(self.registry().people.keys.clone())
    }

    async fn put_api_key(&self, mut key: ApiKey) -> Result<ApiKey> {
        super::check_id("key", key.id)?;
        self.write(
            move |tx, registry| {
                registry.people.check_key(&key)?;
                key.id = match key.id {
                    0 => take_id(tx, "key", registry.people.next_key_id)?,
                    id => {
                        raise_counter(tx, "key", id + 1)?;
                        id
                    }
                };
                tx.execute(
                    "INSERT INTO api_keys (id, user_id, key_sha256, body) VALUES (?1, ?2, ?3, ?4) ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                    params![key.id, key.user, key.key_sha256, to_json(&key)?],
                )
                .map_err(storage(format!("storing key {}", key.id)))?;
                Ok(key)
            },
            |registry, key| registry.people.store_key(key.clone()),
        )
        .await
    }

    async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>> {
        Ok(self.registry().people.key_by_hash(hash))
    }

    async fn remove_api_key(&self, id: u64) -> Result<Option<ApiKey>> {
        self.write(
            move |tx, registry| {
                let key = registry.people.keys.iter().find(|k| k.id == id).cloned();
                tx.execute("DELETE FROM api_keys WHERE id = ?1", [id])
                    .map_err(storage(format!("removing key {id}")))?;
                Ok(key)
            },
            move |registry, removed| {
                if removed.is_some() {
                    registry.people.remove_key(id);
                }
            },
        )
        .await
    }

    fn version(&self) -> u64 {
        self.registry().version
    }

    async fn insert_command(&self, mut command: Command, keep: usize) -> Result<Command> {
        let instance_id = command.instance_id;
        self.write(
            move |tx, registry| {
                if registry.instance(instance_id).is_none() {
                    return Err(Error::InstanceNotFound { id: instance_id });
                }
                command.id = take_id(tx, "command", 1)?;
                command.console = None;
                command.console_bytes = 0;
                command.console_truncated = false;
                tx.execute(
                    "INSERT INTO commands (id, instance_id, finished, body) VALUES (?1, ?2, ?3, ?4)",
                    params![
                        command.id,
                        instance_id,
                        command.status.is_finished(),
                        to_json(&command)?
                    ],
                )
                .map_err(storage(format!("storing a command of instance {instance_id}")))?;
                prune(tx, instance_id, keep)?;
                Ok(command)
            },
            |_, _| {},
        )
        .await
    }

    async fn update_command(&self, command: &Command) -> Result<()> {
        let command = Command {
            console: None,
            ..command.clone()
        };
        self.write(
            move |tx, _| {
                tx.execute(
                    "UPDATE commands SET body = ?2, finished = ?3 WHERE id = ?1",
                    params![command.id, to_json(&command)?, command.status.is_finished()],
                )
                .map_err(storage(format!("updating command {}", command.id)))?;
                Ok(())
            },
            |_, _| {},
        )
        .await
    }

    async fn append_console(&self, command_id: u64, text: &str, limit: usize) -> Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        let text = text.to_owned();
        let limit = limit.max(1) as u64;
        self.write(
            move |tx, _| {
                let err = || storage(format!("appending to the console of command {command_id}"));
                let exists = tx
                    .query_row("SELECT 1 FROM commands WHERE id = ?1", [command_id], |_| {
                        Ok(())
                    })
                    .optional()
                    .map_err(err())?
                    .is_some();
                if !exists {
                    return Ok(()); // Dropped from the history meanwhile.
                }
                tx.execute(
                    "INSERT INTO console_chunks (command_id, seq, text) VALUES (?1, (SELECT coalesce(max(seq) + 1, 0) FROM console_chunks WHERE command_id = ?1), ?2)",
                    params![command_id, text],
                )
                .map_err(err())?;
                tx.execute(
                    "UPDATE commands SET console_bytes = console_bytes + ?2 WHERE id = ?1",
                    params![command_id, text.len() as u64],
                )
                .map_err(err())?;
                trim_console(tx, command_id, limit)
            },
            |_, _| {},
        )
        .await
    }

    async fn commands(&self, instance_id: u64, page: Page) -> Result<Vec<Command>> {
        let before = page.before.unwrap_or(i64::MAX as u64).min(i64::MAX as u64);
        let limit = page.limit.min(i64::MAX as usize) as i64;
        self.read(move |connection| {
            let err = || storage(format!("reading the commands of instance {instance_id}"));
            let mut statement = connection
                .prepare_cached(
                    "SELECT body, console_bytes, console_dropped FROM commands WHERE instance_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
                )
                .map_err(err())?;
            let rows = statement
                .query_map(params![instance_id, before, limit], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?, r.get::<_, bool>(2)?))
                })
                .map_err(err())?;
            let mut commands = Vec::new();
            for row in rows {
                let (body, bytes, dropped) = row.map_err(err())?;
                commands.push(listed_command(&body, bytes, dropped)?);
            }
            Ok(commands)
        })
        .await
    }

    async fn command(&self, instance_id: u64, command_id: u64) -> Result<Option<Command>> {
        // SQLite ids are int64: a larger one names nothing.
        if i64::try_from(command_id).is_err() || i64::try_from(instance_id).is_err() {
            return Ok(None);
        }
        self.read(move |connection| {
            let err = || storage(format!("reading command {command_id}"));
            let row = connection
                .query_row(
                    "SELECT body, console_bytes, console_dropped FROM commands WHERE id = ?1 AND instance_id = ?2",
                    params![command_id, instance_id],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?, r.get::<_, bool>(2)?)),
                )
                .optional()
                .map_err(err())?;
            let Some((body, bytes, dropped)) = row else {
                return Ok(None);
            };
            let mut command = listed_command(&body, bytes, dropped)?;
            let mut statement = connection
                .prepare_cached("SELECT text FROM console_chunks WHERE command_id = ?1 ORDER BY seq")
                .map_err(err())?;
            let mut console = String::with_capacity(bytes as usize);
            for chunk in statement
                .query_map([command_id], |r| r.get::<_, String>(0))
                .map_err(err())?
            {
                console.push_str(&chunk.map_err(err())?);
            }
            command.console = Some(console);
            Ok(Some(command))
        })
        .await
    }

    async fn interrupt_unfinished(&self) -> Result<Vec<Command>> {
        self.write(
            |tx, _| {
                let err = || storage("marking unfinished commands interrupted");
                let unfinished: Vec<(u64, String)> = {
                    let mut statement = tx
                        .prepare("SELECT id, body FROM commands WHERE finished = 0")
                        .map_err(err())?;
                    let rows = statement
                        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                        .map_err(err())?
                        .collect::<rusqlite::Result<Vec<_>>>()
                        .map_err(err())?;
                    rows
                };
                let mut interrupted = Vec::with_capacity(unfinished.len());
                for (id, body) in &unfinished {
                    let mut command: Command = from_json("commands", body)?;
                    command.interrupt();
                    tx.execute(
                        "UPDATE commands SET body = ?2, finished = 1 WHERE id = ?1",
                        params![id, to_json(&command)?],
                    )
                    .map_err(err())?;
                    interrupted.push(command);
                }
                Ok(interrupted)
            },
            |_, _| {},
        )
        .await
    }

    async fn prune_commands(&self, keep: usize) -> Result<()> {
        self.write(
            move |tx, registry| {
                for id in registry.instances.keys() {
                    prune(tx, *id, keep)?;
                }
                Ok(())
            },
            |_, _| {},
        )
        .await
    }

    async fn append_audit(&self, mut entry: AuditEntry, keep: usize) -> Result<AuditEntry> {
        self.write(
            move |tx, _| {
                entry.id = take_id(tx, "audit", 1)?;
                let anonymous = entry.principal.is_none();
                tx.execute(
                    "INSERT INTO audit (id, body, anonymous) VALUES (?1, ?2, ?3)",
                    params![entry.id, to_json(&entry)?, anonymous],
                )
                .map_err(storage("writing the audit log"))?;
                // Each kind keeps its own newest `keep`: keyless requests never evict others.
                tx.execute(
                    "DELETE FROM audit WHERE anonymous = ?1 AND id IN \
                     (SELECT id FROM audit WHERE anonymous = ?1 ORDER BY id DESC LIMIT -1 OFFSET ?2)",
                    params![anonymous, keep.max(1) as i64],
                )
                .map_err(storage("trimming the audit log"))?;
                Ok(entry)
            },
            |_, _| {},
        )
        .await
    }

    async fn append_events(
        &self,
        events: Vec<crate::Event>,
        keep: usize,
    ) -> Result<Vec<crate::Event>> {
        self.write(
            move |tx, _| {
                let mut stored = Vec::with_capacity(events.len());
                for mut event in events {
                    event.id = take_id(tx, "events", 1)?;
                    tx.execute(
                        "INSERT INTO events (id, body) VALUES (?1, ?2)",
                        params![event.id, to_json(&event)?],
                    )
                    .map_err(storage("writing the event log"))?;
                    stored.push(event);
                }
                if let Some(newest) = stored.last() {
                    let floor = newest.id.saturating_sub(keep.max(1) as u64);
                    tx.execute("DELETE FROM events WHERE id <= ?1", params![floor])
                        .map_err(storage("trimming the event log"))?;
                }
                Ok(stored)
            },
            |_, _| {},
        )
        .await
    }

    async fn events(&self, after: u64, limit: usize) -> Result<Vec<crate::Event>> {
        let after = after.min(i64::MAX as u64);
        let limit = limit.min(i64::MAX as usize) as i64;
        self.read(move |connection| {
            let err = || storage("reading the event log");
            let mut statement = connection
                .prepare_cached("SELECT body FROM events WHERE id > ?1 ORDER BY id LIMIT ?2")
                .map_err(err())?;
            let rows = statement
                .query_map(params![after, limit], |r| r.get::<_, String>(0))
                .map_err(err())?;
            let mut events = Vec::new();
            for row in rows {
                events.push(from_json("events", &row.map_err(err())?)?);
            }
            Ok(events)
        })
        .await
    }

    async fn event_bounds(&self) -> Result<Option<(u64, u64)>> {
        self.read(|connection| {
            connection
                .query_row("SELECT min(id), max(id) FROM events", [], |r| {
                    Ok(r.get::<_, Option<u64>>(0)?.zip(r.get::<_, Option<u64>>(1)?))
                })
                .map_err(storage("reading the event log"))
        })
        .await
    }

    async fn webhooks(&self) -> Result<Vec<Webhook>> {
        self.read(|connection| {
            let err = || storage("reading webhooks");
            let mut statement = connection
                .prepare_cached("SELECT body FROM webhooks ORDER BY id")
                .map_err(err())?;
            let rows = statement
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(err())?;
            let mut webhooks = Vec::new();
            for row in rows {
                webhooks.push(from_json("webhooks", &row.map_err(err())?)?);
            }
            Ok(webhooks)
        })
        .await
    }

    async fn put_webhook(&self, mut webhook: Webhook) -> Result<Webhook> {
        super::check_id("webhook", webhook.id)?;
        self.write(
            move |tx, _| {
                webhook.id = match webhook.id {
                    0 => take_id(tx, "webhook", 1)?,
                    id => {
                        raise_counter(tx, "webhook", id + 1)?;
                        id
                    }
                };
                tx.execute(
                    "INSERT INTO webhooks (id, body) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                    params![webhook.id, to_json(&webhook)?],
                )
                .map_err(storage(format!("storing webhook {}", webhook.id)))?;
                Ok(webhook)
            },
            |_, _| {},
        )
        .await
    }

    async fn advance_webhook(&self, id: u64, cursor: u64, paused: Option<String>) -> Result<bool> {
        let id = id.min(i64::MAX as u64);
        self.write(
            move |tx, _| {
                let body: Option<String> = tx
                    .query_row("SELECT body FROM webhooks WHERE id = ?1", [id], |r| {
                        r.get(0)
                    })
                    .optional()
                    .map_err(storage(format!("reading webhook {id}")))?;
                let Some(body) = body else { return Ok(false) };
                let mut webhook: Webhook = from_json("webhooks", &body)?;
                webhook.cursor = cursor;
                webhook.paused = paused;
                tx.execute(
                    "UPDATE webhooks SET body = ?2 WHERE id = ?1",
                    params![id, to_json(&webhook)?],
                )
                .map_err(storage(format!("storing webhook {id}")))?;
                Ok(true)
            },
            |_, _| {},
        )
        .await
    }

    async fn domains(&self) -> Result<Vec<Domain>> {
        self.read(|connection| {
            let err = || storage("reading domains");
            let mut statement = connection
                .prepare_cached("SELECT body FROM domains ORDER BY id")
                .map_err(err())?;
            let rows = statement
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(err())?;
            let mut domains = Vec::new();
            for row in rows {
                domains.push(from_json("domains", &row.map_err(err())?)?);
            }
            Ok(domains)
        })
        .await
    }

    async fn put_domain(&self, mut domain: Domain) -> Result<Domain> {
        super::check_id("domain", domain.id)?;
        self.write(
            move |tx, _| {
                domain.id = match domain.id {
                    0 => take_id(tx, "domain", 1)?,
                    id => {
                        raise_counter(tx, "domain", id + 1)?;
                        id
                    }
                };
                tx.execute(
                    "INSERT INTO domains (id, body) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                    params![domain.id, to_json(&domain)?],
                )
                .map_err(storage(format!("storing domain {}", domain.id)))?;
                Ok(domain)
            },
            |_, _| {},
        )
        .await
    }

    async fn remove_domain(&self, id: u64) -> Result<Option<Domain>> {
        let id = id.min(i64::MAX as u64);
        self.write(
            move |tx, _| {
                let body: Option<String> = tx
                    .query_row("SELECT body FROM domains WHERE id = ?1", [id], |r| r.get(0))
                    .optional()
                    .map_err(storage(format!("reading domain {id}")))?;
                let Some(body) = body else { return Ok(None) };
                tx.execute("DELETE FROM domains WHERE id = ?1", [id])
                    .map_err(storage(format!("removing domain {id}")))?;
                Ok(Some(from_json("domains", &body)?))
            },
            |_, _| {},
        )
        .await
    }

    async fn remove_webhook(&self, id: u64) -> Result<Option<Webhook>> {
        let id = id.min(i64::MAX as u64);
        self.write(
            move |tx, _| {
                let body: Option<String> = tx
                    .query_row("SELECT body FROM webhooks WHERE id = ?1", [id], |r| {
                        r.get(0)
                    })
                    .optional()
                    .map_err(storage(format!("reading webhook {id}")))?;
                let Some(body) = body else { return Ok(None) };
                tx.execute("DELETE FROM webhooks WHERE id = ?1", [id])
                    .map_err(storage(format!("removing webhook {id}")))?;
                Ok(Some(from_json("webhooks", &body)?))
            },
            |_, _| {},
        )
        .await
    }

    async fn append_delivery(&self, mut delivery: Delivery, keep: usize) -> Result<Delivery> {
        self.write(
            move |tx, _| {
                delivery.id = take_id(tx, "delivery", 1)?;
                tx.execute(
                    "INSERT INTO deliveries (id, webhook_id, body) VALUES (?1, ?2, ?3)",
                    params![delivery.id, delivery.webhook, to_json(&delivery)?],
                )
                .map_err(storage("recording a webhook delivery"))?;
                tx.execute(
                    "DELETE FROM deliveries WHERE webhook_id = ?1 AND id NOT IN (SELECT id FROM deliveries WHERE webhook_id = ?1 ORDER BY id DESC LIMIT ?2)",
                    params![delivery.webhook, keep.max(1).min(i64::MAX as usize) as i64],
                )
                .map_err(storage("trimming webhook deliveries"))?;
                Ok(delivery)
            },
            |_, _| {},
        )
        .await
    }

    async fn deliveries(&self, webhook: u64, limit: usize) -> Result<Vec<Delivery>> {
        let webhook = webhook.min(i64::MAX as u64);
        let limit = limit.min(i64::MAX as usize) as i64;
        self.read(move |connection| {
            let err = || storage("reading webhook deliveries");
            let mut statement = connection
                .prepare_cached(
                    "SELECT body FROM deliveries WHERE webhook_id = ?1 ORDER BY id DESC LIMIT ?2",
                )
                .map_err(err())?;
            let rows = statement
                .query_map(params![webhook, limit], |r| r.get::<_, String>(0))
                .map_err(err())?;
            let mut deliveries = Vec::new();
            for row in rows {
                deliveries.push(from_json("deliveries", &row.map_err(err())?)?);
            }
            Ok(deliveries)
        })
        .await
    }

    async fn audit(&self, before: Option<u64>, limit: usize) -> Result<Vec<AuditEntry>> {
        let before = before.unwrap_or(i64::MAX as u64).min(i64::MAX as u64);
        let limit = limit.min(i64::MAX as usize) as i64;
        self.read(move |connection| {
            let err = || storage("reading the audit log");
            let mut statement = connection
                .prepare_cached("SELECT body FROM audit WHERE id < ?1 ORDER BY id DESC LIMIT ?2")
                .map_err(err())?;
            let rows = statement
                .query_map(params![before, limit], |r| r.get::<_, String>(0))
                .map_err(err())?;
            let mut entries = Vec::new();
            for row in rows {
                entries.push(from_json("audit", &row.map_err(err())?)?);
            }
            Ok(entries)
        })
        .await
    }
}
