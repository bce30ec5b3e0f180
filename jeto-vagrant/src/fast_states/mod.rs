//! Many machines' states from their hypervisor in one call, without a vagrant process.
//!
//! Vagrant's own state of a docker, VirtualBox or libvirt machine is a function of the machine
//! id it keeps in `<data dir>/id` and of what the hypervisor says about that id. Once Vagrant
//! has said (in a batched read, `ruby/jeto_batch.rb`) which provider each machine of a folder
//! uses, where its data dir is and that nothing else decides its state (no docker host VM, no
//! compose, a local libvirt URI), the states of every such machine of every folder come from
//! one hypervisor listing: `docker inspect` of all ids, `VBoxManage list vms --long`,
//! `virsh list` by state. Anything the listing cannot map with certainty, and any folder whose
//! files or environment changed since Vagrant said so, is read through Vagrant again.

mod docker;
mod libvirt;
mod listing;
mod ssh_sessions;
mod virtualbox;

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jeto_core::Status;

use crate::machine_readable::{statuses, Record};

/// How long what Vagrant said about a folder is trusted without asking it again.
const FACTS_MAX_AGE: Duration = Duration::from_secs(600);

/// The record type `ruby/jeto_batch.rb` prints for a machine the fast path can read.
pub(crate) const FACT_RECORD: &str = "jeto-fast";

/// Environment variables that choose which hypervisor a CLI talks to: reads are grouped by
/// their values, and each listing runs with them.
const HYPERVISOR_ENV: [&str; 3] = ["DOCKER_", "VBOX_", "LIBVIRT_"];

/// Environment variables, as pairs.
type Env = Vec<(String, String)>;

/// How one machine's state is read without Vagrant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Listing {
    /// Vagrant's docker provider on this host (no host VM, no compose).
    Docker,
    /// VirtualBox, for machines Vagrant made as the user this process runs as (`uid`).
    VirtualBox { uid: String },
    /// libvirt at a local URI.
    Libvirt { uri: String },
}

/// One machine as Vagrant described it.
#[derive(Debug, Clone)]
struct MachineFact {
    name: String,
    provider: String,
    listing: Listing,
    data_dir: PathBuf,
}

/// What Vagrant said about one folder, and what it depended on.
#[derive(Debug)]
struct FolderFacts {
    key: u64,
    learned: Instant,
    machines: Vec<MachineFact>,
}

/// A machine's state as its hypervisor listing tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Vagrant's state id, as Vagrant would report it.
    State(String),
    /// `running`, with the SSH sessions open to the machine where the listing can tell.
    Running { ssh_sessions: Option<u32> },
    /// The listing cannot say for certain: ask Vagrant.
    Unsure,
}

/// One machine to look up in a listing.
#[derive(Debug, Clone)]
pub(crate) struct Lookup {
    /// The id in the machine's data dir (`None`: Vagrant has none, the machine is not created).
    pub(crate) id: Option<String>,
    /// The machine's data dir (VirtualBox compares its `creator_uid`).
    pub(crate) data_dir: PathBuf,
}

/// The fast path of one [`crate::VagrantProvider`]: what Vagrant said per folder, and the
/// listings.
#[derive(Debug, Default)]
pub(crate) struct FastStates {
    facts: Mutex<HashMap<PathBuf, FolderFacts>>,
}

impl FastStates {
    /// What a folder's state depends on besides its machines: its environment and its
    /// top-level files (the Vagrantfile and whatever it may read next to it).
    pub(crate) fn folder_key(folder: &Path, env: &[(String, String)]) -> Option<u64> {
        let mut hasher = DefaultHasher::new();
        env.hash(&mut hasher);
        let mut files = BTreeMap::new();
        for entry in std::fs::read_dir(folder).ok()? {
            let entry = entry.ok()?;
            let meta = entry.metadata().ok()?;
            if meta.is_file() {
                files.insert(entry.file_name(), (meta.len(), meta.modified().ok()?));
            }
        }
        files.hash(&mut hasher);
        Some(hasher.finish())
    }

    /// Keeps what a Vagrant read of `folder` said (its records, machines as targets), when
    /// every machine of it can be read by a listing.
    pub(crate) fn learn(&self, folder: &Path, key: Option<u64>, records: &[Record]) {
        let mut facts = self.facts.lock().expect("fast path facts");
        facts.remove(folder);
        let Some(key) = key else { return };
        let machines = statuses(records);
        let mut known = Vec::with_capacity(machines.len());
        for machine in &machines {
            let fact = records
                .iter()
                .rev()
                .find(|r| r.target == machine.name && r.kind == FACT_RECORD)
                .and_then(|r| fact(machine, &r.data));
            match fact {
                Some(fact) => known.push(fact),
                None => return,
            }
        }
        if !known.is_empty() {
            facts.insert(
                folder.to_owned(),
                FolderFacts {
                    key,
                    learned: Instant::now(),
                    machines: known,
                },
            );
        }
    }

