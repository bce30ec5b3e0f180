//! The seam where processes come in: [`ProcessRunner`], and [`TokioProcessRunner`] which
//! spawns real processes in their own process group and kills the whole group on timeout or
//! when the run is dropped.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use crate::process_records::{ProcessRecords, RecordGuard};

/// The default longest output line handed on; the rest of a longer line is dropped.
pub const DEFAULT_MAX_LINE: usize = 64 * 1024;

/// A process to run: program, arguments (never through a shell), folder and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    /// The program, looked up on PATH when it has no `/`.
    pub program: PathBuf,
    /// The arguments, passed as they are.
    pub args: Vec<OsString>,
    /// The working folder.
    pub cwd: PathBuf,
    /// Variables added to (or replacing those of) the server's own environment.
    pub env: Vec<(String, String)>,
    /// How long the process may run before its group is killed.
    pub timeout: Duration,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessEnd {
    /// It exited with this code.
    Exited(i32),
    /// It was killed by this signal (not by us).
    Signaled(i32),
    /// It reached its timeout and its group was killed.
    TimedOut,
}

/// A callback receiving each output line (stdout and stderr, as they arrive).
pub type LineCallback<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// Runs processes. The real one is [`TokioProcessRunner`]; tests can supply canned output.
#[async_trait]
pub trait ProcessRunner: fmt::Debug + Send + Sync + 'static {
    /// Runs `spec` to its end, handing each output line to `on_line` while it runs.
    ///
    /// Dropping the returned future must stop the process and everything it started.
    async fn run(
        &self,
        spec: &ProcessSpec,
        on_line: LineCallback<'_>,
    ) -> std::io::Result<ProcessEnd>;
}

#[async_trait]
impl<R: ProcessRunner + ?Sized> ProcessRunner for Arc<R> {
    async fn run(
        &self,
        spec: &ProcessSpec,
        on_line: LineCallback<'_>,
    ) -> std::io::Result<ProcessEnd> {
        (**self).run(spec, on_line).await
    }
}

/// Spawns real processes with `tokio::process`, each in a new process group.
///
/// On timeout, or when the run's future is dropped (a cancelled command), the whole group gets
/// SIGTERM and, after `kill_grace`, SIGKILL, so no `ruby` or `ssh` child keeps Vagrant's
/// machine lock. With [`ProcessRecords`], each group is recorded while it runs, so a server
/// killed outright kills it at its next start. Output lines longer than `max_line` bytes are
/// cut, so memory stays bounded whatever a process prints.
#[derive(Debug, Clone)]
pub struct TokioProcessRunner {
    /// Time between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
    /// The longest line handed on, in bytes.
    pub max_line: usize,
    /// Where running groups are recorded, if anywhere.
    pub records: Option<Arc<ProcessRecords>>,
}

impl Default for TokioProcessRunner {
    fn default() -> Self {
        TokioProcessRunner {
            kill_grace: Duration::from_secs(10),
            max_line: DEFAULT_MAX_LINE,
            records: None,
        }
    }
}

/// Kills a process group when dropped, unless disarmed: the guarantee behind cancellation.
/// Its record is removed once the group is gone.
pub(crate) struct GroupKiller {
    pub(crate) pgid: Option<Pid>,
    pub(crate) grace: Duration,
    pub(crate) record: Option<RecordGuard>,
}

impl GroupKiller {
    /// A killer for the group led by the just-spawned `pid`, recorded in `records`.
    pub(crate) fn new(
        pid: Option<u32>,
        grace: Duration,
        records: Option<&ProcessRecords>,
    ) -> GroupKiller {
        GroupKiller {
            pgid: pid.map(|id| Pid::from_raw(id as i32)),
            grace,
            record: pid.and_then(|pid| records.map(|r| r.record(pid))),
        }
    }

    /// The group ended by itself: nothing to kill, the record goes.
    pub(crate) fn disarm(&mut self) {
        self.pgid = None;
        self.record = None;
    }

