//! The import of the files earlier versions kept (`instances.json`, `commands/*.json`,
//! `commands/sequence`, `audit.jsonl*`) into a new SQLite database, once.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection};

use super::to_json;
use crate::store::Registry;
use crate::{validate, Command, Error, Result};

/// The registry file of earlier versions.
const REGISTRY_FILE: &str = "instances.json";
/// The folder of command histories of earlier versions.
const COMMANDS_DIR: &str = "commands";
/// The audit log of earlier versions (rotated files get `.1`, `.2`, ...).
const AUDIT_FILE: &str = "audit.jsonl";
/// What the imported files are renamed with.
const IMPORTED: &str = ".imported";

fn storage(context: &str) -> impl FnOnce(rusqlite::Error) -> Error + '_ {
    move |e| Error::storage(context.to_owned(), e)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::storage(format!("reading {}", path.display()), e))
}

fn corrupt(path: &Path, e: impl Into<crate::BoxError>) -> Error {
    Error::storage(
        format!(
            "{} cannot be imported (fix it, or move it away to start without it)",
            path.display()
        ),
        e,
    )
}

/// The largest id (and id counter) an imported record may carry: what the dashboard's
/// JavaScript numbers hold exactly, far below where the database's counters would overflow. An
/// id near the top of int64 would leave no room for the next one (every later create or audit
/// entry failing); such a file is refused at start instead, naming the record.
const MAX_IMPORTED_ID: u64 = 1 << 53;

/// A record of `file` that cannot be imported, and why, as the start's error.
fn refused(file: &Path, record: impl std::fmt::Display, why: impl std::fmt::Display) -> Error {
    Error::storage(
        format!(
            "{} cannot be imported: {record} is refused (fix it, or move the file away to start without it)",
            file.display()
        ),
        why.to_string(),
    )
}

fn check_id(file: &Path, record: impl std::fmt::Display, id: u64) -> Result<()> {
    if (1..=MAX_IMPORTED_ID).contains(&id) {
        Ok(())
    } else {
        Err(refused(
            file,
            record,
            format!("its id {id} is not between 1 and {MAX_IMPORTED_ID}"),
        ))
    }
}

/// Checks every record of the registry file as the API checks what it is sent, so that what is
/// imported is what the server could have made itself: nothing that fails later.
fn check_registry(registry: &Registry, file: &Path) -> Result<()> {
    for (name, next) in [
        ("next_instance_id", registry.next_instance_id),
        ("next_host_id", registry.next_host_id),
        ("next_project_id", registry.next_project_id),
    ] {
        if next > MAX_IMPORTED_ID {
            return Err(refused(
                file,
                name,
                format!("{next} is above {MAX_IMPORTED_ID}"),
            ));
        }
    }
    for host in &registry.hosts {
        let record = format!("host {} ({:?})", host.id, host.name);
        check_id(file, &record, host.id)?;
        host.validate().map_err(|e| refused(file, &record, e))?;
    }
    for project in &registry.projects {
        let record = format!("project {} ({:?})", project.id, project.name);
        check_id(file, &record, project.id)?;
        project.validate().map_err(|e| refused(file, &record, e))?;
    }
    for (id, instance) in &registry.instances {
        let record = format!("instance {id} ({:?})", instance.spec.name);
        check_id(file, &record, *id)?;
        let spec = &instance.spec;
        validate::instance_name(&spec.name).map_err(|e| refused(file, &record, e))?;
        validate::free_text("environment", &spec.environment, 256)
            .map_err(|e| refused(file, &record, e))?;
        if !Path::new(&spec.path).is_absolute() {
            return Err(refused(
                file,
                &record,
                format!("its path {:?} is not absolute", spec.path),
            ));
        }
        if let Some(reference) = &spec.git_reference {
            validate::git_reference(reference).map_err(|e| refused(file, &record, e))?;
        }
        if !registry.hosts.iter().any(|h| h.id == instance.host_id) {
            return Err(refused(
                file,
                &record,
                format!("its host {} is not in the file's hosts", instance.host_id),
            ));
        }
    }
    Ok(())
}

/// Imports the JSON files in `data_dir` into `connection` when there are some and the
/// database is empty, in one transaction; then renames them `*.imported`. Files left by an
/// import that committed but did not rename them are only renamed.
pub(super) fn import_json_files(connection: &mut Connection, data_dir: &Path) -> Result<()> {
    let registry_file = data_dir.join(REGISTRY_FILE);
    let commands_dir = data_dir.join(COMMANDS_DIR);
    // Oldest first: the highest rotation number, down to the current file.
    let mut audit_files: Vec<PathBuf> = (1..100)
        .map(|n| data_dir.join(format!("{AUDIT_FILE}.{n}")))
        .filter(|p| p.exists())
        .collect();
    audit_files.reverse();
    audit_files.extend(Some(data_dir.join(AUDIT_FILE)).filter(|p| p.exists()));
    if !registry_file.exists() && !commands_dir.is_dir() && audit_files.is_empty() {
        return Ok(());
    }
    let empty: bool = connection
        .query_row(
            "SELECT NOT EXISTS (SELECT 1 FROM instances) AND NOT EXISTS (SELECT 1 FROM hosts) AND NOT EXISTS (SELECT 1 FROM projects) AND NOT EXISTS (SELECT 1 FROM commands) AND NOT EXISTS (SELECT 1 FROM audit)",
            [],
            |r| r.get(0),
        )
        .map_err(storage("checking whether the database is empty"))?;
    if empty {
        let summary = import(connection, &registry_file, &commands_dir, &audit_files)?;
        tracing::warn!(
            instances = summary.0,
            hosts = summary.1,
            commands = summary.2,
            audit_entries = summary.3,
            "imported the JSON files of an earlier version into the database; the files are kept with an .imported suffix"
        );
    } else {
        tracing::warn!("JSON files of an earlier version were already imported; renaming them");
    }
    for path in [registry_file, commands_dir].into_iter().chain(audit_files) {
        if path.exists() {
            let mut renamed: PathBuf = path.clone().into_os_string().into();
            renamed.as_mut_os_string().push(IMPORTED);
            std::fs::rename(&path, &renamed).map_err(|e| {
                Error::storage(format!("renaming {} after its import", path.display()), e)
            })?;
        }
    }
    Ok(())
}

