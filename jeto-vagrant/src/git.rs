//! Instance folders from git: clone at a branch or tag, and sync to the remote reference.
//! `git` is spawned with argv (never a shell), never prompts, and may only use the file,
//! http(s), ssh and git transports.

use std::ffi::OsString;
use std::path::Path;

use jeto_core::{ConsoleSink, ProviderError};

use crate::runner::{ProcessEnd, ProcessRunner, ProcessSpec};
use crate::VagrantConfig;

/// The reference as git takes it: the original Jeto's `tags/` prefix is dropped.
pub fn branch_or_tag(reference: &str) -> &str {
    reference.strip_prefix("tags/").unwrap_or(reference)
}

/// Checks what reaches git's command line: the URL, and the reference both as given and as git
/// takes it (once `tags/` is dropped), so no part of either can be read as an option. The
/// arguments also end git's options with `--` before them where git allows it.
fn check(url: &str, reference: &str) -> Result<(), ProviderError> {
    let bad = |s: &str| s.is_empty() || s.starts_with('-') || s.chars().any(char::is_control);
    if bad(url) || bad(branch_or_tag(reference)) {
        return Err(ProviderError::invalid(
            "git_url and git_reference must be non-empty, without control characters, and must not start with '-' (also after a tags/ prefix)",
        ));
    }
    jeto_core::validate::git_reference(reference).map_err(|e| ProviderError::invalid(e.to_string()))
}

/// The transports git may use for `url` and its submodules: the network ones, and `file`
/// only when the repository itself is local (an admin's choice), so a remote repository's
/// submodules can never pull in a repository from the server's disk.
fn allowed_protocols(url: &str) -> &'static str {
    if url.starts_with("file://") || url.starts_with('/') {
        "file:git:http:https:ssh"
    } else {
        "git:http:https:ssh"
    }
}

async fn git(
    config: &VagrantConfig,
    runner: &dyn ProcessRunner,
    cwd: &Path,
    (url, args): (&str, Vec<OsString>),
    what: &str,
    console: &ConsoleSink,
) -> Result<(), ProviderError> {
    let spec = ProcessSpec {
        program: config.git_binary.clone(),
        args,
        cwd: cwd.to_owned(),
        env: vec![
            ("GIT_TERMINAL_PROMPT".into(), "0".into()),
            ("GIT_ALLOW_PROTOCOL".into(), allowed_protocols(url).into()),
        ],
        timeout: config.command_timeout(),
    };
    let last = std::sync::Mutex::new(Vec::<String>::new());
    let on_line = |line: &str| {
        console.line(line);
        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
        last.push(line.to_owned());
        if last.len() > 5 {
            last.remove(0);
        }
    };
    let end = runner.run(&spec, &on_line).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ProviderError::Unavailable {
                message: format!(
                    "the git binary {:?} was not found: install git (`apt-get install -y git`) or set git_binary in the [vagrant] config",
                    config.git_binary
                ),
                source: Some(e.into()),
            }
        } else {
            ProviderError::Other { context: format!("spawning git for {what}"), source: e.into() }
        }
    })?;
    match end {
        ProcessEnd::Exited(0) => Ok(()),
        ProcessEnd::TimedOut => Err(ProviderError::Timeout {
            what: what.to_owned(),
            after: config.command_timeout(),
        }),
        other => {
            let said = last.into_inner().unwrap_or_else(|e| e.into_inner());
            let said = said
                .iter()
                .rev()
                .find(|l| l.starts_with("fatal:") || l.starts_with("error:"))
                .or(said.last());
            Err(ProviderError::PrepareFailed {
                what: what.to_owned(),
                message: format!(
                    "{} ({other:?})",
                    said.map(String::as_str).unwrap_or("git printed nothing")
                ),
            })
        }
    }
}

/// `git clone --recursive --depth 1 --branch=REF -- URL TARGET`; `target` must not exist, and
/// is removed again when the clone fails.
pub async fn clone(
    config: &VagrantConfig,
    runner: &dyn ProcessRunner,
    url: &str,
    reference: &str,
    target: &Path,
    console: &ConsoleSink,
) -> Result<(), ProviderError> {
    check(url, reference)?;
    let parent = target.parent().unwrap_or(Path::new("."));
    let args: Vec<OsString> = vec![
        "clone".into(),
        "--recursive".into(),
        "--depth".into(),
        "1".into(),
        format!("--branch={}", branch_or_tag(reference)).into(),
        "--".into(),
        url.into(),
        target.into(),
    ];
    let what = format!("git clone of {url} at {reference}");
    let result = git(config, runner, parent, (url, args), &what, console).await;
    if result.is_err() {
        let _ = std::fs::remove_dir_all(target);
    }
    result
}

/// Brings a clone to the remote reference: fetch it, reset hard to it, update submodules.
pub async fn sync(
    config: &VagrantConfig,
    runner: &dyn ProcessRunner,
    url: &str,
    reference: &str,
    folder: &Path,
    console: &ConsoleSink,
) -> Result<(), ProviderError> {
    check(url, reference)?;
    let what = format!("git sync of {} to {reference}", folder.display());
    let steps: [Vec<OsString>; 3] = [
        vec![
            "fetch".into(),
            "--depth".into(),
            "1".into(),
            "--".into(),
            "origin".into(),
            branch_or_tag(reference).into(),
        ],
        vec!["reset".into(), "--hard".into(), "FETCH_HEAD".into()],
        vec![
            "submodule".into(),
            "update".into(),
            "--init".into(),
            "--recursive".into(),
        ],
    ];
    for args in steps {
        git(config, runner, folder, (url, args), &what, console).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_that_is_an_option_once_tags_is_dropped_is_refused() {
        for bad in [
            "tags/--upload-pack=touch${IFS}x",
            "tags/-x",
            "-x",
            "tags/",
            "main\n",
        ] {
            assert!(check("https://git.example/r.git", bad).is_err(), "{bad:?}");
        }
        assert!(check("https://git.example/r.git", "tags/v1").is_ok());
        assert!(check("--upload-pack=x", "main").is_err());
    }
}
