//! Commands in the database: the history bound and the console chunks.

use rusqlite::{params, Transaction};

use super::schema::{from_json, storage};
use crate::{Command, Result};

/// A command row as listed: the body with the console columns, no console text.
pub(super) fn listed_command(body: &str, bytes: u64, dropped: bool) -> Result<Command> {
    let mut command: Command = from_json("commands", body)?;
    command.console = None;
    command.console_bytes = bytes;
    command.console_truncated = dropped;
    Ok(command)
}

/// Drops the instance's oldest finished commands beyond `keep`.
pub(super) fn prune(tx: &Transaction, instance_id: u64, keep: usize) -> Result<()> {
    let count: i64 = tx
        .query_row(
            "SELECT count(*) FROM commands WHERE instance_id = ?1",
            [instance_id],
            |r| r.get(0),
        )
        .map_err(storage("counting commands"))?;
    let excess = count - keep.max(1) as i64;
    if excess > 0 {
        tx.execute(
            "DELETE FROM commands WHERE id IN (SELECT id FROM commands WHERE instance_id = ?1 AND finished = 1 ORDER BY id LIMIT ?2)",
            params![instance_id, excess],
        )
        .map_err(storage("dropping old commands"))?;
    }
    Ok(())
}

/// Keeps the last `limit` bytes of a command's console: whole chunks are dropped from the
/// front, then the oldest remaining one is cut (at a character boundary).
pub(super) fn trim_console(tx: &Transaction, command_id: u64, limit: u64) -> Result<()> {
    let err = || storage("trimming a console");
    loop {
        let total: u64 = tx
            .query_row(
                "SELECT console_bytes FROM commands WHERE id = ?1",
                [command_id],
                |r| r.get(0),
            )
            .map_err(err())?;
        if total <= limit {
            return Ok(());
        }
        let (seq, text): (i64, String) = tx
            .query_row(
                "SELECT seq, text FROM console_chunks WHERE command_id = ?1 ORDER BY seq LIMIT 1",
                [command_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(err())?;
        let excess = (total - limit) as usize;
        let removed = if excess >= text.len() {
            tx.execute(
                "DELETE FROM console_chunks WHERE command_id = ?1 AND seq = ?2",
                params![command_id, seq],
            )
            .map_err(err())?;
            text.len()
        } else {
            let mut cut = excess;
            while !text.is_char_boundary(cut) {
                cut += 1;
            }
            tx.execute(
                "UPDATE console_chunks SET text = ?3 WHERE command_id = ?1 AND seq = ?2",
                params![command_id, seq, &text[cut..]],
            )
            .map_err(err())?;
            cut
        };
        tx.execute(
            "UPDATE commands SET console_bytes = console_bytes - ?2, console_dropped = 1 WHERE id = ?1",
            params![command_id, removed as u64],
        )
        .map_err(err())?;
    }
}
