//! [`AuditLog`]: who did what, as append-only JSON lines under the data folder, rotated by size.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{Error, Result};

/// The current file's name inside the data folder; rotated files get `.1`, `.2`, ...
pub const AUDIT_FILE: &str = "audit.jsonl";

/// One audited request: a mutating request or a denial.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Increasing sequence number, unique across rotations and restarts.
    #[serde(default)]
    pub id: u64,
    /// When it was answered.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// The token name that asked; `null` when no valid key was given.
    pub principal: Option<String>,
    /// The HTTP method (or the embedder's operation name).
    pub method: String,
    /// The path asked for.
    pub route: String,
    /// The instance concerned, when there is one.
    pub instance: Option<u64>,
    /// The HTTP status of the answer.
    pub status: u16,
    /// `ok`, or the error code of the answer.
    pub outcome: String,
}

/// Size and count limits of an [`AuditLog`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditLimits {
    /// The current file is rotated once it reaches this size.
    pub max_file_bytes: u64,
    /// Rotated files kept; older ones are deleted.
    pub keep_files: usize,
}

impl Default for AuditLimits {
    fn default() -> Self {
        AuditLimits {
            max_file_bytes: 8 << 20,
            keep_files: 4,
        }
    }
}

#[derive(Debug)]
struct Current {
    file: File,
    size: u64,
    next_id: u64,
}

/// An append-only audit log in `<data dir>/audit.jsonl`, rotated by size (bounded to
/// `(keep_files + 1) * max_file_bytes` on disk).
#[derive(Debug)]
pub struct AuditLog {
    dir: PathBuf,
    limits: AuditLimits,
    current: Mutex<Current>,
}

impl AuditLog {
    /// Opens (or creates) the log in `dir`, continuing its sequence numbers.
    pub fn open(dir: &Path, limits: AuditLimits) -> Result<AuditLog> {
        let storage = |e: std::io::Error| {
            Error::storage(format!("opening the audit log in {}", dir.display()), e)
        };
        std::fs::create_dir_all(dir).map_err(storage)?;
        let last = (0..=limits.keep_files)
            .find_map(|n| last_id(&file_name(dir, n)))
            .unwrap_or(0);
        let path = file_name(dir, 0);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(storage)?;
        let mut size = file.metadata().map_err(storage)?.len();
        if size > 0 && !ends_with_newline(&path) {
            // A line cut short by a crash: end it, or the next entry would be glued to it.
            (&file).write_all(b"\n").map_err(storage)?;
            size += 1;
        }
        Ok(AuditLog {
            dir: dir.to_owned(),
            limits,
            current: Mutex::new(Current {
                file,
                size,
                next_id: last + 1,
            }),
        })
    }

    /// Appends one entry (its `id` is assigned here); rotates the file when it is full.
    pub fn record(&self, mut entry: AuditEntry) -> Result<()> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        entry.id = current.next_id;
        let mut line =
            serde_json::to_vec(&entry).map_err(|e| Error::storage("encoding an audit entry", e))?;
        line.push(b'\n');
        if current.size > 0 && current.size + line.len() as u64 > self.limits.max_file_bytes {
            self.rotate(&mut current)?;
        }
        current
            .file
            .write_all(&line)
            .map_err(|e| Error::storage("writing the audit log", e))?;
        current.size += line.len() as u64;
        current.next_id += 1;
        Ok(())
    }

    fn rotate(&self, current: &mut Current) -> Result<()> {
        let storage = |e: std::io::Error| Error::storage("rotating the audit log", e);
        let _ = std::fs::remove_file(file_name(&self.dir, self.limits.keep_files));
        for n in (0..self.limits.keep_files).rev() {
            let from = file_name(&self.dir, n);
            if from.exists() {
                std::fs::rename(&from, file_name(&self.dir, n + 1)).map_err(storage)?;
            }
        }
        current.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(file_name(&self.dir, 0))
            .map_err(storage)?;
        current.size = 0;
        Ok(())
    }

    /// Up to `limit` entries older than `before` (all when `None`), newest first.
    pub fn page(&self, before: Option<u64>, limit: usize) -> Vec<AuditEntry> {
        let _writing = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let mut page = Vec::new();
        for n in 0..=self.limits.keep_files {
            let entries = read_file(&file_name(&self.dir, n));
            for entry in entries.into_iter().rev() {
                if before.is_none_or(|b| entry.id < b) {
                    page.push(entry);
                    if page.len() >= limit {
                        return page;
                    }
                }
            }
        }
        page
    }
}

fn file_name(dir: &Path, n: usize) -> PathBuf {
    match n {
        0 => dir.join(AUDIT_FILE),
        n => dir.join(format!("{AUDIT_FILE}.{n}")),
    }
}

fn ends_with_newline(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let mut last = [0u8; 1];
    File::open(path)
        .and_then(|mut f| {
            f.seek(SeekFrom::End(-1))?;
            f.read_exact(&mut last)
        })
        .is_ok_and(|()| last[0] == b'\n')
}

/// The id of the last whole entry of a file, reading only its end (start-up should not read
/// megabytes of history); the whole file only when no entry ends in its last 64 KiB.
fn last_id(path: &Path) -> Option<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let mut tail = Vec::new();
    file.seek(SeekFrom::Start(len.saturating_sub(64 << 10)))
        .ok()?;
    file.read_to_end(&mut tail).ok()?;
    let from_tail = tail
        .split(|b| *b == b'\n')
        .rev()
        .find_map(|line| serde_json::from_slice::<AuditEntry>(line).ok())
        .map(|e| e.id);
    from_tail.or_else(|| read_file(path).last().map(|e| e.id))
}

/// The entries of one file; a line cut short by a crash is skipped.
fn read_file(path: &Path) -> Vec<AuditEntry> {
    let Ok(file) = File::open(path) else {
        return Vec::new();
    };
    BufReader::new(file)
        .lines()
        .map_while(std::result::Result::ok)
        .filter_map(|line| serde_json::from_str(&line).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(route: &str) -> AuditEntry {
        AuditEntry {
            id: 0,
            time: OffsetDateTime::now_utc(),
            principal: Some("admin".into()),
            method: "POST".into(),
            route: route.into(),
            instance: None,
            status: 201,
            outcome: "ok".into(),
        }
    }

    #[test]
    fn rotates_by_size_keeps_ids_and_pages_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let limits = AuditLimits {
            max_file_bytes: 1024,
            keep_files: 2,
        };
        let log = AuditLog::open(dir.path(), limits).unwrap();
        for n in 0..40 {
            log.record(entry(&format!("/api/{n}"))).unwrap();
        }
        drop(log);
        // A line cut short by a crash: skipped, and the ids go on after the last whole one.
        let mut current = OpenOptions::new()
            .append(true)
            .open(dir.path().join(AUDIT_FILE))
            .unwrap();
        current.write_all(b"{\"id\": 99, \"ti").unwrap();
        drop(current);
        let log = AuditLog::open(dir.path(), limits).unwrap();
        log.record(entry("/api/last")).unwrap();
        let newest = log.page(None, 3);
        assert_eq!(
            newest.iter().map(|e| e.id).collect::<Vec<_>>(),
            [41, 40, 39]
        );
        let older = log.page(Some(39), 2);
        assert_eq!(older.iter().map(|e| e.id).collect::<Vec<_>>(), [38, 37]);
        let files = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(files, 3, "the current file and two rotated ones");
        let total: u64 = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|f| f.unwrap().metadata().unwrap().len())
            .sum();
        assert!(total <= 3 * 1024, "{total} bytes on disk");
    }
}
