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
/// machine lock.
#[derive(Debug, Clone)]
pub struct TokioProcessRunner {
    /// Time between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
}

impl Default for TokioProcessRunner {
    fn default() -> Self {
        TokioProcessRunner {
            kill_grace: Duration::from_secs(10),
        }
    }
}

/// Kills a process group when dropped, unless disarmed: the guarantee behind cancellation.
struct GroupKiller {
    pgid: Option<Pid>,
    grace: Duration,
}

impl GroupKiller {
    fn kill_now(&mut self) {
        let Some(pgid) = self.pgid.take() else { return };
        if killpg(pgid, Signal::SIGTERM).is_err() {
            return; // The group is already gone.
        }
        let grace = self.grace;
        // Drop cannot await, and the group must die even if the runtime is going away.
        std::thread::spawn(move || {
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

async fn read_lines(stream: impl AsyncRead + Unpin, on_line: LineCallback<'_>) {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                while matches!(buf.last(), Some(b'\n' | b'\r')) {
                    buf.pop();
                }
                on_line(&String::from_utf8_lossy(&buf));
            }
        }
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
        let mut killer = GroupKiller {
            pgid: child.id().map(|id| Pid::from_raw(id as i32)),
            grace: self.kill_grace,
        };
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let output = async {
            tokio::join!(read_lines(stdout, on_line), read_lines(stderr, on_line));
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
        killer.pgid = None;
        use std::os::unix::process::ExitStatusExt;
        Ok(match (status.code(), status.signal()) {
            (Some(code), _) => ProcessEnd::Exited(code),
            (None, Some(signal)) => ProcessEnd::Signaled(signal),
            (None, None) => ProcessEnd::Exited(-1),
        })
    }
}
