//! What `vagrant ssh-config`, `vagrant port` and `vagrant snapshot list` say about machines,
//! read from their machine-readable records.

use jeto_core::{ForwardedPort, MachineSnapshots, SshDetails};

use crate::machine_readable::Record;

/// `HostName`, `Port`, `User` and `IdentityFile` of an `ssh-config` record.
pub fn ssh_details(records: &[Record]) -> Option<SshDetails> {
    let config = records.iter().find(|r| r.kind == "ssh-config")?.value()?;
    let field = |name: &str| {
        config.lines().find_map(|line| {
            let (key, value) = line.trim().split_once(char::is_whitespace)?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().trim_matches('"').to_owned())
        })
    };
    let mut ssh = SshDetails::new(
        field("HostName")?,
        field("Port").and_then(|p| p.parse().ok()).unwrap_or(22),
        field("User").unwrap_or_default(),
    );
    ssh.private_key_path = field("IdentityFile");
    Some(ssh)
}

/// The `HostName` of an `ssh-config` record.
pub fn ssh_host_name(records: &[Record]) -> Option<String> {
    ssh_details(records).map(|ssh| ssh.host)
}

/// The `forwarded_port,GUEST,HOST` records of `machine`.
pub fn forwarded_ports(records: &[Record], machine: &str) -> Vec<ForwardedPort> {
    records
        .iter()
        .filter(|r| r.kind == "forwarded_port" && r.target == machine)
        .filter_map(|r| {
            Some(ForwardedPort {
                guest: r.data.first()?.parse().ok()?,
                host: r.data.get(1)?.parse().ok()?,
            })
        })
        .collect()
}

/// The snapshots of each of `machines`. Vagrant prints, per machine, an `output` record with
/// only the `==> NAME:` prefix and then one `detail` record per snapshot; a machine without
/// snapshots gets an output saying so instead (and a `detail` hint that is not a name).
pub fn snapshot_lists(records: &[Record], machines: &[String]) -> Vec<MachineSnapshots> {
    machines
        .iter()
        .map(|machine| {
            let mut listing = false;
            let mut snapshots = Vec::new();
            for record in records.iter().filter(|r| &r.target == machine) {
                match record.ui() {
                    Some(("output", text)) => {
                        let rest = text
                            .trim()
                            .strip_prefix("==>")
                            .map(str::trim)
                            .and_then(|t| t.strip_prefix(machine.as_str()))
                            .and_then(|t| t.strip_prefix(':'));
                        listing = rest.is_some_and(|t| t.trim().is_empty());
                    }
                    Some(("detail", name)) if listing => snapshots.push(name.trim().to_owned()),
                    _ => {}
                }
            }
            MachineSnapshots {
                machine: machine.clone(),
                snapshots,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine_readable::records_of as records;

    // Captured from `vagrant snapshot list --machine-readable` (Vagrant 2.3.4).
    const LIST: &str = "1795985207,www,metadata,provider,jeto_fake
1795985207,db,metadata,provider,jeto_fake
1795985207,www,ui,output,==> www: 
1795985207,www,ui,detail,first
1795985207,www,ui,detail,second
1795985207,db,ui,output,==> db: No snapshots have been taken yet!
1795985207,db,ui,detail,    db: You can take a snapshot using `vagrant snapshot save`.";

    #[test]
    fn snapshot_names_per_machine_and_no_hint_taken_for_a_name() {
        let lists = snapshot_lists(&records(LIST), &["www".into(), "db".into()]);
        assert_eq!(lists[0].snapshots, ["first", "second"]);
        assert!(lists[1].snapshots.is_empty(), "{lists:?}");
    }

    #[test]
    fn ssh_and_ports() {
        let text = r"1,www,ssh-config,Host www\n  HostName 192.0.2.10\n  User vagrant\n  Port 2200\n  IdentityFile /home/u/.vagrant.d/insecure_private_key\n
1,www,forwarded_port,80,8080
1,db,forwarded_port,22,2222";
        let records = records(text);
        let ssh = ssh_details(&records).unwrap();
        assert_eq!(
            (ssh.host.as_str(), ssh.port, ssh.user.as_str()),
            ("192.0.2.10", 2200, "vagrant")
        );
        assert_eq!(
            ssh.private_key_path.as_deref(),
            Some("/home/u/.vagrant.d/insecure_private_key")
        );
        assert_eq!(
            forwarded_ports(&records, "www"),
            [ForwardedPort {
                guest: 80,
                host: 8080
            }]
        );
    }
}
