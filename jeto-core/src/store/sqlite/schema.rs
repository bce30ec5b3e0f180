//! The database's schema and rows: connections, migrations, id counters, and the JSON each
//! row holds.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::store::Registry;
use crate::{Error, Result};

/// The schema, one step per version (`PRAGMA user_version` says how many are applied). Rows
/// are the serde JSON of the one Rust type each holds; columns exist for what is queried.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE counters (name TEXT PRIMARY KEY, next INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE hosts (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE projects (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE instances (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE commands (
    id INTEGER PRIMARY KEY,
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    finished INTEGER NOT NULL,
    body TEXT NOT NULL,
    console_bytes INTEGER NOT NULL DEFAULT 0,
    console_dropped INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX commands_of_instance ON commands(instance_id, id);
CREATE TABLE console_chunks (
    command_id INTEGER NOT NULL REFERENCES commands(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (command_id, seq)
) WITHOUT ROWID;
"#,
    r#"
CREATE TABLE audit (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
"#,
    // One folder, one instance, enforced by the database too. Folders that earlier versions
    // let several instances share keep their oldest instance in the index; the others stay
    // (their path NULL, which a unique index does not compare) until they are deleted.
    r#"
ALTER TABLE instances ADD COLUMN path TEXT;
UPDATE instances SET path = json_extract(body, '$.path')
    WHERE id IN (SELECT min(id) FROM instances GROUP BY json_extract(body, '$.path'));
CREATE UNIQUE INDEX instances_by_path ON instances(path);
"#,
    // Audit entries of requests without a valid key are trimmed apart from the others.
    r#"
ALTER TABLE audit ADD COLUMN anonymous INTEGER NOT NULL DEFAULT 0;
UPDATE audit SET anonymous = (json_extract(body, '$.principal') IS NULL);
CREATE INDEX audit_by_kind ON audit(anonymous, id);
"#,
    // Users, teams and the keys users make (a key's hash is a column: the body never has it).
    r#"
CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, body TEXT NOT NULL);
CREATE TABLE teams (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, body TEXT NOT NULL);
CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key_sha256 TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL
);
"#,
    r#"
CREATE TABLE events (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
"#,
    // Webhooks and their delivery attempts.
    r#"
CREATE TABLE webhooks (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    webhook_id INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    body TEXT NOT NULL
);
CREATE INDEX deliveries_by_webhook ON deliveries(webhook_id, id);
"#,
    // Domains the proxy serves.
    r#"
CREATE TABLE domains (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
"#,
];

pub(super) fn storage(context: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> Error {
    let context = context.into();
    move |e| Error::storage(context, e)
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn connect(path: &Path) -> Result<Connection> {
    let what = || format!("opening {}", path.display());
    let connection = Connection::open(path).map_err(storage(what()))?;
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
        )
        .map_err(storage(what()))?;
    Ok(connection)
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::storage("encoding a row", e))
}

pub(super) fn from_json<T: serde::de::DeserializeOwned>(table: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| {
        Error::storage(
            format!("a row of table {table} is corrupt (restore the database from a backup)"),
            e,
        )
    })
}

/// Reads and bumps a counter; the id returned is never handed out again.
pub(super) fn take_id(tx: &Transaction, name: &str, at_least: u64) -> Result<u64> {
    let next: u64 = tx
        .query_row("SELECT next FROM counters WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()
        .map_err(storage("reading an id counter"))?
        .unwrap_or(1);
    let id = next.max(at_least).max(1);
    raise_counter(tx, name, id + 1)?;
    Ok(id)
}

pub(super) fn raise_counter(tx: &Transaction, name: &str, next: u64) -> Result<()> {
    tx.execute(
        "INSERT INTO counters (name, next) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET next = max(next, excluded.next)",
        params![name, next],
    )
    .map_err(storage("writing an id counter"))?;
    Ok(())
}

pub(super) fn migrate(connection: &mut Connection, path: &Path) -> Result<()> {
    let version: usize = connection
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(storage(format!(
            "reading the schema version of {}",
            path.display()
        )))?;
    if version > MIGRATIONS.len() {
        return Err(Error::storage(
            format!("{} was written by a newer Jeto", path.display()),
            format!(
                "schema version {version}, this build knows up to {}",
                MIGRATIONS.len()
            ),
        ));
    }
    for (index, step) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = connection
            .transaction()
            .map_err(storage("starting a migration"))?;
        tx.execute_batch(step).map_err(storage(format!(
            "migrating {} to version {}",
            path.display(),
            index + 1
        )))?;
        tx.pragma_update(None, "user_version", index + 1)
            .map_err(storage("recording the schema version"))?;
        tx.commit().map_err(storage("committing a migration"))?;
    }
    Ok(())
}