/// The import itself: (instances, hosts, commands, audit entries) imported.
fn import(
    connection: &mut Connection,
    registry_file: &Path,
    commands_dir: &Path,
    audit_files: &[PathBuf],
) -> Result<(usize, usize, usize, usize)> {
    let registry: Registry = if registry_file.exists() {
        serde_json::from_slice(&read(registry_file)?).map_err(|e| corrupt(registry_file, e))?
    } else {
        Registry::default()
    };
    check_registry(&registry, registry_file)?;
    let tx = connection
        .transaction()
        .map_err(storage("starting the import"))?;
    for record in registry.instances.values() {
        tx.execute(
            "INSERT INTO instances (id, body, path) VALUES (?1, ?2, ?3)",
            params![record.id, to_json(record)?, record.spec.path],
        )
        .map_err(|e| {
            Error::storage(
                format!(
                    "importing instance {} at {} (one folder can hold one instance)",
                    record.id, record.spec.path
                ),
                e,
            )
        })?;
    }
    for host in &registry.hosts {
        tx.execute(
            "INSERT INTO hosts (id, body) VALUES (?1, ?2)",
            params![host.id, to_json(host)?],
        )
        .map_err(storage("importing a host"))?;
    }
    for project in &registry.projects {
        tx.execute(
            "INSERT INTO projects (id, body) VALUES (?1, ?2)",
            params![project.id, to_json(project)?],
        )
        .map_err(storage("importing a project"))?;
    }
    let mut next_command = 1;
    let mut commands = 0;
    if commands_dir.is_dir() {
        let sequence = commands_dir.join("sequence");
        if sequence.exists() {
            let text = read(&sequence)?;
            next_command = String::from_utf8_lossy(&text)
                .trim()
                .parse()
                .map_err(|e| corrupt(&sequence, e))?;
            if next_command > MAX_IMPORTED_ID {
                return Err(refused(&sequence, "the next command id", next_command));
            }
        }
        let entries = std::fs::read_dir(commands_dir)
            .map_err(|e| Error::storage(format!("reading {}", commands_dir.display()), e))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("json"))
            .collect();
        files.sort();
        for file in files {
            let list: Vec<Command> =
                serde_json::from_slice(&read(&file)?).map_err(|e| corrupt(&file, e))?;
            for command in list {
                check_id(&file, format!("command {}", command.id), command.id)?;
                next_command = next_command.max(command.id + 1);
                if !registry.instances.contains_key(&command.instance_id) {
                    continue; // The history of an instance deleted meanwhile.
                }
                let console = command.console.clone().unwrap_or_default();
                let body = crate::Command {
                    console: None,
                    ..command.clone()
                };
                tx.execute(
                    "INSERT INTO commands (id, instance_id, finished, body, console_bytes, console_dropped) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        command.id,
                        command.instance_id,
                        command.status.is_finished(),
                        to_json(&body)?,
                        console.len() as u64,
                        command.console_truncated
                    ],
                )
                .map_err(storage("importing a command"))?;
                if !console.is_empty() {
                    tx.execute(
                        "INSERT INTO console_chunks (command_id, seq, text) VALUES (?1, 0, ?2)",
                        params![command.id, console],
                    )
                    .map_err(storage("importing a console"))?;
                }
                commands += 1;
            }
        }
    }
    let mut next_audit = 1;
    let mut audited = 0;
    for file in audit_files {
        let text = read(file)?;
        // A torn last line (a crash mid-write) is what it was: not an entry.
        for (number, line) in text.split(|b| *b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let Ok(entry) = serde_json::from_slice::<crate::access::audit::AuditEntry>(line) else {
                continue;
            };
            check_id(
                file,
                format!("the audit entry of line {}", number + 1),
                entry.id,
            )?;
            next_audit = next_audit.max(entry.id + 1);
            tx.execute(
                "INSERT OR IGNORE INTO audit (id, body, anonymous) VALUES (?1, ?2, ?3)",
                params![entry.id, to_json(&entry)?, entry.principal.is_none()],
            )
            .map_err(storage("importing an audit entry"))?;
            audited += 1;
        }
    }
    for (name, next) in [
        ("instance", registry.next_instance_id),
        ("host", registry.next_host_id),
        ("project", registry.next_project_id),
        ("command", next_command),
        ("audit", next_audit),
    ] {
        tx.execute(
            "INSERT INTO counters (name, next) VALUES (?1, ?2)",
            params![name, next.max(1)],
        )
        .map_err(storage("importing the id counters"))?;
    }
    tx.commit().map_err(storage("committing the import"))?;
    Ok((
        registry.instances.len(),
        registry.hosts.len(),
        commands,
        audited,
    ))
}
