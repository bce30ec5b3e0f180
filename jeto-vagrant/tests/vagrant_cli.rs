//! VagrantProvider against the real `vagrant` CLI, with the `jeto_fake` provider plugin.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jeto_core::testing::conformance::{self, Fixture, RunningProbe};
use jeto_core::{Action, ActionRequest, ConsoleSink, ErrorKind, Provider};
use jeto_vagrant::fixture::FakeVagrant;
use jeto_vagrant::{ProcessRecords, VagrantConfig, VagrantProvider};

fn collecting() -> (ConsoleSink, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = ConsoleSink::new({
        let lines = lines.clone();
        move |l: &str| lines.lock().unwrap().push(l.to_owned())
    });
    (sink, lines)
}

#[tokio::test]
async fn passes_the_provider_conformance_suite() {
    let fake = FakeVagrant::new();
    let (records, _) =
        ProcessRecords::open(fake.root().join("processes"), Duration::from_secs(2)).unwrap();
    let records = Arc::new(records);
    let provider = VagrantProvider::new(fake.config()).with_records(records.clone());
    let host = FakeVagrant::host(&[]);
    let missing = fake.root().join("missing");
    let fixture = Fixture {
        single: FakeVagrant::instance(1, &fake.single(), host.clone()),
        multi: FakeVagrant::instance(2, &fake.multi(), host.clone()),
        missing: FakeVagrant::instance(3, &missing, host),
        // Every vagrant process group is recorded while it runs.
        running: RunningProbe::new(move || records.running()),
    };
    conformance::run_all(&provider, &fixture).await;
}

/// Vagrant 2.3 looks machine names up in its global index as id prefixes: a machine named
/// `db` is taken for any indexed machine whose id starts with "db" (one id in 256 does).
#[tokio::test]
async fn a_machine_named_like_the_start_of_another_machines_id_keeps_its_own_status() {
    let fake = FakeVagrant::new();
    let provider = VagrantProvider::new(fake.config());
    let multi = FakeVagrant::instance(1, &fake.multi(), FakeVagrant::host(&[]));
    let start = (ActionRequest::new(Action::Start).on("www"))
        .check(&multi)
        .unwrap();
    assert!(provider
        .run(&multi, &start, ConsoleSink::discard())
        .await
        .unwrap()
        .is_success());
    // www's index entry, under an id that starts with "db", as a random id sometimes does.
    let index_path = fake.root().join("vagrant-home/data/machine-index/index");
    let mut index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&index_path).unwrap()).unwrap();
    let machines = index["machines"].as_object_mut().unwrap();
    let www = machines
        .values()
        .find(|m| m["name"] == "www")
        .expect("www is in the index")
        .clone();
    machines.insert("db5f8e1a0c2b4d6e8f0a1b2c3d4e5f60".into(), www);
    std::fs::write(&index_path, index.to_string()).unwrap();

    // Plain vagrant now lists www in db's place...
    let out = fake.run_vagrant(&fake.multi(), &["status", "--machine-readable"]);
    let plain = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !plain.contains(",db,state,"),
        "the setup no longer shows Vagrant's lookup: {plain}"
    );
    // ...Jeto's vagrant processes look up whole ids only.
    let status = provider.status(&multi).await.unwrap();
    let states: Vec<_> = status
        .iter()
        .map(|s| (s.name.as_str(), s.status.as_str()))
        .collect();
    assert_eq!(states, [("www", "running"), ("db", "not_created")]);
}

