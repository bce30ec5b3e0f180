//! [`ProcessRecords`]: one small file per running process group, so that a server killed with
//! SIGKILL kills, at its next start, what it left running (a `vagrant up` holding Vagrant's
//! machine lock, a `git clone`, a download) before anything else runs.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// The folder of process-group records. Each spawned group is written as `<pgid>.pg` holding
/// its leader's pid and start time (so a reused pid is never killed), and removed once the
/// group is gone.
///
/// ```no_run
/// # fn demo() -> std::io::Result<()> {
/// use std::time::Duration;
/// use jeto_vagrant::{ProcessRecords, VagrantConfig, VagrantProvider};
///
/// // At start, before serving: kills what a killed server left running.
/// let (records, killed) = ProcessRecords::open("jeto-data/processes", Duration::from_secs(10))?;
/// println!("{killed} leftover process groups killed");
/// let records = std::sync::Arc::new(records);
/// let vagrant = VagrantProvider::new(VagrantConfig::default()).with_records(records.clone());
/// // ... serve; at the end of a shutdown, wait for the groups being killed:
/// records.wait_until_none(Duration::from_secs(11));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ProcessRecords {
    dir: PathBuf,
}

/// Removes its record when dropped; drop it only once the group is gone.
#[derive(Debug)]
pub(crate) struct RecordGuard {
    path: Option<PathBuf>,
}

impl Drop for RecordGuard {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl ProcessRecords {
    /// Opens (creating) `dir`, and kills every group recorded there by an earlier run: SIGTERM,
    /// then SIGKILL to what is left after `grace`. Blocks until they are gone (or `grace`
    /// twice). Returns the records and how many groups were still alive.
    pub fn open(dir: impl Into<PathBuf>, grace: Duration) -> io::Result<(ProcessRecords, usize)> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        let mut alive = Vec::new();
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("pg") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            match leftover_group(&text) {
                Some(pgid) if killpg(Pid::from_raw(pgid), Signal::SIGTERM).is_ok() => {
                    tracing::warn!(pgid, record = %path.display(), "killing a process group an earlier run left behind");
                    alive.push((pgid, path));
                }
                _ => std::fs::remove_file(&path)?,
            }
        }
        let killed = alive.len();
        let deadline = Instant::now() + grace;
        let mut killed_hard = false;
        while !alive.is_empty() {
            alive.retain(|(pgid, path)| {
                let gone = killpg(Pid::from_raw(*pgid), None) == Err(Errno::ESRCH);
                if gone {
                    let _ = std::fs::remove_file(path);
                }
                !gone
            });
            if Instant::now() >= deadline {
                if killed_hard {
                    tracing::error!(groups = ?alive.iter().map(|a| a.0).collect::<Vec<_>>(), "process groups survived SIGKILL");
                    break;
                }
                for (pgid, _) in &alive {
                    let _ = killpg(Pid::from_raw(*pgid), Signal::SIGKILL);
                }
                killed_hard = true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok((ProcessRecords { dir }, killed))
    }

    /// Records the group led by `pid` (just spawned, in its own group).
    pub(crate) fn record(&self, pid: u32) -> RecordGuard {
        let path = self.dir.join(format!("{pid}.pg"));
        let content = format!("{pid} {}\n", start_time(pid).unwrap_or(0));
        match std::fs::write(&path, content) {
            Ok(()) => RecordGuard { path: Some(path) },
            Err(error) => {
                tracing::error!(%error, path = %path.display(), "could not record a process group; a crash would leave it running");
                RecordGuard { path: None }
            }
        }
    }

    /// The folder of the records.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many recorded groups are still running (or being killed).
    pub fn running(&self) -> usize {
        std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.path().extension().and_then(|x| x.to_str()) == Some("pg"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// Blocks until no recorded group runs, or `timeout`; returns how many still do. For the
    /// end of a shutdown: groups being killed are waited for, not left to the next start.
    pub fn wait_until_none(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let running = self.running();
            if running == 0 || Instant::now() >= deadline {
                return running;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The group of a record, when something of it may still run: the leader is alive with the
/// recorded start time, or the leader is gone (its pid cannot be a new group's id while any
/// member of the old group lives, so a signal reaches only the old members).
fn leftover_group(record: &str) -> Option<i32> {
    let mut words = record.split_whitespace();
    let pgid: i32 = words.next()?.parse().ok().filter(|p| *p > 1)?;
    let recorded: u64 = words.next()?.parse().ok()?;
    match start_time(pgid as u32) {
        Some(now) if now == recorded && recorded != 0 => Some(pgid),
        Some(_) => None, // The pid was reused by another process.
        None => Some(pgid),
    }
}

/// A process's start time (clock ticks since boot, field 22 of `/proc/PID/stat`).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_start_time_is_read() {
        let me = std::process::id();
        assert!(start_time(me).is_some_and(|t| t > 0));
        // A record of this very process, with the right start time, names it.
        let record = format!("{me} {}", start_time(me).unwrap());
        assert_eq!(leftover_group(&record), Some(me as i32));
        // With another start time the pid was reused: never touched.
        let reused = format!("{me} 1");
        assert_eq!(leftover_group(&reused), None);
        assert_eq!(leftover_group("garbage"), None);
        assert_eq!(leftover_group("1 5"), None);
    }
}
