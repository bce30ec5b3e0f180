//! Bounds on commands, against the real binary and the real vagrant CLI: memory whatever a
//! script prints, queues per instance and per key (429 with Retry-After), history_limit after
//! a restart, and one bound on vagrant processes that status reads and IP lookups keep too.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{register, start_server_top, ADMIN_KEY};
use jeto_http::testing::TestClient;
use jeto_vagrant::fixture::FakeVagrant;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_printing_200_mb_keeps_the_server_under_64_mib_above_its_start() {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let folder = fake.another_single("big");
    // 150 MB in lines of 1,000 bytes, then one line of 50 MB.
    std::fs::write(
        folder.join("jeto.json"),
        r#"{"scripts": {"big": {"command": "head -c 150000000 /dev/zero | tr '\\0' x | fold -w 999; head -c 50000000 /dev/zero | tr '\\0' y; echo; echo big-done"}}}"#,
    )
    .unwrap();
    let server = start_server_top(&fake, data.path(), "", "");
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let id = register(&admin, "big", 1, &folder).await;
    let started = admin
        .post(&format!("/api/instances/{id}"), &json!({"state": "start"}))
        .await;
    assert_eq!(started.status, 200, "{}", started.text());
    let before = server.rss_kib();

    let ran = admin
        .post(
            &format!("/api/instances/{id}"),
            &json!({"state": "runScript", "machine": "default", "script": "big"}),
        )
        .await;
    assert_eq!(ran.status, 200, "{}", ran.text());
    let peak = server.peak_rss_kib();
    println!(
        "200 MB script: RSS {before} KiB before, peak {peak} KiB (+{} KiB)",
        peak.saturating_sub(before)
    );
    let command = &ran.json()["command"];
    let console = command["console"].as_str().unwrap();
    assert!(
        console.ends_with("big-done\n"),
        "{}",
        &console[console.len().saturating_sub(200)..]
    );
    assert!(console.contains("[jeto: line cut at 65536 bytes]"));
    assert!(console.len() <= 1 << 20, "the console keeps its last MiB");
    assert_eq!(command["console_truncated"], json!(true));
    assert!(
        peak < before + 64 * 1024,
        "peak RSS {peak} KiB, {} KiB above the {before} KiB before the script",
        peak.saturating_sub(before)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_are_bounded_per_instance_and_per_key_and_history_limit_holds_after_a_restart() {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let top = "max_queued_per_instance = 16\nmax_queued_per_key = 40\nhistory_limit = 30";
    let mut server = start_server_top(&fake, data.path(), top, "");
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    // Host 2's `up` hangs: the first command of each instance runs for ever, the rest queue.
    let mut ids = Vec::new();
    for name in ["q1", "q2", "q3", "q4"] {
        ids.push(register(&admin, name, 2, &fake.another_single(name)).await);
    }
    let mut accepted = 0;
    let mut refused = Vec::new();
    for i in 0..500 {
        let id = ids[i % ids.len()];
        let answer = admin
            .post(
                &format!("/api/instances/{id}/commands"),
                &json!({"action": "start"}),
            )
            .await;
        match answer.status.as_u16() {
            202 => accepted += 1,
            429 => refused.push(answer),
            other => panic!("unexpected {other}: {}", answer.text()),
        }
    }
    println!(
        "500 submissions: {accepted} accepted, {} refused",
        refused.len()
    );
    // One running per instance, and 40 waiting for the key in all.
    assert!(accepted <= 4 + 40, "{accepted} accepted");
    assert!(accepted >= 40, "{accepted} accepted");
    assert_eq!(refused.len(), 500 - accepted);
    for answer in &refused {
        assert_eq!(answer.header("retry-after"), Some("10"));
        let message = answer.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            message.contains("max_queued_per_key") || message.contains("max_queued_per_instance"),
            "{message}"
        );
        assert_eq!(answer.json()["error"]["code"], "limit_reached");
    }
    let per_key = refused
        .iter()
        .map(|a| a.json()["error"]["message"].as_str().unwrap().to_owned())
        .find(|m| m.contains("max_queued_per_key"))
        .expect("the per-key bound was reached");
    assert!(
        per_key.contains("on instance"),
        "says what is queued: {per_key}"
    );

    // A restart with a smaller history_limit: every instance keeps at most that many.
    server.terminate();
    std::fs::write(
        data.path().join("jeto.toml"),
        std::fs::read_to_string(data.path().join("jeto.toml"))
            .unwrap()
            .replace("history_limit = 30", "history_limit = 5"),
    )
    .unwrap();
    let server = jeto_http::testing::ServerProcess::start(
        env!("CARGO_BIN_EXE_jeto"),
        &["--config", data.path().join("jeto.toml").to_str().unwrap()],
        &[],
    );
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    for id in ids {
        let commands = admin
            .get(&format!("/api/instances/{id}/commands"))
            .await
            .json();
        let count = commands.as_array().unwrap().len();
        assert!(
            (1..=5).contains(&count),
            "instance {id} keeps {count} commands"
        );
    }
}

/// A vagrant wrapper that records how many wrapper processes run at once.
fn concurrency_wrapper(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("vagrant-concurrency");
    let running = dir.join("running");
    std::fs::create_dir_all(&running).unwrap();
    let script = format!(
        "#!/bin/sh\ntouch '{running}/'$$\nls '{running}' | wc -l >> '{log}'\nvagrant \"$@\"\ncode=$?\nrm -f '{running}/'$$\nexit $code\n",
        running = running.display(),
        log = dir.join("concurrency.log").display()
    );
    std::fs::write(&path, script).unwrap();
    let mut permissions = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&path, permissions).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_reads_of_8_instances_never_run_more_vagrant_processes_than_max_concurrent() {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let wrapper = concurrency_wrapper(data.path());
    let server = start_server_top(&fake, data.path(), "", "");
    // The config uses the counting wrapper; swap in this one and restart.
    drop(server);
    let config = data.path().join("jeto.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let counting = fake.counting_binary().display().to_string();
    assert!(text.contains(&counting));
    std::fs::write(
        &config,
        text.replace(&counting, &wrapper.display().to_string()),
    )
    .unwrap();
    let server = jeto_http::testing::ServerProcess::start(
        env!("CARGO_BIN_EXE_jeto"),
        &["--config", config.to_str().unwrap()],
        &[],
    );
    assert!(std::fs::read_to_string(&config)
        .unwrap()
        .contains("max_concurrent = 2"));
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let mut ids = Vec::new();
    for i in 0..8 {
        let name = format!("c{i}");
        ids.push(register(&admin, &name, 1, &fake.another_single(&name)).await);
    }
    // Running machines: each fresh read is a status and an IP lookup.
    let starts: Vec<_> = ids
        .iter()
        .map(|id| {
            let admin = admin.clone();
            let id = *id;
            tokio::spawn(async move {
                admin
                    .post(
                        &format!("/api/instances/{id}/commands"),
                        &json!({"action": "start"}),
                    )
                    .await
            })
        })
        .collect();
    for start in starts {
        assert_eq!(start.await.unwrap().status, 202);
    }
    for id in &ids {
        for _ in 0..200 {
            let commands = admin
                .get(&format!("/api/instances/{id}/commands"))
                .await
                .json();
            if commands[0]["status"] == "succeeded" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // A restart forgets every status and IP (the starts reported them): the fresh reads below
    // each need a status and an IP lookup.
    drop(server);
    let server = jeto_http::testing::ServerProcess::start(
        env!("CARGO_BIN_EXE_jeto"),
        &["--config", config.to_str().unwrap()],
        &[],
    );
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let log = data.path().join("concurrency.log");
    std::fs::write(&log, "").unwrap();

    let mut reads: Vec<_> = ids
        .iter()
        .map(|id| {
            let admin = admin.clone();
            let id = *id;
            tokio::spawn(async move { admin.get(&format!("/api/instances/{id}?max_age=0")).await })
        })
        .collect();
    let list = admin.clone();
    reads.push(tokio::spawn(async move {
        list.get("/api/instances?refresh=true").await
    }));
    for read in reads {
        let answer = read.await.unwrap();
        assert_eq!(answer.status, 200, "{}", answer.text());
    }
    let counts: Vec<usize> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    // 8 statuses and 8 IP lookups at least (the list's reads may share the single reads).
    assert!(counts.len() >= 16, "{} vagrant calls", counts.len());
    let most = counts.iter().copied().max().unwrap();
    println!(
        "{} vagrant processes for 8 fresh reads and a refreshed list, at most {most} at once",
        counts.len()
    );
    assert!(
        most <= 2,
        "{most} vagrant processes at once with max_concurrent = 2: {counts:?}"
    );
}