#[tokio::test]
async fn status_reports_states_and_provider_in_vagrantfile_order() {
    let fake = FakeVagrant::new();
    let provider = VagrantProvider::new(fake.config());
    let multi = FakeVagrant::instance(1, &fake.multi(), FakeVagrant::host(&[]));
    let status = provider.status(&multi).await.unwrap();
    let names: Vec<_> = status
        .iter()
        .map(|s| (s.name.as_str(), s.status.as_str()))
        .collect();
    assert_eq!(names, [("www", "not_created"), ("db", "not_created")]);
    assert!(status
        .iter()
        .all(|s| s.provider.as_deref() == Some("jeto_fake") && s.ip.is_none()));

    let outcome = provider
        .run(
            &multi,
            &(ActionRequest::new(Action::Start).on("db"))
                .check(&multi)
                .unwrap(),
            ConsoleSink::discard(),
        )
        .await
        .unwrap();
    assert!(outcome.is_success());
    let provision = provider
        .run(
            &multi,
            &(ActionRequest::new(Action::Provision).on("db"))
                .check(&multi)
                .unwrap(),
            ConsoleSink::discard(),
        )
        .await
        .unwrap();
    assert!(provision.is_success(), "{provision:?}");
    let halted = provider
        .run(
            &multi,
            &(ActionRequest::new(Action::Stop)).check(&multi).unwrap(),
            ConsoleSink::discard(),
        )
        .await
        .unwrap();
    assert!(halted.is_success());
    let states: Vec<_> = provider
        .status(&multi)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.status)
        .collect();
    assert_eq!(states, ["not_created", "poweroff"]);
    let provision = provider
        .run(
            &multi,
            &(ActionRequest::new(Action::Provision).on("db"))
                .check(&multi)
                .unwrap(),
            ConsoleSink::discard(),
        )
        .await
        .unwrap();
    assert_eq!(
        provision.error.as_ref().and_then(|e| e.class.as_deref()),
        Some("Vagrant::Errors::SSHNotReady"),
        "provision of a halted machine: {provision:?}"
    );
}

#[tokio::test]
async fn scripts_see_environment_params_and_jeto_values() {
    let fake = FakeVagrant::new();
    std::fs::write(
        fake.single().join("jeto.json"),
        r#"{"team": "web", "scripts": {"env": {"command": "echo \"$ENVIRONMENT/$SOME_PARAM/$JETO_TEAM/$VAGRANT_DEFAULT_PROVIDER\"; exit 4"}}}"#,
    )
    .unwrap();
    let provider = VagrantProvider::new(fake.config());
    let instance = FakeVagrant::instance(
        1,
        &fake.single(),
        FakeVagrant::host(&[("SOME_PARAM", "a=b c")]),
    );
    provider
        .run(
            &instance,
            &(ActionRequest::new(Action::Start))
                .check(&instance)
                .unwrap(),
            ConsoleSink::discard(),
        )
        .await
        .unwrap();
    let (sink, lines) = collecting();
    let outcome = provider
        .run(
            &instance,
            &(ActionRequest::new(Action::RunScript)
                .on("default")
                .script("env"))
            .check(&instance)
            .unwrap(),
            sink,
        )
        .await
        .unwrap();
    assert_eq!(outcome.exit_code, 4);
    let lines = lines.lock().unwrap();
    assert!(
        lines.iter().any(|l| l == "test/a=b c/web/jeto_fake"),
        "{lines:?}"
    );
}

#[tokio::test]
async fn rsync_failure_carries_vagrants_own_message() {
    let fake = FakeVagrant::new();
    let provider = VagrantProvider::new(fake.config());
    let instance = FakeVagrant::instance(1, &fake.multi(), FakeVagrant::host(&[]));
    let (sink, lines) = collecting();
    let outcome = provider
        .run(
            &instance,
            &(ActionRequest::new(Action::Rsync).on("www"))
                .check(&instance)
                .unwrap(),
            sink,
        )
        .await
        .unwrap();
    assert_eq!(outcome.exit_code, 1);
    let error = outcome.error.expect("an error message");
    assert!(error.message.contains("not ready for rsync"), "{error:?}");
    assert!(lines
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("not ready for rsync")));
}