    pub(crate) fn kill_now(&mut self) {
        let Some(pgid) = self.pgid.take() else { return };
        let record = self.record.take();
        if killpg(pgid, Signal::SIGTERM).is_err() {
            return; // The group is already gone.
        }
        let grace = self.grace;
        // Drop cannot await, and the group must die even if the runtime is going away.
        std::thread::spawn(move || {
            let _record = record;
            let step = Duration::from_millis(50);
            let mut waited = Duration::ZERO;
            while waited < grace {
                // Signal 0 only checks whether any member of the group is left.
                if killpg(pgid, None).is_err() {
                    return;
                }
                std::thread::sleep(step);
                waited += step;
            }
            let _ = killpg(pgid, Signal::SIGKILL);
        });
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        self.kill_now();
    }
}

/// Hands each line of `stream` to `on_line`, keeping at most `max` bytes of a line (the rest
/// is dropped and the line says so): memory stays bounded whatever is printed.
async fn read_lines(stream: impl AsyncRead + Unpin, on_line: LineCallback<'_>, max: usize) {
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let mut line = Vec::new();
    let mut cut = false;
    let emit = |line: &mut Vec<u8>, cut: bool| {
        while matches!(line.last(), Some(b'\r')) {
            line.pop();
        }
        let text = String::from_utf8_lossy(line);
        if cut {
            on_line(&format!("{text} [jeto: line cut at {max} bytes]"));
        } else {
            on_line(&text);
        }
        line.clear();
    };
    loop {
        let (consumed, ended) = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(available) => {
                let newline = available.iter().position(|b| *b == b'\n');
                let part = &available[..newline.unwrap_or(available.len())];
                let room = max.saturating_sub(line.len());
                if part.len() > room {
                    cut = true;
                }
                line.extend_from_slice(&part[..part.len().min(room)]);
                (newline.map_or(part.len(), |i| i + 1), newline.is_some())
            }
        };
        reader.consume(consumed);
        if ended {
            emit(&mut line, cut);
            cut = false;
        }
    }
    if !line.is_empty() || cut {
        emit(&mut line, cut);
    }
}

#[async_trait]
impl ProcessRunner for TokioProcessRunner {
    async fn run(
        &self,
        spec: &ProcessSpec,
        on_line: LineCallback<'_>,
    ) -> std::io::Result<ProcessEnd> {
        let mut child = tokio::process::Command::new(&spec.program)
            .args(&spec.args)
            .current_dir(&spec.cwd)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()?;
        let mut killer = GroupKiller::new(child.id(), self.kill_grace, self.records.as_deref());
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let output = async {
            tokio::join!(
                read_lines(stdout, on_line, self.max_line),
                read_lines(stderr, on_line, self.max_line)
            );
        };
        tokio::pin!(output);
        let deadline = tokio::time::sleep(spec.timeout);
        tokio::pin!(deadline);

        let mut output_done = false;
        let status = loop {
            tokio::select! {
                status = child.wait() => break status?,
                () = &mut output, if !output_done => output_done = true,
                () = &mut deadline => {
                    killer.kill_now();
                    // Keep what was printed before the kill.
                    if !output_done {
                        let _ = tokio::time::timeout(self.kill_grace + Duration::from_secs(1), &mut output).await;
                    }
                    let _ = child.wait().await;
                    return Ok(ProcessEnd::TimedOut);
                }
            }
        };
        // The leader exited; a grandchild may still hold the pipes open. Give the output a
        // moment to drain, then make sure nothing of the group is left behind.
        if !output_done
            && tokio::time::timeout(Duration::from_secs(2), &mut output)
                .await
                .is_err()
        {
            tracing::warn!(program = %spec.program.display(), "children outlived the process; killing its group");
            killer.kill_now();
            let _ =
                tokio::time::timeout(self.kill_grace + Duration::from_secs(1), &mut output).await;
        }
        killer.disarm();
        use std::os::unix::process::ExitStatusExt;
        Ok(match (status.code(), status.signal()) {
            (Some(code), _) => ProcessEnd::Exited(code),
            (None, Some(signal)) => ProcessEnd::Signaled(signal),
            (None, None) => ProcessEnd::Exited(-1),
        })
    }
}
