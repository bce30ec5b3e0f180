//! Crash test of the JSON file store: a child process creates instances in a loop and prints
//! `ack ID` after each creation returns; the parent SIGKILLs it at a random moment, then checks
//! that the store loads and holds every acknowledged instance. 25 rounds on one data folder.
//!
//! A custom harness (the child is this same binary, started with `JETO_CRASH_CHILD=<dir>`).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use jeto_core::store::{InstanceStore, JsonFileStore, NewInstance};

const ROUNDS: usize = 25;

fn child(dir: &str) -> ! {
    let store = JsonFileStore::open(dir.as_ref()).expect("the store opens after a crash");
    let mut out = std::io::stdout().lock();
    for i in 0.. {
        let record = store
            .insert_instance(NewInstance {
                id: None,
                name: format!("crash-{i}"),
                path: format!("/srv/crash/{i}"),
                archive_url: None,
                git_reference: None,
                git_url: None,
                archive_sha256: None,
                environment: "crash".into(),
                host_id: 1,
                managed_folder: false,
                jeto_infos: Default::default(),
            })
            .expect("insert");
        writeln!(out, "ack {}", record.id).unwrap();
        out.flush().unwrap();
    }
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
    for round in 0..ROUNDS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env("JETO_CRASH_CHILD", data.path())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the writer");
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut ids = Vec::new();
            let mut reader = BufReader::new(stdout);
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
                // Only a complete line is an acknowledgement.
                if line.ends_with(b"\n") {
                    let text = String::from_utf8_lossy(&line);
                    ids.push(
                        text.trim()
                            .trim_start_matches("ack ")
                            .parse::<u64>()
                            .unwrap(),
                    );
                }
                line.clear();
            }
            ids
        });
        std::thread::sleep(Duration::from_millis(20 + random(&mut seed) % 150));
        child.kill().expect("SIGKILL the writer");
        child.wait().unwrap();
        let ids = reader.join().unwrap();
        acked.extend(&ids);
        let store = JsonFileStore::open(data.path()).unwrap_or_else(|e| {
            panic!("round {round}: the store does not load after SIGKILL: {e}")
        });
        let stored: std::collections::HashSet<u64> =
            store.instances().unwrap().iter().map(|r| r.id).collect();
        let lost: Vec<_> = acked.iter().filter(|id| !stored.contains(id)).collect();
        assert!(
            lost.is_empty(),
            "round {round}: acknowledged instances lost: {lost:?}"
        );
        println!(
            "round {round:2}: {} acknowledged this round, {} stored in all",
            ids.len(),
            stored.len()
        );
    }
    let mut unique = acked.clone();
    unique.dedup();
    assert_eq!(unique.len(), acked.len(), "an id was handed out twice");
    assert!(
        acked.len() > ROUNDS,
        "the writer acknowledged too little to test anything"
    );
    println!("store_crash: 1 passed, 0 failed");
}