pub(super) fn load_registry(connection: &Connection) -> Result<Registry> {
    let mut registry = Registry::default();
    let rows = |table: &str| -> Result<Vec<String>> {
        let mut statement = connection
            .prepare(&format!("SELECT body FROM {table} ORDER BY id"))
            .map_err(storage(format!("reading {table}")))?;
        let bodies = statement
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(storage(format!("reading {table}")))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(storage(format!("reading {table}")));
        bodies
    };
    for body in rows("instances")? {
        registry.put_record(from_json("instances", &body)?);
    }
    for body in rows("hosts")? {
        registry.hosts.push(from_json("hosts", &body)?);
    }
    for body in rows("projects")? {
        registry.projects.push(from_json("projects", &body)?);
    }
    let counter = |name: &str| -> Result<u64> {
        Ok(connection
            .query_row("SELECT next FROM counters WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(storage("reading an id counter"))?
            .unwrap_or(1))
    };
    for body in rows("users")? {
        let user = from_json("users", &body)?;
        registry.people.store_user(user);
    }
    for body in rows("teams")? {
        let team = from_json("teams", &body)?;
        registry.people.store_team(team);
    }
    let mut statement = connection
        .prepare("SELECT key_sha256, body FROM api_keys ORDER BY id")
        .map_err(storage("reading api_keys"))?;
    let keys = statement
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .map_err(storage("reading api_keys"))?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(storage("reading api_keys"))?;
    for (hash, body) in keys {
        let mut key: crate::access::people::ApiKey = from_json("api_keys", &body)?;
        key.key_sha256 = hash;
        registry.people.store_key(key);
    }
    registry.people.next_user_id = counter("user")?;
    registry.people.next_team_id = counter("team")?;
    registry.people.next_key_id = counter("key")?;
    registry.next_instance_id = counter("instance")?;
    registry.next_host_id = counter("host")?;
    registry.next_project_id = counter("project")?;
    Ok(registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database from before the folder index, holding two instances on one folder (which
    /// earlier versions allowed), migrates: both are kept, the oldest holds the folder, and a
    /// third is refused by the index.
    #[test]
    fn the_folder_index_migrates_a_database_that_shared_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jeto.sqlite3");
        let mut connection = connect(&path).unwrap();
        for step in &MIGRATIONS[..2] {
            connection.execute_batch(step).unwrap();
        }
        connection.pragma_update(None, "user_version", 2).unwrap();
        for id in [1, 2] {
            connection
                .execute(
                    "INSERT INTO instances (id, body) VALUES (?1, ?2)",
                    params![id, format!(r#"{{"id":{id},"path":"/srv/shared"}}"#)],
                )
                .unwrap();
        }
        migrate(&mut connection, &path).unwrap();
        let holders: Vec<(u64, Option<String>)> = connection
            .prepare("SELECT id, path FROM instances ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(holders, vec![(1, Some("/srv/shared".into())), (2, None)]);
        let third = connection.execute(
            "INSERT INTO instances (id, body, path) VALUES (3, '{}', '/srv/shared')",
            [],
        );
        assert!(third.is_err(), "the unique index refuses a second holder");
    }
}