#[tokio::test]
async fn error_exit_becomes_a_structured_error() {
    let fake = FakeVagrant::new();
    let provider = VagrantProvider::new(fake.config());
    let instance = FakeVagrant::instance(
        1,
        &fake.single(),
        FakeVagrant::host(&[("JETO_FAKE_UP", "fail")]),
    );
    let outcome = provider
        .run(
            &instance,
            &(ActionRequest::new(Action::Start))
                .check(&instance)
                .unwrap(),
            ConsoleSink::discard(),
        )
        .await
        .unwrap();
    let error = outcome.error.unwrap();
    assert_eq!(error.class.as_deref(), Some("JetoFake::UpFailed"));
    assert_eq!(
        error.message,
        "jeto_fake: up failed because JETO_FAKE_UP=fail"
    );
    assert_eq!(outcome.exit_code, 1);
}

#[tokio::test]
async fn slow_up_streams_its_first_line_before_it_exits() {
    let fake = FakeVagrant::new();
    let provider = VagrantProvider::new(fake.config());
    let instance = FakeVagrant::instance(
        1,
        &fake.single(),
        FakeVagrant::host(&[("JETO_FAKE_UP", "slow")]),
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let sink = ConsoleSink::new(move |l: &str| {
        let _ = tx.send(l.to_owned());
    });
    let run = tokio::spawn(async move {
        provider
            .run(
                &instance,
                &(ActionRequest::new(Action::Start))
                    .check(&instance)
                    .unwrap(),
                sink,
            )
            .await
    });
    loop {
        let line = rx.recv().await.expect("the run printed no slow boot line");
        if line.contains("slow boot step 1/3") {
            break;
        }
    }
    assert!(
        !run.is_finished(),
        "the first line arrived only after the process ended"
    );
    assert!(run.await.unwrap().unwrap().is_success());
}

/// Every process whose process group is `pgid`, read from /proc.
fn group_members(pgid: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // Fields after the `(comm)`: state, ppid, pgrp.
            let after = &stat[stat.rfind(')').unwrap() + 2..];
            after.split(' ').nth(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid)
        })
        .collect()
}

#[tokio::test]
async fn hanging_up_is_killed_at_its_timeout_with_its_whole_group() {
    let fake = FakeVagrant::new();
    let pidfile = fake.root().join("hang.pids");
    let config = VagrantConfig {
        command_timeout_secs: 4,
        ..fake.config()
    };
    let provider = VagrantProvider::new(config);
    let host = FakeVagrant::host(&[
        ("JETO_FAKE_UP", "hang"),
        ("JETO_FAKE_PIDFILE", &pidfile.display().to_string()),
    ]);
    let instance = FakeVagrant::instance(1, &fake.single(), host);
    let (sink, lines) = collecting();
    let err = provider
        .run(
            &instance,
            &(ActionRequest::new(Action::Start))
                .check(&instance)
                .unwrap(),
            sink,
        )
        .await
        .expect_err("a hanging up must time out");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.to_string().contains("vagrant up"), "{err}");
    assert!(
        lines.lock().unwrap().iter().any(|l| l.contains("hanging")),
        "output before the kill is kept"
    );

    let pids = std::fs::read_to_string(&pidfile).expect("the plugin wrote its pids");
    let pids: Vec<i32> = pids
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    let ruby = pids[0];
    // The ruby process is the group leader (process_group(0)); give SIGKILL's grace time.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !group_members(ruby).is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        group_members(ruby),
        Vec::<i32>::new(),
        "processes of the group survived"
    );
    for pid in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "pid {pid} survived"
        );
    }
}

#[tokio::test]
async fn ip_from_ssh_config_or_from_the_machine_when_loopback() {
    let fake = FakeVagrant::new();
    let provider = VagrantProvider::new(fake.config());
    let multi = FakeVagrant::instance(1, &fake.multi(), FakeVagrant::host(&[]));
    assert_eq!(
        provider.ip(&multi, "db").await.unwrap(),
        None,
        "not running"
    );
    provider
        .run(
            &multi,
            &(ActionRequest::new(Action::Start)).check(&multi).unwrap(),
            ConsoleSink::discard(),
        )
        .await
        .unwrap();
    assert_eq!(
        provider.ip(&multi, "www").await.unwrap().as_deref(),
        Some("192.0.2.10")
    );
    let db = provider.ip(&multi, "db").await.unwrap();
    assert_eq!(
        db.as_deref(),
        Some("192.0.2.11"),
        "machines: {:?}",
        provider.status(&multi).await
    );

    let nat = FakeVagrant::instance(
        1,
        &fake.multi(),
        FakeVagrant::host(&[
            ("JETO_FAKE_SSH_HOST", "127.0.0.1"),
            ("JETO_FAKE_IPS", "127.0.0.1 10.0.2.15 172.28.128.3"),
        ]),
    );
    assert_eq!(
        provider.ip(&nat, "www").await.unwrap().as_deref(),
        Some("10.0.2.15")
    );
}

