//! Issue 27, the docker fast path on real containers: twenty machines of four folders (some
//! running, some stopped, some never created) read from one `docker inspect` agree with
//! Vagrant's own `vagrant status` for each, with no vagrant process, in less time than one raw
//! `vagrant status` of one folder; a container stopped or removed behind Vagrant's back reads
//! as Vagrant then says.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use jeto_core::{Instance, Provider, Status};
use jeto_vagrant::fixture::{
    docker, docker_container, docker_image, docker_vagrantfile_without_ssh, FakeVagrant,
};
use jeto_vagrant::machine_readable::{parse_line, statuses, Line};
use jeto_vagrant::VagrantProvider;

const MACHINES: [&str; 5] = ["m1", "m2", "m3", "m4", "m5"];

/// Removes the test's containers however it ends.
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for folder in &self.0 {
            for machine in MACHINES {
                if let Some(id) = docker_container(folder, machine) {
                    let _ = docker(&["rm", "-f", &id]);
                }
            }
        }
    }
}

/// Runs raw `vagrant ARGS` in each folder at once; panics with vagrant's words on failure.
fn vagrant_everywhere(provider: &VagrantProvider, instances: &[Instance], args: &[&str]) {
    let children: Vec<_> = instances
        .iter()
        .map(|instance| {
            Command::new("vagrant")
                .args(args)
                .current_dir(instance.folder())
                .envs(provider.environment(instance))
                .output()
        })
        .collect();
    for child in children {
        let out = child.expect("vagrant runs");
        assert!(
            out.status.success(),
            "vagrant {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Vagrant's own answer: raw `vagrant status --machine-readable` in the folder.
fn vagrant_says(provider: &VagrantProvider, instance: &Instance) -> Vec<Status> {
    let out = Command::new("vagrant")
        .args(["status", "--machine-readable"])
        .current_dir(instance.folder())
        .envs(provider.environment(instance))
        .output()
        .expect("vagrant runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records: Vec<_> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| match parse_line(line) {
            Line::Record(record) => Some(record),
            _ => None,
        })
        .collect();
    statuses(&records)
}

fn states(answers: &[Result<Vec<Status>, jeto_core::ProviderError>]) -> Vec<Vec<Status>> {
    answers
        .iter()
        .map(|a| a.as_ref().expect("a state for every folder").clone())
        .collect()
}

/// The states without the SSH sessions, which the docker listing tells and Vagrant does not.
fn sessions_dropped(states: &[Vec<Status>]) -> Vec<Vec<Status>> {
    states
        .iter()
        .map(|machines| {
            machines
                .iter()
                .cloned()
                .map(|mut m| {
                    m.ssh_sessions = None;
                    m
                })
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_containers_from_one_docker_listing_agree_with_vagrant() {
    let image = docker_image();
    let fake = FakeVagrant::new();
    let mut config = fake.config();
    config.binary = fake.counting_binary();
    let provider = VagrantProvider::new(config);
    let mut host = FakeVagrant::host(&[]);
    host.provider = "docker".into();
    let folders: Vec<PathBuf> = (1..=4)
        .map(|n| {
            let folder = fake.root().join(format!("fleet{n}"));
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(
                folder.join("Vagrantfile"),
                docker_vagrantfile_without_ssh(&image, &MACHINES),
            )
            .unwrap();
            folder
        })
        .collect();
    let _cleanup = Cleanup(folders.clone());
    let instances: Vec<Instance> = folders
        .iter()
        .enumerate()
        .map(|(n, folder)| FakeVagrant::instance(n as u64 + 1, folder, host.clone()))
        .collect();
    // Per folder: m1, m2 running, m3 stopped, m4, m5 never created.
    vagrant_everywhere(&provider, &instances, &["up", "m1", "m2", "m3"]);
    vagrant_everywhere(&provider, &instances, &["halt", "m3"]);

    // The first read goes through Vagrant (one process), which says how to list each machine.
    let before = fake.calls().len();
    let learned = states(&provider.statuses(&instances).await);
    assert_eq!(fake.calls().len() - before, 1, "{:?}", fake.calls());

    let raw = Instant::now();
    let own: Vec<Vec<Status>> = instances
        .iter()
        .map(|i| vagrant_says(&provider, i))
        .collect();
    let one_raw_status = raw.elapsed() / instances.len() as u32;
    assert_eq!(learned, own, "Vagrant's batch and Vagrant's own status");

    let before = fake.calls().len();
    let fast = Instant::now();
    let listed = states(&provider.statuses(&instances).await);
    let fast = fast.elapsed();
    assert_eq!(
        fake.calls().len(),
        before,
        "no vagrant process for the listing: {:?}",
        &fake.calls()[before..]
    );
    // The listing also tells the SSH sessions of running containers (none here: no SSH);
    // Vagrant says nothing of them. The rest is the same.
    for machine in listed.iter().flatten() {
        let expected = (machine.status == "running").then_some(0);
        assert_eq!(machine.ssh_sessions, expected, "{machine:?}");
    }
    assert_eq!(
        sessions_dropped(&listed),
        own,
        "the docker listing and Vagrant's own status"
    );
    let count = |state: &str| {
        listed
            .iter()
            .flatten()
            .filter(|m| m.status == state)
            .count()
    };
    assert_eq!(
        (count("running"), count("stopped"), count("not_created")),
        (8, 4, 8),
        "{listed:?}"
    );
    eprintln!(
        "20 machines from docker in {fast:?}; one raw vagrant status of one folder: {one_raw_status:?} ({:.1}x)",
        one_raw_status.as_secs_f64() / fast.as_secs_f64()
    );
    assert!(
        fast < one_raw_status,
        "20 machines from docker ({fast:?}) should take less than one raw vagrant status ({one_raw_status:?})"
    );

    // Behind Vagrant's back: one container stopped, one removed.
    let stopped = docker_container(&folders[0], "m1").unwrap();
    let removed = docker_container(&folders[1], "m2").unwrap();
    assert!(docker(&["stop", "-t", "1", &stopped]).is_some());
    assert!(docker(&["rm", "-f", &removed]).is_some());
    let before = fake.calls().len();
    let listed = states(&provider.statuses(&instances).await);
    assert_eq!(fake.calls().len(), before, "{:?}", &fake.calls()[before..]);
    let own: Vec<Vec<Status>> = instances
        .iter()
        .map(|i| vagrant_says(&provider, i))
        .collect();
    assert_eq!(sessions_dropped(&listed), own);
    assert_eq!(listed[0][0].status, "stopped");
    assert_eq!(listed[1][1].status, "not_created");

    // A folder whose Vagrantfile changed is read through Vagrant again.
    let changed: &Path = &folders[2];
    let text = std::fs::read_to_string(changed.join("Vagrantfile")).unwrap();
    std::fs::write(changed.join("Vagrantfile"), format!("# edited\n{text}")).unwrap();
    let before = fake.calls().len();
    let listed = states(&provider.statuses(&instances).await);
    assert_eq!(
        fake.calls().len() - before,
        1,
        "{:?}",
        &fake.calls()[before..]
    );
    assert_eq!(sessions_dropped(&listed), own);
}
