//! How the server holds up: vagrant killed mid-command, a client that goes away during a sync
//! call, SIGTERM during a command and a restart, and a burst of 1,000 requests.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{ended, register, start_server_with, ADMIN_KEY};
use http_body_util::BodyExt;
use jeto_http::testing::{ServerProcess, TestClient};
use jeto_vagrant::fixture::FakeVagrant;
use serde_json::json;
use tokio::io::AsyncWriteExt;

/// Fields drop in order: the server stops before its folders are removed.
struct Server {
    process: ServerProcess,
    admin: TestClient,
    config: std::path::PathBuf,
    data: tempfile::TempDir,
    fake: FakeVagrant,
}

/// A server with host 3 (`up` hangs and writes its pids to `pids`) and host 4 (`up` is slow),
/// and instance 1 (multi) on host 1, instance 2 (single) on host 3.
async fn start() -> Server {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let pids = data.path().join("pids");
    let extra = format!(
        "[[hosts]]\nid = 3\nname = \"hang\"\nprovider = \"jeto_fake\"\nparams = {{ JETO_FAKE_UP = \"hang\", JETO_FAKE_PIDFILE = {:?} }}\n\n[[hosts]]\nid = 4\nname = \"slow\"\nprovider = \"jeto_fake\"\nparams = {{ JETO_FAKE_UP = \"slow\" }}\n",
        pids.display().to_string()
    );
    let process = start_server_with(&fake, data.path(), &extra);
    // Where start_server_with wrote it, for the restarts below.
    let config = data.path().join("jeto.toml");
    let admin = TestClient::new(process.address, Some(ADMIN_KEY));
    for (name, host, folder) in [("multi", 1, fake.multi()), ("single", 3, fake.single())] {
        register(&admin, name, host, &folder).await;
    }
    Server {
        process,
        admin,
        config,
        data,
        fake,
    }
}

/// Waits for the console of a command to show its first output (it is running).
async fn first_output(client: &TestClient, location: &str) {
    let (status, mut body) = client
        .get_stream(&format!("{location}/console?follow=true"))
        .await;
    assert_eq!(status, 200);
    body.frame().await.expect("some output").expect("a chunk");
}

/// Whether a process is gone (or only a zombie left for init to reap), within 5 s.
async fn gone(pid: i32) -> bool {
    for _ in 0..100 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next());
        if matches!(state, None | Some("Z")) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn pids(path: &Path) -> Vec<i32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