    /// The states of the folders (with their environment) the listings can answer for with
    /// certainty; `None` for the others, which Vagrant must read.
    pub(crate) async fn read(
        &self,
        folders: &[(&Path, Vec<(String, String)>)],
        timeout: Duration,
    ) -> Vec<Option<Vec<Status>>> {
        // Which machines of which folder, grouped by listing and hypervisor environment.
        let mut plan: Vec<Option<Vec<MachineFact>>> = Vec::with_capacity(folders.len());
        {
            let mut facts = self.facts.lock().expect("fast path facts");
            for (folder, env) in folders {
                let fresh = facts.get(*folder).filter(|f| {
                    f.learned.elapsed() < FACTS_MAX_AGE
                        && Self::folder_key(folder, env) == Some(f.key)
                });
                plan.push(fresh.map(|f| f.machines.clone()));
                if plan.last().is_some_and(Option::is_none) {
                    facts.remove(*folder);
                }
            }
        }
        let mut groups: BTreeMap<(Listing, Env), Vec<Lookup>> = BTreeMap::new();
        for ((_, env), machines) in folders.iter().zip(&plan) {
            for machine in machines.iter().flatten() {
                groups
                    .entry((machine.listing.clone(), hypervisor_env(env)))
                    .or_default()
                    .push(lookup(machine));
            }
        }
        let mut answers: HashMap<(Listing, PathBuf), Answer> = HashMap::new();
        for ((listing, env), lookups) in groups {
            let found = match &listing {
                Listing::Docker => docker::states(&lookups, &env, timeout).await,
                Listing::VirtualBox { uid } => {
                    virtualbox::states(&lookups, uid, &env, timeout).await
                }
                Listing::Libvirt { uri } => libvirt::states(&lookups, uri, &env, timeout).await,
            };
            for (lookup, answer) in lookups.into_iter().zip(found) {
                answers.insert((listing.clone(), lookup.data_dir), answer);
            }
        }
        plan.into_iter()
            .map(|machines| {
                machines?
                    .iter()
                    .map(
                        |m| match answers.get(&(m.listing.clone(), m.data_dir.clone())) {
                            Some(Answer::State(state)) => {
                                let mut status = Status::new(m.name.clone(), state.clone());
                                status.provider = Some(m.provider.clone());
                                Some(status)
                            }
                            Some(Answer::Running { ssh_sessions }) => {
                                let mut status = Status::new(m.name.clone(), Status::RUNNING);
                                status.provider = Some(m.provider.clone());
                                status.ssh_sessions = *ssh_sessions;
                                Some(status)
                            }
                            _ => None,
                        },
                    )
                    .collect()
            })
            .collect()
    }
}

/// A machine's fact from its `jeto-fast` record: `<listing>,<data dir>[,<uid or uri>]`.
fn fact(machine: &Status, data: &[String]) -> Option<MachineFact> {
    let field = |i: usize| data.get(i).map(|s| s.replace("%!(VAGRANT_COMMA)", ","));
    let listing = match data.first()?.as_str() {
        "docker" => Listing::Docker,
        "virtualbox" => Listing::VirtualBox { uid: field(2)? },
        "libvirt" => Listing::Libvirt { uri: field(2)? },
        _ => return None,
    };
    Some(MachineFact {
        name: machine.name.clone(),
        provider: machine.provider.clone()?,
        listing,
        data_dir: PathBuf::from(field(1)?),
    })
}

/// The id Vagrant keeps for a machine, as Vagrant reads it (stripped; empty is none).
fn lookup(machine: &MachineFact) -> Lookup {
    let id = std::fs::read_to_string(machine.data_dir.join("id"))
        .ok()
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty());
    Lookup {
        id,
        data_dir: machine.data_dir.clone(),
    }
}

fn hypervisor_env(env: &[(String, String)]) -> Vec<(String, String)> {
    let mut picked: BTreeMap<&str, &str> = BTreeMap::new();
    for (key, value) in env {
        if key == "PATH" || HYPERVISOR_ENV.iter().any(|p| key.starts_with(p)) {
            picked.insert(key, value);
        }
    }
    picked
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}
