//! A host served by a `jeto worker` process over a real `nats-server`: the server registers,
//! starts and reads an instance whose vagrant runs in the worker, and answers 503 at once
//! when no worker is online.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::{config_toml_with, ADMIN_KEY};
use jeto_http::testing::{ServerProcess, TestClient};
use jeto_nats::testing::NatsServer;
use jeto_vagrant::fixture::FakeVagrant;
use serde_json::json;

/// A `jeto worker` for host 1 with its own data folder; killed on drop.
struct WorkerProcess(Child);

impl WorkerProcess {
    fn start(fake: &FakeVagrant, dir: &std::path::Path, url: &str) -> WorkerProcess {
        let config = dir.join("worker.toml");
        std::fs::write(
            &config,
            config_toml_with(fake, &dir.join("worker-data"), ""),
        )
        .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_jeto"))
            .args([
                "worker",
                "--config",
                config.to_str().unwrap(),
                "--nats",
                url,
                "--host",
                "1",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        assert!(ready.contains("jeto worker serving hosts [1]"), "{ready:?}");
        WorkerProcess(child)
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_served_by_a_worker_process() {
    let nats = NatsServer::start();
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let worker = WorkerProcess::start(&fake, dir.path(), &nats.url);
    let nats_table = format!("\n[nats]\nurl = {:?}\nhosts = [1]\n", nats.url);
    let config = dir.path().join("jeto.toml");
    std::fs::write(
        &config,
        config_toml_with(&fake, &dir.path().join("data"), &nats_table),
    )
    .unwrap();
    let server = ServerProcess::start(
        env!("CARGO_BIN_EXE_jeto"),
        &["--config", config.to_str().unwrap()],
        &[],
    );
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));

    let created = admin
        .post(
            "/api/instances",
            &json!({"name": "remote", "host": 1, "path": fake.multi().display().to_string()}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json()["id"].as_u64().unwrap();
    let started = admin
        .post(
            &format!("/api/instances/{id}"),
            &json!({"state": "start", "machine": "www"}),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.text());
    let answer = started.json();
    assert!(
        answer["command"]["console"]
            .as_str()
            .unwrap()
            .contains("Machine booted and ready!"),
        "the worker's vagrant output reached the console: {answer}"
    );
    let fresh = admin
        .get(&format!("/api/instances/{id}?max_age=0"))
        .await
        .json();
    assert_eq!(fresh["status"][0]["status"], "running", "{fresh}");
    // The worker's vagrant, not the server's, ran it: the machine's state is in the folder.
    let out = fake.run_vagrant(&fake.multi(), &["status", "www", "--machine-readable"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(",state,running"));

    drop(worker);
    let refused = admin
        .post(
            &format!("/api/instances/{id}"),
            &json!({"state": "stop", "machine": "www"}),
        )
        .await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert!(
        refused.text().contains("no worker is online for host 1"),
        "{}",
        refused.text()
    );
}
