//! VirtualBox: one `VBoxManage list vms --long` for every VM.
//!
//! Vagrant (`plugins/providers/virtualbox`) refuses a machine another user made (its
//! `creator_uid`), says `not_created` when the machine has no id or VirtualBox knows no VM of
//! that UUID, `inaccessible` for an inaccessible VM, and otherwise `showvminfo`'s `VMState`.
//! The long listing prints each VM's state in words; the words mapped here are the ones whose
//! `VMState` is certain, anything else is left to Vagrant.

use std::collections::HashMap;
use std::time::Duration;

use super::listing::{run, Listed};
use super::{Answer, Lookup};

/// `VBoxManage list vms --long` state words and the `VMState` id of each.
const STATES: [(&str, &str); 6] = [
    ("running", "running"),
    ("powered off", "poweroff"),
    ("saved", "saved"),
    ("aborted", "aborted"),
    ("paused", "paused"),
    ("guru meditation", "gurumeditation"),
];

pub(super) async fn states(
    lookups: &[Lookup],
    uid: &str,
    env: &[(String, String)],
    timeout: Duration,
) -> Vec<Answer> {
    let args = ["list", "vms", "--long"].map(String::from);
    let listed = if lookups.iter().any(|l| l.id.is_some()) {
        run("VBoxManage", &args, env, timeout).await
    } else {
        None
    };
    answer(lookups, uid, listed.as_ref())
}

pub(super) fn answer(lookups: &[Lookup], uid: &str, listed: Option<&Listed>) -> Vec<Answer> {
    let vms = listed.filter(|l| l.success).map(|l| parse(&l.stdout));
    lookups
        .iter()
        .map(|lookup| {
            let creator = std::fs::read_to_string(lookup.data_dir.join("creator_uid")).ok();
            if creator.is_some_and(|c| c.trim() != uid) {
                return Answer::Unsure;
            }
            let Some(id) = lookup.id.as_deref() else {
                return Answer::State("not_created".into());
            };
            match vms.as_ref().map(|vms| vms.get(id)) {
                None => Answer::Unsure,
                Some(None) => Answer::State("not_created".into()),
                Some(Some(state)) => state.clone(),
            }
        })
        .collect()
}

/// Each VM's UUID and its state: the first `State:` after each `UUID:` (both at the start
/// of a line; indented lines belong to snapshots and devices).
fn parse(text: &str) -> HashMap<String, Answer> {
    let mut vms = HashMap::new();
    let mut current: Option<(String, bool)> = None;
    let mut inaccessible = false;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("Name:") {
            inaccessible = name.trim() == "<inaccessible>";
        } else if let Some(uuid) = line.strip_prefix("UUID:") {
            let uuid = uuid.trim().to_owned();
            if inaccessible {
                vms.insert(uuid.clone(), Answer::State("inaccessible".into()));
            }
            current = Some((uuid, inaccessible));
        } else if let Some(words) = line.strip_prefix("State:") {
            if let Some((uuid, false)) = current.take() {
                let words = words.split(" (since").next().unwrap_or("").trim();
                let answer = STATES
                    .iter()
                    .find(|(w, _)| *w == words)
                    .map(|(_, id)| Answer::State((*id).to_owned()))
                    .unwrap_or(Answer::Unsure);
                vms.insert(uuid, answer);
            }
        }
    }
    vms
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `VBoxManage list vms --long` (VirtualBox 7.0), cut to the lines that matter and a few
    /// that must not confuse the reader.
    const LISTED: &str = r#"Name:                        web_default_1733300000000_1234
Encryption:     disabled
Groups:                      /
Guest OS:                    Debian (64-bit)
UUID:                        1b7f9a36-9c3c-4f5e-9a57-0e5d9f0a0001
Config file:                 /home/u/VirtualBox VMs/web_default/web_default.vbox
Hardware UUID:               1b7f9a36-9c3c-4f5e-9a57-0e5d9f0a0001
Memory size:                 1024MB
State:                       running (since 2026-12-04T10:00:00.000000000)
Snapshots:

   Name: before-upgrade (UUID: 77777777-0000-0000-0000-000000000000)

Name:                        db_default_1733300000001_5678
Groups:                      /
UUID:                        1b7f9a36-9c3c-4f5e-9a57-0e5d9f0a0002
State:                       powered off (since 2026-12-03T18:00:00.000000000)
Shared folders:

Name: 'vagrant', Host path: '/srv/db' (machine mapping), writable

Name:                        cache_default_1733300000002_9
UUID:                        1b7f9a36-9c3c-4f5e-9a57-0e5d9f0a0003
State:                       saved (since 2026-12-03T18:00:00.000000000)

Name:                        odd_default_1733300000003_1
UUID:                        1b7f9a36-9c3c-4f5e-9a57-0e5d9f0a0004
State:                       restoring snapshot (since 2026-12-04T10:00:00.000000000)

Name:                        <inaccessible>
UUID:                        1b7f9a36-9c3c-4f5e-9a57-0e5d9f0a0005
Config file:                 /home/u/VirtualBox VMs/lost/lost.vbox
Access error details:
"#;

    fn lookup(dir: &std::path::Path, id: Option<&str>) -> Lookup {
        Lookup {
            id: id.map(|i| format!("1b7f9a36-9c3c-4f5e-9a57-0e5d9f0a000{i}")),
            data_dir: dir.to_owned(),
        }
    }

    #[test]
    fn recorded_listing_maps_to_vagrants_states() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("creator_uid"), "1000").unwrap();
        let listed = Listed {
            success: true,
            stdout: LISTED.into(),
            stderr: String::new(),
        };
        let lookups: Vec<Lookup> = [
            Some("1"),
            Some("2"),
            Some("3"),
            Some("4"),
            Some("5"),
            Some("9"),
            None,
        ]
        .into_iter()
        .map(|id| lookup(dir.path(), id))
        .collect();
        let state = |s: &str| Answer::State(s.into());
        assert_eq!(
            answer(&lookups, "1000", Some(&listed)),
            [
                state("running"),
                state("poweroff"),
                state("saved"),
                Answer::Unsure,
                state("inaccessible"),
                state("not_created"),
                state("not_created"),
            ]
        );
        // Another user's machine: Vagrant refuses it, so the listing does not answer.
        assert_eq!(
            answer(&lookups[..1], "1001", Some(&listed)),
            [Answer::Unsure]
        );
        // A listing that failed answers nothing but machines without an id.
        let failed = Listed {
            success: false,
            ..listed
        };
        assert_eq!(
            answer(&lookups[5..], "1000", Some(&failed)),
            [Answer::Unsure, state("not_created")]
        );
    }
}
