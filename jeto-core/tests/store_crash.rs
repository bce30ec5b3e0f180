//! Crash test of the SQLite store: a child process creates instances and finishes a command on
//! each in a loop, printing `instance ID` and `command ID` after each call returns; the parent
//! SIGKILLs it at a random moment, then checks that the store opens and holds every
//! acknowledged instance and finished command (with its console), and that no id was handed
//! out twice. 25 rounds on one data folder.
//!
//! A custom harness (the child is this same binary, started with `JETO_CRASH_CHILD=<dir>`).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use jeto_core::store::{InstanceRecord, Page, SqliteStore, Store};
use jeto_core::{Action, ActionRequest, CommandStatus, InstanceSpec};

const ROUNDS: usize = 25;

fn child(dir: &str) -> ! {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = SqliteStore::open(dir.as_ref()).expect("the store opens after a crash");
        let mut out = std::io::stdout().lock();
        for i in 0.. {
            let record = store
                .insert_instance(InstanceRecord::new(
                    InstanceSpec::new(
                        format!("crash-{i}"),
                        // One folder per instance, across the rounds' children too.
                        format!("/srv/crash/{}-{i}", std::process::id()),
                    ),
                    1,
                ))
                .await
                .expect("insert");
            writeln!(out, "instance {}", record.id).unwrap();
            out.flush().unwrap();
            let request = ActionRequest::new(Action::Start);
            let queued = jeto_core::Command::queued(record.id, &request, "crash");
            let mut command = store.insert_command(queued, 10).await.expect("command");
            store
                .append_console(command.id, &format!("output of {}\n", command.id), 1 << 20)
                .await
                .expect("console");
            command.status = CommandStatus::Succeeded;
            command.exit_code = Some(0);
            store.update_command(&command).await.expect("finish");
            writeln!(out, "command {}", command.id).unwrap();
            out.flush().unwrap();
        }
    });
    unreachable!()
}

/// A small xorshift generator: random kill moments without a dependency.
fn random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn main() {
    if let Ok(dir) = std::env::var("JETO_CRASH_CHILD") {
        child(&dir);
    }
    let data = tempfile::tempdir().unwrap();
    let mut seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut acked: Vec<u64> = Vec::new();
    let mut finished: Vec<(u64, u64)> = Vec::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for round in 0..ROUNDS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env("JETO_CRASH_CHILD", data.path())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the writer");
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let (mut instances, mut commands) = (Vec::new(), Vec::new());
            let mut reader = BufReader::new(stdout);
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
                // Only a complete line is an acknowledgement.
                if line.ends_with(b"\n") {
                    let text = String::from_utf8_lossy(&line);
                    let (kind, id) = text.trim().split_once(' ').unwrap();
                    let id = id.parse::<u64>().unwrap();
                    match kind {
                        "instance" => instances.push(id),
                        _ => commands.push((instances.last().copied().unwrap(), id)),
                    }
                }
                line.clear();
            }
            (instances, commands)
        });
        std::thread::sleep(Duration::from_millis(20 + random(&mut seed) % 150));
        child.kill().expect("SIGKILL the writer");
        child.wait().unwrap();
        let (ids, commands) = reader.join().unwrap();
        acked.extend(&ids);
        finished.extend(&commands);
        let store = SqliteStore::open(data.path()).unwrap_or_else(|e| {
            panic!("round {round}: the store does not open after SIGKILL: {e}")
        });
        let stored: std::collections::HashSet<u64> = runtime
            .block_on(store.instances())
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect();
        let lost: Vec<_> = acked.iter().filter(|id| !stored.contains(id)).collect();
        assert!(
            lost.is_empty(),
            "round {round}: acknowledged instances lost: {lost:?}"
        );
        for (instance, id) in &finished {
            let command = runtime
                .block_on(store.command(*instance, *id))
                .unwrap()
                .unwrap_or_else(|| panic!("round {round}: finished command {id} lost"));
            assert_eq!(command.status, CommandStatus::Succeeded);
            assert_eq!(
                command.console.as_deref(),
                Some(format!("output of {id}\n").as_str())
            );
        }
        let listed = runtime
            .block_on(store.commands(*acked.last().unwrap_or(&1), Page::ALL))
            .unwrap();
        assert!(listed.len() <= 1);
        println!(
            "round {round:2}: {} instances and {} commands acknowledged this round, {} instances stored in all",
            ids.len(),
            commands.len(),
            stored.len()
        );
    }
    let mut unique = acked.clone();
    unique.dedup();
    assert_eq!(
        unique.len(),
        acked.len(),
        "an instance id was handed out twice"
    );
    let mut command_ids: Vec<u64> = finished.iter().map(|(_, id)| *id).collect();
    command_ids.sort();
    command_ids.dedup();
    assert_eq!(
        command_ids.len(),
        finished.len(),
        "a command id was handed out twice"
    );
    assert!(
        acked.len() > ROUNDS,
        "the writer acknowledged too little to test anything"
    );
    println!("store_crash: 1 passed, 0 failed");
}