#[tokio::test]
async fn a_missing_binary_says_how_to_fix_it() {
    let fake = FakeVagrant::new();
    let config = VagrantConfig {
        binary: "/nonexistent/vagrant".into(),
        ..fake.config()
    };
    let provider = VagrantProvider::new(config);
    let instance = FakeVagrant::instance(1, &fake.single(), FakeVagrant::host(&[]));
    let err = provider.status(&instance).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    let message = err.to_string();
    assert!(
        message.contains("/nonexistent/vagrant") && message.contains("apt-get install"),
        "{message}"
    );
}

/// Holds `folder`'s `default` machine entry in Vagrant's global index, as another vagrant
/// process reading its state does for a moment, until the returned file is dropped.
fn hold_index_entry(
    fake: &FakeVagrant,
    folder: &std::path::Path,
) -> nix::fcntl::Flock<std::fs::File> {
    let uuid =
        std::fs::read_to_string(folder.join(".vagrant/machines/default/jeto_fake/index_uuid"))
            .expect("the machine is in Vagrant's index once it was up");
    let lock = fake
        .root()
        .join("vagrant-home/data/machine-index")
        .join(format!("{}.lock", uuid.trim()));
    let file = std::fs::File::create(lock).unwrap();
    // Vagrant takes it with flock(2); `File::lock` is newer than the crate's MSRV.
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .unwrap()
}

/// Runs `op` while `folder`'s machine entry is held, letting it go once a second `vagrant
/// SUB_COMMAND` process has started: the first attempt always meets the lock, whatever the
/// machine's speed.
async fn while_held<T>(
    fake: &FakeVagrant,
    folder: &std::path::Path,
    sub_command: &str,
    op: impl std::future::Future<Output = T>,
) -> T {
    let count = || {
        fake.calls()
            .iter()
            .filter(|c| c.split_whitespace().any(|word| word == sub_command))
            .count()
    };
    let before = count();
    let mut held = Some(hold_index_entry(fake, folder));
    let mut op = std::pin::pin!(op);
    loop {
        tokio::select! {
            out = &mut op => return out,
            () = tokio::time::sleep(Duration::from_millis(20)) => {
                if held.is_some() && count() >= before + 2 {
                    held = None;
                }
            }
        }
    }
}

#[tokio::test]
async fn a_machine_locked_for_a_moment_by_another_vagrant_is_tried_again() {
    let fake = FakeVagrant::new();
    let mut config = fake.config();
    config.binary = fake.counting_binary();
    let provider = VagrantProvider::new(config);
    let folder = fake.single();
    let instance = FakeVagrant::instance(1, &folder, FakeVagrant::host(&[]));
    let run = |action| {
        let request = ActionRequest::new(action).check(&instance).unwrap();
        let (sink, lines) = collecting();
        let provider = &provider;
        let instance = &instance;
        async move {
            let outcome = provider.run(instance, &request, sink).await.unwrap();
            (outcome, lines.lock().unwrap().join("\n"))
        }
    };
    assert!(run(Action::Start).await.0.is_success());

    // A read and an action meeting the held entry: both try again and succeed.
    let statuses = while_held(&fake, &folder, "status", provider.status(&instance))
        .await
        .unwrap();
    assert_eq!(statuses[0].status, "running", "{statuses:?}");
    let (outcome, console) = while_held(&fake, &folder, "halt", run(Action::Stop)).await;
    assert!(outcome.is_success(), "{outcome:?}\n{console}");
    assert!(
        console.contains("another vagrant process held the machine; trying again"),
        "{console}"
    );

    // Provision may have done part of its work when Vagrant finds the machine locked: its
    // failure stands, with Vagrant's own words.
    assert!(run(Action::Start).await.0.is_success());
    let _held = hold_index_entry(&fake, &folder);
    let (outcome, console) = run(Action::Provision).await;
    let error = outcome.error.expect("provision of a locked machine fails");
    assert_eq!(
        error.class.as_deref(),
        Some("Vagrant::Errors::MachineLocked"),
        "{error:?}"
    );
    assert!(error.message.contains("locked"), "{error:?}");
    assert!(!console.contains("trying again"), "{console}");
}

