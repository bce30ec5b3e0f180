//! [`CommandHistory`]: command records on disk, so they outlive a restart.

use std::collections::HashMap;
use std::path::PathBuf;

use time::OffsetDateTime;

use crate::store::write_atomically;
use crate::{Command, CommandError, CommandStatus, Error, Result};

/// How many ids are reserved on disk at a time, so allocating one rarely writes.
const ID_BLOCK: u64 = 1000;

/// Persists each instance's commands as `<dir>/<instance id>.json`, and the id high-water
/// mark as `<dir>/sequence`. With no folder, nothing is written.
#[derive(Debug, Clone)]
pub struct CommandHistory {
    dir: Option<PathBuf>,
}

/// What [`CommandHistory::load`] found.
#[derive(Debug, Default)]
pub struct LoadedHistory {
    /// Commands per instance, oldest first.
    pub commands: HashMap<u64, Vec<Command>>,
    /// The first id that is free.
    pub next_id: u64,
}

impl CommandHistory {
    /// A history in `dir` (created if missing), or in memory only with `None`.
    pub fn new(dir: Option<PathBuf>) -> Result<Self> {
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::storage(format!("creating {}", dir.display()), e))?;
        }
        Ok(CommandHistory { dir })
    }

    /// Reads every instance's commands. Commands that were queued or running when the process
    /// stopped are marked `interrupted` (and written back).
    pub fn load(&self) -> Result<LoadedHistory> {
        let Some(dir) = &self.dir else {
            return Ok(LoadedHistory {
                next_id: 1,
                ..Default::default()
            });
        };
        let mut loaded = LoadedHistory::default();
        let mut max_id = 0;
        let entries = std::fs::read_dir(dir)
            .map_err(|e| Error::storage(format!("reading {}", dir.display()), e))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| Error::storage(format!("reading {}", dir.display()), e))?;
            let path = entry.path();
            let Some(instance_id) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let bytes = std::fs::read(&path)
                .map_err(|e| Error::storage(format!("reading {}", path.display()), e))?;
            let mut commands: Vec<Command> = serde_json::from_slice(&bytes).map_err(|e| {
                Error::storage(
                    format!("{} is corrupt (fix or remove it)", path.display()),
                    e,
                )
            })?;
            let mut changed = false;
            for command in commands.iter_mut().filter(|c| !c.status.is_finished()) {
                interrupt(command);
                changed = true;
            }
            max_id = commands.iter().map(|c| c.id).fold(max_id, u64::max);
            if changed {
                self.save(instance_id, &commands)?;
            }
            loaded.commands.insert(instance_id, commands);
        }
        let reserved = match std::fs::read_to_string(dir.join("sequence")) {
            Ok(text) => text.trim().parse().map_err(|e| {
                Error::storage(format!("{} is corrupt", dir.join("sequence").display()), e)
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 1,
            Err(e) => return Err(Error::storage("reading the command id sequence", e)),
        };
        loaded.next_id = reserved.max(max_id + 1).max(1);
        Ok(loaded)
    }

    /// Makes sure ids below `id + 1` are never handed out again after a restart; returns the
    /// new reservation (or the old one when it already covers `id`).
    pub fn reserve(&self, id: u64, reserved: u64) -> Result<u64> {
        if id < reserved {
            return Ok(reserved);
        }
        let next = id + ID_BLOCK;
        if let Some(dir) = &self.dir {
            write_atomically(&dir.join("sequence"), next.to_string().as_bytes())?;
        }
        Ok(next)
    }

    /// Writes one instance's commands.
    pub fn save(&self, instance_id: u64, commands: &[Command]) -> Result<()> {
        let Some(dir) = &self.dir else { return Ok(()) };
        let bytes =
            serde_json::to_vec(commands).map_err(|e| Error::storage("encoding commands", e))?;
        write_atomically(&dir.join(format!("{instance_id}.json")), &bytes)
    }

    /// Deletes one instance's commands.
    pub fn remove(&self, instance_id: u64) -> Result<()> {
        let Some(dir) = &self.dir else { return Ok(()) };
        match std::fs::remove_file(dir.join(format!("{instance_id}.json"))) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::storage(
                format!("removing the commands of instance {instance_id}"),
                e,
            )),
            _ => Ok(()),
        }
    }
}

/// Marks a command that will never finish because the server stopped.
pub(crate) fn interrupt(command: &mut Command) {
    command.status = CommandStatus::Interrupted;
    command.finished_at = Some(OffsetDateTime::now_utc());
    command.error = Some(CommandError::message(
        "the server stopped before this command finished; run it again if it is still needed",
    ));
}
