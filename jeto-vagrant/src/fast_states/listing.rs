//! Running one hypervisor listing: argv only, bounded in time and output.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

/// The most bytes of a listing's output read (a listing of thousands of machines fits).
const MAX_OUTPUT: u64 = 16 << 20;

/// What a listing printed.
#[derive(Debug)]
pub(crate) struct Listed {
    pub(crate) success: bool,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `program args` with `env` added; `None` when it cannot start, runs past `timeout` (it
/// is killed) or prints more than [`MAX_OUTPUT`].
pub(crate) async fn run(
    program: &str,
    args: &[String],
    env: &[(String, String)],
    timeout: Duration,
) -> Option<Listed> {
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    let mut stdout = child.stdout.take()?.take(MAX_OUTPUT + 1);
    let mut stderr = child.stderr.take()?.take(MAX_OUTPUT + 1);
    let done = async {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let (a, b) = tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err));
        a.ok()?;
        b.ok()?;
        let status = child.wait().await.ok()?;
        (out.len() as u64 <= MAX_OUTPUT).then(|| Listed {
            success: status.success(),
            stdout: String::from_utf8_lossy(&out).into_owned(),
            stderr: String::from_utf8_lossy(&err).into_owned(),
        })
    };
    tokio::time::timeout(timeout, done).await.ok().flatten()
}
