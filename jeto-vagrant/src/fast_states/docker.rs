//! Vagrant's docker provider: one `docker inspect` for every container id.
//!
//! Vagrant (`plugins/providers/docker`) says `not_created` when the machine has no id or no
//! container has exactly that id (`docker ps -a -q --no-trunc`), `running` when the container
//! is among the running ones (`docker ps -q --no-trunc`), `stopped` otherwise, and `preparing`
//! while the id is the placeholder `preparing`.
//!
//! The same call gives each running container's process, whose sockets tell the SSH sessions
//! open to it when the daemon is this machine's ([`super::ssh_sessions`]).

use std::path::Path;
use std::time::Duration;

use super::listing::{run, Listed};
use super::{Answer, Lookup};

pub(super) async fn states(
    lookups: &[Lookup],
    env: &[(String, String)],
    timeout: Duration,
) -> Vec<Answer> {
    let ids: Vec<String> = lookups
        .iter()
        .filter_map(|l| l.id.clone())
        .filter(|id| id != "preparing")
        .collect();
    let listed = if ids.is_empty() {
        None
    } else {
        let mut args: Vec<String> = ["inspect", "--type", "container", "--format"]
            .map(String::from)
            .to_vec();
        args.push("{{.Id}} {{.State.Running}} {{.State.Pid}}".into());
        args.extend(ids.iter().cloned());
        run("docker", &args, env, timeout).await
    };
    let local = env
        .iter()
        .find(|(key, _)| key == "DOCKER_HOST")
        .is_none_or(|(_, host)| host.is_empty() || host.starts_with("unix://"));
    let sessions = |id: &str, pid: u32| {
        local
            .then(|| super::ssh_sessions::count(Path::new("/proc"), id, pid))
            .flatten()
    };
    answer(lookups, listed.as_ref(), sessions)
}

/// The answers from `docker inspect`'s output (`None`: it could not run), with the SSH
/// sessions `sessions` counts for a running container's id and process.
pub(super) fn answer(
    lookups: &[Lookup],
    listed: Option<&Listed>,
    sessions: impl Fn(&str, u32) -> Option<u32>,
) -> Vec<Answer> {
    let found: std::collections::HashMap<&str, (&str, u32)> = listed
        .map(|l| {
            l.stdout
                .lines()
                .filter_map(|line| {
                    let mut fields = line.split_whitespace();
                    let id = fields.next()?;
                    let running = fields.next()?;
                    let pid = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
                    Some((id, (running, pid)))
                })
                .collect()
        })
        .unwrap_or_default();
    lookups
        .iter()
        .map(|lookup| {
            let Some(id) = lookup.id.as_deref() else {
                return Answer::State("not_created".into());
            };
            if id == "preparing" {
                return Answer::State("preparing".into());
            }
            let Some(listed) = listed else {
                return Answer::Unsure;
            };
            match found.get(id) {
                Some(&("true", pid)) => Answer::Running {
                    ssh_sessions: sessions(id, pid),
                },
                Some(&("false", _)) => Answer::State("stopped".into()),
                Some(_) => Answer::Unsure,
                // Missing from a listing that failed for exactly this id: there is no such
                // container (also when the id is only a prefix of one, as for Vagrant).
                None if !listed.success && names_missing(&listed.stderr, id) => {
                    Answer::State("not_created".into())
                }
                None => Answer::Unsure,
            }
        })
        .collect()
}

fn names_missing(stderr: &str, id: &str) -> bool {
    stderr
        .lines()
        .any(|line| line.contains("No such") && line.trim_end().ends_with(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(id: Option<&str>) -> Lookup {
        Lookup {
            id: id.map(str::to_owned),
            data_dir: format!("/x/{}", id.unwrap_or("none")).into(),
        }
    }

    #[test]
    fn states_as_vagrant_names_them() {
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let gone = "c".repeat(64);
        let listed = Listed {
            success: false,
            stdout: format!("{a} true 4242\n{b} false 0\n"),
            stderr: format!("Error: No such container: {gone}\n"),
        };
        let lookups = [
            lookup(Some(&a)),
            lookup(Some(&b)),
            lookup(Some(&gone)),
            lookup(None),
            lookup(Some("preparing")),
        ];
        let sessions = |id: &str, pid: u32| (id == a && pid == 4242).then_some(3);
        let states: Vec<Answer> = answer(&lookups, Some(&listed), sessions);
        assert_eq!(
            states[0],
            Answer::Running {
                ssh_sessions: Some(3)
            }
        );
        let names: Vec<&str> = states
            .iter()
            .map(|s| match s {
                Answer::State(s) => s.as_str(),
                Answer::Running { .. } => "running",
                Answer::Unsure => "?",
            })
            .collect();
        assert_eq!(
            names,
            [
                "running",
                "stopped",
                "not_created",
                "not_created",
                "preparing"
            ]
        );
    }

    #[test]
    fn a_daemon_that_does_not_answer_leaves_vagrant_to_say() {
        let a = "a".repeat(64);
        let listed = Listed {
            success: false,
            stdout: String::new(),
            stderr: "Cannot connect to the Docker daemon at unix:///var/run/docker.sock.\n".into(),
        };
        let none = |_: &str, _: u32| None;
        assert_eq!(
            answer(&[lookup(Some(&a))], Some(&listed), none),
            [Answer::Unsure]
        );
        assert_eq!(answer(&[lookup(Some(&a))], None, none), [Answer::Unsure]);
        // A short id that names a container Vagrant would not match is not guessed at.
        let short = Listed {
            success: true,
            stdout: format!("{a} true 1\n"),
            stderr: String::new(),
        };
        assert_eq!(
            answer(&[lookup(Some(&a[..12]))], Some(&short), none),
            [Answer::Unsure]
        );
    }
}