/// Issue 27: the states of many folders read in one vagrant process agree with reading each on
/// its own (running, not created, a multi-machine folder), a broken Vagrantfile fails only its
/// own instance, and each folder keeps its own environment.
#[tokio::test]
async fn many_states_in_one_vagrant_process_agree_with_one_by_one() {
    let fake = FakeVagrant::new();
    let mut config = fake.config();
    config.binary = fake.counting_binary();
    let provider = VagrantProvider::new(config);
    let host = FakeVagrant::host(&[]);
    let running = fake.another_single("running");
    let idle = fake.another_single("idle");
    let broken = fake.another_single("broken");
    std::fs::write(
        broken.join("Vagrantfile"),
        "raise 'this Vagrantfile is broken'\n",
    )
    .unwrap();
    // A Vagrantfile whose machine is named after its instance's ENVIRONMENT.
    let named = fake.another_single("named");
    std::fs::write(
        named.join("Vagrantfile"),
        "require_relative \"../plugin/jeto_fake\"\nVagrant.configure(\"2\") do |config|\n  config.vm.communicator = :jeto_fake\n  config.vm.synced_folder \".\", \"/vagrant\", disabled: true\n  config.vm.define \"m-#{ENV['ENVIRONMENT']}\"\nend\n",
    )
    .unwrap();
    let mut staging = FakeVagrant::instance(5, &named, host.clone());
    staging.spec.environment = "staging".into();
    let instances = vec![
        FakeVagrant::instance(1, &running, host.clone()),
        FakeVagrant::instance(2, &idle, host.clone()),
        FakeVagrant::instance(3, &broken, host.clone()),
        FakeVagrant::instance(4, &fake.multi(), host.clone()),
        staging,
    ];
    let start = ActionRequest::new(Action::Start)
        .check(&instances[0])
        .unwrap();
    assert!(provider
        .run(&instances[0], &start, ConsoleSink::discard())
        .await
        .unwrap()
        .is_success());
    let before = fake.calls().len();
    let batch = provider.statuses(&instances).await;
    let processes = fake.calls().len() - before;
    assert_eq!(
        processes,
        1,
        "one vagrant process for the five: {:?}",
        fake.calls()
    );
    assert_eq!(batch.len(), 5);
    for (instance, answer) in instances.iter().zip(&batch) {
        let alone = provider.status(instance).await;
        match (answer, &alone) {
            (Ok(many), Ok(one)) => assert_eq!(many, one, "{}", instance.spec.name),
            (Err(many), Err(_)) => {
                assert_eq!(instance.id, 3);
                assert!(
                    many.to_string().contains("this Vagrantfile is broken"),
                    "{many}"
                );
            }
            _ => panic!(
                "{}: {answer:?} in the batch, {alone:?} alone",
                instance.spec.name
            ),
        }
    }
    let states = |i: usize| -> Vec<String> {
        batch[i]
            .as_ref()
            .unwrap()
            .iter()
            .map(|s| s.status.clone())
            .collect()
    };
    assert_eq!(states(0), ["running"]);
    assert_eq!(states(1), ["not_created"]);
    assert_eq!(
        batch[3].as_ref().unwrap().len(),
        2,
        "both machines of the multi folder"
    );
    assert_eq!(
        batch[4].as_ref().unwrap()[0].name,
        "m-staging",
        "its own ENVIRONMENT"
    );
}