async fn wait_for_pids(path: &Path) -> Vec<i32> {
    for _ in 0..100 {
        let found = pids(path);
        if found.len() == 2 {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the hanging up never wrote its pids");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vagrant_killed_mid_command_fails_the_command_and_the_server_serves_on() {
    let s = start().await;
    let queued = s
        .admin
        .post(
            "/api/instances/2",
            &json!({"state": "start", "async": true}),
        )
        .await;
    let location = queued.header("location").unwrap().to_owned();
    let found = wait_for_pids(&s.data.path().join("pids")).await;
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &found[0].to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let command = ended(&s.admin, &location).await;
    assert_eq!(command["status"], "failed", "{command}");
    let message = command["error"]["message"].as_str().unwrap();
    assert!(message.contains("signal 9"), "{message}");
    assert!(gone(found[1]).await, "the hung child was left behind");
    assert_eq!(s.admin.get("/api/health").await.status, 200);
    let status = s
        .admin
        .post("/api/instances/1", &json!({"state": "status"}))
        .await;
    assert_eq!(
        status.status,
        200,
        "the server still runs commands: {}",
        status.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_during_a_sync_call_does_not_cancel_the_command() {
    let s = start().await;
    let created = s
        .admin
        .post(
            "/api/instances",
            &json!({"name": "slow", "host": 4, "path": s.fake.another_single("slow").display().to_string()}),
        )
        .await;
    let id = created.json()["id"].as_u64().unwrap();
    let body = r#"{"state": "start"}"#;
    let mut stream = tokio::net::TcpStream::connect(s.process.address)
        .await
        .unwrap();
    let request = format!(
        "POST /api/instances/{id} HTTP/1.1\r\nhost: x\r\nx-jeto-key: {ADMIN_KEY}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(stream);
    let commands = s
        .admin
        .get(&format!("/api/instances/{id}/commands"))
        .await
        .json();
    let location = format!("/api/instances/{id}/commands/{}", commands[0]["id"]);
    let command = ended(&s.admin, &location).await;
    assert_eq!(command["status"], "succeeded", "{command}");
    assert!(command["console"]
        .as_str()
        .unwrap()
        .contains("slow boot step 3/3"));
    let instance = s
        .admin
        .get(&format!("/api/instances/{id}?max_age=0"))
        .await
        .json();
    assert_eq!(instance["status"][0]["status"], "running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_command_then_restart_loses_nothing() {
    let mut s = start().await;
    let done = s
        .admin
        .post(
            "/api/instances/1",
            &json!({"state": "runScript", "machine": "www", "script": "hello"}),
        )
        .await;
    assert_eq!(done.status, 409, "www is not running yet: {}", done.text());
    let started = s
        .admin
        .post(
            "/api/instances/1",
            &json!({"state": "start", "machine": "www"}),
        )
        .await;
    assert_eq!(started.status, 200);
    let finished = started.json()["command"].clone();
    let queued = s
        .admin
        .post(
            "/api/instances/2",
            &json!({"state": "start", "async": true}),
        )
        .await;
    let hanging = queued.header("location").unwrap().to_owned();
    first_output(&s.admin, &hanging).await;
    let found = wait_for_pids(&s.data.path().join("pids")).await;

    assert!(
        s.process.terminate(),
        "jeto did not exit cleanly on SIGTERM"
    );
    for pid in found {
        assert!(gone(pid).await, "pid {pid} outlived the server");
    }

    let process = ServerProcess::start(
        env!("CARGO_BIN_EXE_jeto"),
        &["--config", s.config.to_str().unwrap()],
        &[],
    );
    let admin = TestClient::new(process.address, Some(ADMIN_KEY));
    let interrupted = admin.get(&hanging).await.json();
    assert_eq!(interrupted["status"], "interrupted", "{interrupted}");
    let again = admin
        .get(&format!("/api/instances/1/commands/{}", finished["id"]))
        .await
        .json();
    assert_eq!(again, finished, "a finished command comes back as it was");
    let instances = admin.get("/api/instances").await.json();
    assert_eq!(instances.as_array().unwrap().len(), 2);
    let next = admin
        .post("/api/instances/1", &json!({"state": "status"}))
        .await
        .json();
    assert!(
        next["command"]["id"].as_u64() > interrupted["id"].as_u64(),
        "ids go on after a restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_1000_requests_mixed_with_commands() {
    let s = start().await;
    async fn burst(client: &TestClient, rounds: usize) -> (usize, Vec<String>) {
        let tasks: Vec<_> = (0..64)
            .map(|task| {
                let client = client.clone();
                tokio::spawn(async move {
                    let mut errors = Vec::new();
                    let mut commands = Vec::new();
                    for i in 0..rounds {
                        let response = match (task * rounds + i) % 64 {
                            0 => {
                                let r = client
                                    .post(
                                        "/api/instances/1",
                                        &json!({"state": "status", "async": true}),
                                    )
                                    .await;
                                commands.extend(r.header("location").map(str::to_owned));
                                r
                            }
                            n if n % 3 == 0 => client.get("/api/instances").await,
                            n if n % 3 == 1 => client.get("/api/instances/1").await,
                            _ => client.get("/api/instances/1/commands").await,
                        };
                        if !response.status.is_success() {
                            errors.push(format!("{}: {}", response.status, response.text()));
                        }
                    }
                    (errors, commands)
                })
            })
            .collect();
        let mut errors = Vec::new();
        let mut commands = Vec::new();
        for task in tasks {
            let (e, c) = task.await.unwrap();
            errors.extend(e);
            commands.extend(c);
        }
        (errors.len(), commands)
    }
    // A first full burst warms up the allocator, the connection pool and the store's page
    // caches; the second must then leave memory where the first did (steady state).
    let (errors, commands) = burst(&s.admin, 16).await;
    assert_eq!(errors, 0);
    for location in &commands {
        ended(&s.admin, location).await;
    }
    let before = s.process.rss_kib();
    let (errors, commands) = burst(&s.admin, 16).await;
    assert_eq!(errors, 0, "errors in a burst of 1,024 requests");
    assert_eq!(commands.len(), 16);
    for location in &commands {
        assert_eq!(ended(&s.admin, location).await["status"], "succeeded");
    }
    let after = s.process.rss_kib();
    println!("RSS before the burst {before} KiB, after {after} KiB");
    assert!(
        after <= before + before / 10,
        "RSS grew from {before} KiB to {after} KiB"
    );
}
