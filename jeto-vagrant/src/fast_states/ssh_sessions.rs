//! SSH sessions open to a docker container, read from the host's `/proc` without a process.
//!
//! A running container's main process (its `State.Pid` as the local daemon names it) sits in
//! the container's network namespace, so `/proc/<pid>/net/tcp` and `tcp6` list the
//! container's sockets. Every established connection to local port 22 is an SSH session (a
//! `vagrant ssh`, an `ssh` through the forwarded port, a scp), whoever opened it. This only
//! holds when the daemon shares this process's view of process ids, which is checked: the
//! process's cgroup must name the container; anything else answers "cannot tell".

use std::path::Path;

/// The port sshd listens on inside the container (as Vagrant's docker provider expects it).
const SSH_PORT: u16 = 22;

/// The `st` column's value for an established TCP connection.
const ESTABLISHED: &str = "01";

/// SSH connections open to container `id` whose main process is `pid`; `None` when this
/// process cannot tell (no such process here, not that container's, `/proc` unreadable).
pub(super) fn count(proc_root: &Path, id: &str, pid: u32) -> Option<u32> {
    if pid == 0 || id.len() < 12 {
        return None;
    }
    let process = proc_root.join(pid.to_string());
    let cgroup = std::fs::read_to_string(process.join("cgroup")).ok()?;
    if !cgroup.contains(id) {
        return None;
    }
    let mut sessions = 0;
    for table in ["net/tcp", "net/tcp6"] {
        // tcp6 is missing where IPv6 is off: that table has no session then.
        if let Ok(text) = std::fs::read_to_string(process.join(table)) {
            sessions += established_to(&text, SSH_PORT);
        }
    }
    Some(sessions)
}

/// Established connections to local port `port` in a `/proc/net/tcp`-style table.
fn established_to(table: &str, port: u16) -> u32 {
    let port = format!("{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1);
            let state = fields.nth(1);
            local.and_then(|l| l.rsplit_once(':')).map(|(_, p)| p) == Some(port.as_str())
                && state == Some(ESTABLISHED)
        })
        .count() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As Linux prints it: a listening sshd, two sessions to it, one connection it is making
    /// itself to port 22 elsewhere (not a session), one closing session.
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 020011AC:0016 010011AC:A1F2 01 00000000:00000000 02:0009E8A5 00000000     0        0 2 2 0 20 4 30 10 -1
   2: 020011AC:0016 010011AC:A1F4 01 00000000:00000000 02:0009E8A5 00000000     0        0 3 2 0 20 4 30 10 -1
   3: 020011AC:B3C2 050011AC:0016 01 00000000:00000000 00:00000000 00000000     0        0 4 1 0 20 4 30 10 -1
   4: 020011AC:0016 010011AC:A1F6 06 00000000:00000000 03:00001743 00000000     0        0 0 3 0
";

    #[test]
    fn established_connections_to_port_22_are_sessions() {
        assert_eq!(established_to(TCP, 22), 2);
        assert_eq!(established_to(TCP, 80), 0);
        assert_eq!(established_to("", 22), 0);
    }

    #[test]
    fn a_process_that_is_not_the_containers_tells_nothing() {
        let root = tempfile::tempdir().unwrap();
        let id = "a".repeat(64);
        let process = root.path().join("42");
        std::fs::create_dir_all(process.join("net")).unwrap();
        std::fs::write(process.join("net/tcp"), TCP).unwrap();
        std::fs::write(process.join("cgroup"), "0::/system.slice/cron.service\n").unwrap();
        assert_eq!(count(root.path(), &id, 42), None, "another process");
        std::fs::write(
            process.join("cgroup"),
            format!("0::/system.slice/docker-{id}.scope\n"),
        )
        .unwrap();
        assert_eq!(count(root.path(), &id, 42), Some(2));
        assert_eq!(count(root.path(), &id, 43), None, "no such process");
        assert_eq!(count(root.path(), &id, 0), None, "not running");
    }
}
