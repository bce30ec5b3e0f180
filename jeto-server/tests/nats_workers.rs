//! Hosts served by `jeto worker` processes over a real `nats-server`: the server registers,
//! starts and reads instances whose vagrant runs in a worker; two workers on two hosts run in
//! parallel; a worker SIGKILLed mid-command ends it `interrupted` and, restarted, leaves no
//! process behind and runs the next one; a command sent while a worker restarts waits for
//! it; with no worker online the answer is 503 at once.

mod common;

use std::path::Path;
use std::time::Duration;

use common::sse::Sse;
use common::workers::{server_trust, worker_trust, WorkerProcess};
use common::{config_toml_with, ended, gone, register, wait_for, ADMIN_KEY, OTHER_KEY};
use jeto_http::testing::{ServerProcess, TestClient};
use jeto_nats::testing::NatsServer;
use jeto_vagrant::fixture::FakeVagrant;
use serde_json::json;

/// The server, its hosts 1 and 3 served by workers; host 3's first `up` hangs (its pids in
/// `pids`), and actions whose worker is silent 3 s end interrupted.
fn server(fake: &FakeVagrant, dir: &Path, url: &str, pids: &Path) -> ServerProcess {
    let extra = format!(
        "{}\n[nats]\nurl = {url:?}\nhosts = [1, 3]\nsilence_limit_secs = 3\n{}",
        hang_once_host(pids),
        server_trust(dir, &[1, 3])
    );
    let config = dir.join("jeto.toml");
    std::fs::write(&config, config_toml_with(fake, &dir.join("data"), &extra)).unwrap();
    ServerProcess::start(
        env!("CARGO_BIN_EXE_jeto"),
        &["--config", config.to_str().unwrap()],
        &[],
    )
}

fn hang_once_host(pids: &Path) -> String {
    format!(
        "[[hosts]]\nid = 3\nname = \"hang-once\"\nprovider = \"jeto_fake\"\nparams = {{ JETO_FAKE_UP = \"hang_once\", JETO_FAKE_PIDFILE = {:?} }}\n",
        pids.display().to_string()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_served_by_a_worker_process() {
    let nats = NatsServer::start();
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let mut worker = WorkerProcess::start(&fake, dir.path(), &nats.url, "box-a", &[1], "");
    let server = server(&fake, dir.path(), &nats.url, &pids);
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let base = format!("http://{}", server.address);
    let mut presence = Sse::follow(
        &base,
        ADMIN_KEY,
        "?after=0&type=worker_online,worker_offline",
        None,
    )
    .await;
    let (_, kind, online) = presence
        .next(Duration::from_secs(10))
        .await
        .expect("the worker seen online");
    assert_eq!(kind, "worker_online", "{online}");
    assert_eq!(
        (&online["worker"], &online["host"]),
        (&json!("box-a"), &json!(1))
    );

    let id = register(&admin, "remote", 1, &fake.multi()).await;
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
    // A fresh read of the host's instances is one call to the worker, one vagrant process
    // there for all of them.
    let second = register(&admin, "second", 1, &fake.another_single("second")).await;
    let before = fake.calls().len();
    let listed = admin.get("/api/instances?refresh=true").await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    let states: Vec<(u64, String)> = listed
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let state = i["status"][0]["status"].as_str().unwrap_or("?").to_owned();
            (i["id"].as_u64().unwrap(), state)
        })
        .collect();
    assert_eq!(
        states,
        [
            (id, "running".to_owned()),
            (second, "not_created".to_owned())
        ]
    );
    assert_eq!(
        fake.calls()[before..],
        ["--machine-readable status".to_owned()],
        "one vagrant process for both"
    );
    // The worker's vagrant, not the server's, ran it: the machine's state is in the folder.
    let out = fake.run_vagrant(&fake.multi(), &["status", "www", "--machine-readable"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(",state,running"));

    // The host shows its worker.
    let workers = admin.get("/api/hosts/1/workers").await;
    assert_eq!(workers.status, 200, "{}", workers.text());
    let workers = workers.json();
    assert_eq!(workers[0]["name"], "box-a", "{workers}");
    assert_eq!(workers[0]["online"], true, "{workers}");
    assert_eq!(workers[0]["hosts"], json!([1]), "{workers}");
    // A host of the server's own box has none; a tenant cannot see another's host.
    let local = admin.get("/api/hosts/2/workers").await;
    assert_eq!(local.status, 409, "{}", local.text());
    assert!(
        local.text().contains("server's own box"),
        "{}",
        local.text()
    );
    let other = TestClient::new(server.address, Some(OTHER_KEY));
    assert_eq!(other.get("/api/hosts/1/workers").await.status, 404);

    // Stopped cleanly, the worker leaves at once: 503 without waiting, and the host says so.
    worker.terminate();
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
    assert_eq!(
        admin.get("/api/hosts/1/workers").await.json(),
        json!([]),
        "a worker that stopped cleanly is not listed"
    );
    let (_, kind, offline) = presence
        .next(Duration::from_secs(10))
        .await
        .expect("the worker seen offline");
    assert_eq!(kind, "worker_offline", "{offline}");
    assert_eq!(offline["worker"], "box-a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_run_in_parallel_and_one_killed_mid_command_ends_it_interrupted() {
    let nats = NatsServer::start();
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let hang = hang_once_host(&pids);
    let _a = WorkerProcess::start(&fake, dir.path(), &nats.url, "box-a", &[1], "");
    let mut b = WorkerProcess::start(&fake, dir.path(), &nats.url, "box-b", &[3], &hang);
    let server = server(&fake, dir.path(), &nats.url, &pids);
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let on_a = register(&admin, "on-a", 1, &fake.single()).await;
    let on_b = register(&admin, "on-b", 3, &fake.another_single("b")).await;

    // Box B's up hangs; box A's up runs and ends meanwhile.
    let hanging = admin
        .post(
            &format!("/api/instances/{on_b}"),
            &json!({"state": "start", "async": true}),
        )
        .await;
    assert_eq!(hanging.status, 202, "{}", hanging.text());
    let hanging = hanging.header("location").unwrap().to_owned();
    wait_for("box B's up to start", || pids.exists()).await;
    let quick = admin
        .post(
            &format!("/api/instances/{on_a}"),
            &json!({"state": "start"}),
        )
        .await;
    assert_eq!(quick.status, 200, "{}", quick.text());
    assert_eq!(quick.json()["command"]["status"], "succeeded");
    assert_eq!(admin.get(&hanging).await.json()["status"], "running");
    let workers = admin.get("/api/hosts/3/workers").await.json();
    assert_eq!(workers[0]["name"], "box-b", "{workers}");

    // Box B dies mid-command: the command ends interrupted, with the reason, soon.
    let running: Vec<i32> = std::fs::read_to_string(&pids)
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    b.kill();
    let command = ended(&admin, &hanging).await;
    assert_eq!(command["status"], "interrupted", "{command}");
    assert!(
        command["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("stopped answering"),
        "{command}"
    );
    // Its vagrant is in its own process group: the crash left it; the restart kills it.
    assert!(
        running.iter().any(|pid| !gone(*pid)),
        "killed with the worker"
    );
    b.restart();
    for pid in &running {
        assert!(gone(*pid), "process {pid} outlived the worker's restart");
    }
    // The next command runs (and is not the interrupted one run again).
    let again = admin
        .post(
            &format!("/api/instances/{on_b}"),
            &json!({"state": "start"}),
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(
        again.json()["command"]["status"],
        "succeeded",
        "{}",
        again.text()
    );
    let ups = fake
        .calls()
        .iter()
        .filter(|c| c.contains(" up") && c.contains("b"))
        .count();
    assert!(ups >= 2, "{:?}", fake.calls());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_sent_while_its_worker_restarts_runs_when_it_is_back() {
    let nats = NatsServer::start();
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let mut a = WorkerProcess::start(&fake, dir.path(), &nats.url, "box-a", &[1], "");
    let server = server(&fake, dir.path(), &nats.url, &pids);
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let id = register(&admin, "on-a", 1, &fake.single()).await;

    // Killed, not stopped: its heartbeat is still fresh, so the command is queued for it.
    a.kill();
    let queued = admin
        .post(
            &format!("/api/instances/{id}"),
            &json!({"state": "start", "async": true}),
        )
        .await;
    assert_eq!(queued.status, 202, "{}", queued.text());
    let location = queued.header("location").unwrap().to_owned();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        matches!(
            admin.get(&location).await.json()["status"].as_str(),
            Some("queued" | "running")
        ),
        "waits for the worker"
    );
    a.restart();
    let command = ended(&admin, &location).await;
    assert_eq!(command["status"], "succeeded", "{command}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_and_the_server_sign_in_to_nats_with_an_nkey() {
    let user = nkeys::KeyPair::new_user();
    let nats = NatsServer::with_config(&format!(
        "authorization {{ users = [ {{ nkey: {:?} }} ] }}",
        user.public_key()
    ));
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("jeto.nk");
    std::fs::write(&seed, user.seed().unwrap()).unwrap();
    let signed_in = format!(
        "[nats]\nnkey_seed_file = {:?}\n",
        seed.display().to_string()
    );

    // Without the seed, NATS refuses the worker and it says so.
    let unsigned = dir.path().join("unsigned.toml");
    std::fs::write(
        &unsigned,
        config_toml_with(
            &fake,
            &dir.path().join("unsigned-data"),
            &worker_trust(dir.path(), ""),
        ),
    )
    .unwrap();
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_jeto"))
        .args(["worker", "--nats", &nats.url, "--host", "1", "--config"])
        .arg(&unsigned)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("cannot reach NATS"), "{said}");

    let _worker = WorkerProcess::start(&fake, dir.path(), &nats.url, "box-a", &[1], &signed_in);
    let config = dir.path().join("jeto.toml");
    let server_nats = format!(
        "\n[nats]\nurl = {:?}\nhosts = [1]\nnkey_seed_file = {:?}\n{}",
        nats.url,
        seed.display().to_string(),
        server_trust(dir.path(), &[1])
    );
    std::fs::write(
        &config,
        config_toml_with(&fake, &dir.path().join("data"), &server_nats),
    )
    .unwrap();
    let server = ServerProcess::start(
        env!("CARGO_BIN_EXE_jeto"),
        &["--config", config.to_str().unwrap()],
        &[],
    );
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let id = register(&admin, "signed", 1, &fake.single()).await;
    let started = admin
        .post(&format!("/api/instances/{id}"), &json!({"state": "start"}))
        .await;
    assert_eq!(started.status, 200, "{}", started.text());
    assert_eq!(started.json()["command"]["status"], "succeeded");
    // The seed is never shown: not in the health answer, not in the worker list.
    let seed_text = std::fs::read_to_string(&seed).unwrap();
    for path in ["/api/health", "/api/hosts/1/workers", "/api/hosts/1"] {
        let answer = admin.get(path).await.text();
        assert!(!answer.contains(seed_text.trim()), "{path}: {answer}");
    }
}

/// Issue 24, item 11: with NATS unreachable the server used to exit at start, taking its local
/// hosts and the dashboard with it. Now it starts: the dashboard and local hosts work, the
/// workers' hosts answer 503 naming NATS, and once NATS is up (and a worker with it) the
/// server connects by itself and serves them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_starts_without_nats_and_connects_when_it_comes() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("nats://127.0.0.1:{port}");
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("jeto.toml");
    let extra = format!(
        "\n[nats]\nurl = {url:?}\nhosts = [1]\n{}",
        server_trust(dir.path(), &[1])
    );
    std::fs::write(
        &config,
        config_toml_with(&fake, &dir.path().join("data"), &extra),
    )
    .unwrap();
    let server = ServerProcess::start(
        env!("CARGO_BIN_EXE_jeto"),
        &["--config", config.to_str().unwrap()],
        &[],
    );
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    assert_eq!(admin.get("/").await.status, 200, "the dashboard");
    assert_eq!(admin.get("/api/health").await.status, 200);
    let local = register(&admin, "local", 2, &fake.another_single("local")).await;
    let read = admin
        .get(&format!("/api/instances/{local}?max_age=0"))
        .await;
    assert_eq!(read.status, 200, "{}", read.text());
    let folder = fake.single().display().to_string();
    let body = json!({"name": "remote", "host": 1, "path": folder});
    let refused = admin.post("/api/instances", &body).await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert!(refused.text().contains("NATS"), "{}", refused.text());

    let nats = NatsServer::on_port(port);
    let _worker = WorkerProcess::start(&fake, dir.path(), &nats.url, "box-a", &[1], "");
    let mut answer = admin.post("/api/instances", &body).await;
    for _ in 0..400 {
        if answer.status == 201 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        answer = admin.post("/api/instances", &body).await;
    }
    assert_eq!(answer.status, 201, "{}", answer.text());
    let id = answer.json()["id"].as_u64().unwrap();
    let started = admin
        .post(&format!("/api/instances/{id}"), &json!({"state": "start"}))
        .await;
    assert_eq!(started.status, 200, "{}", started.text());
    assert_eq!(started.json()["command"]["status"], "succeeded");
}

/// Issue 26: SIGTERM to a worker in the middle of a 5 s script: it says at once that it drains
/// (the server sends it nothing new: an action for its host is refused at once), lets the
/// script finish, and the command succeeds; then it exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_to_a_worker_mid_action_lets_the_action_finish() {
    let nats = NatsServer::start();
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let mut worker = WorkerProcess::start(&fake, dir.path(), &nats.url, "box-a", &[1], "");
    let server = server(&fake, dir.path(), &nats.url, &pids);
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let (_, location) = common::running_five_second_script(&fake, &admin, "five").await;
    let other = register(&admin, "other", 1, &fake.another_single("other")).await;

    worker.signal_stop();
    let mut draining = false;
    for _ in 0..40 {
        let workers = admin.get("/api/hosts/1/workers").await.json();
        if workers[0]["draining"] == true {
            draining = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(draining, "the worker says it drains");
    let asked = std::time::Instant::now();
    let refused = admin
        .post(
            &format!("/api/instances/{other}"),
            &json!({"state": "start"}),
        )
        .await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert!(
        refused.text().contains("no worker is online"),
        "{}",
        refused.text()
    );
    assert!(asked.elapsed() < Duration::from_secs(2));
    let command = ended(&admin, &location).await;
    assert_eq!(command["status"], "succeeded", "{command}");
    assert!(admin
        .get(&format!("{location}/console"))
        .await
        .text()
        .contains("end"));
    assert!(worker.wait(), "the worker exits cleanly after its drain");
}

/// Issue 26, health that tells the truth: readiness shows a worker's host ok, then down within
/// 5 s of NATS stopping; an action on that host is then refused within 2 s, and a local host
/// still serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_shows_nats_down_and_actions_on_its_hosts_fail_fast() {
    let mut nats = NatsServer::start();
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let _worker = WorkerProcess::start(&fake, dir.path(), &nats.url, "box-a", &[1, 3], "");
    let server = server(&fake, dir.path(), &nats.url, &pids);
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let remote = register(&admin, "remote", 1, &fake.single()).await;
    let local = register(&admin, "local", 2, &fake.another_single("local")).await;
    let host = |ready: &serde_json::Value, id: u64| {
        ready["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["id"] == id)
            .cloned()
            .unwrap()
    };
    let mut ready = admin.get("/api/ready").await.json();
    for _ in 0..100 {
        if host(&ready, 1)["status"] == "ok" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        ready = admin.get("/api/ready").await.json();
    }
    assert_eq!(host(&ready, 1)["status"], "ok", "{ready}");
    assert_eq!(host(&ready, 2)["status"], "ok", "{ready}");
    // Without a key: the status alone, no hosts.
    let anonymous = TestClient::new(server.address, None)
        .get("/api/ready")
        .await;
    assert_eq!(anonymous.status, 200);
    assert!(
        anonymous.json().get("hosts").is_none(),
        "{}",
        anonymous.text()
    );

    nats.kill();
    let stopped = std::time::Instant::now();
    loop {
        let answer = admin.get("/api/ready").await;
        let ready = answer.json();
        if host(&ready, 1)["status"] == "down" {
            assert_eq!(answer.status, 200, "degraded, still taking work");
            assert_eq!(ready["status"], "degraded");
            assert!(
                host(&ready, 1)["detail"].as_str().unwrap().contains("NATS"),
                "{ready}"
            );
            assert_eq!(host(&ready, 2)["status"], "ok");
            break;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(5),
            "readiness still says {ready}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let asked = std::time::Instant::now();
    let refused = admin
        .post(
            &format!("/api/instances/{remote}"),
            &json!({"state": "start"}),
        )
        .await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );
    // Host 2 runs on the server's box (its `up` hangs: a fresh status read shows it serves).
    let served = admin
        .get(&format!("/api/instances/{local}?max_age=0"))
        .await;
    assert_eq!(served.status, 200, "{}", served.text());
}

/// Issue 26: TLS to NATS. A nats-server that requires TLS with a certificate of a test CA: a
/// worker without the CA cannot connect and says so; the worker and the server with
/// `tls_ca_file` run an action over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_and_the_server_reach_nats_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let ca = common::tls::TestCa::new(dir.path());
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).unwrap();
    let nats = NatsServer::with_config(&format!(
        "tls {{ cert_file: {:?}, key_file: {:?}, timeout: 5 }}",
        ca.cert_file, ca.key_file
    ));
    let fake = FakeVagrant::new();
    let tls = format!(
        "[nats]\ntls_ca_file = {:?}\n",
        ca_file.display().to_string()
    );

    // Without the CA the handshake fails, and the worker says it cannot reach NATS.
    let untrusting = dir.path().join("untrusting.toml");
    std::fs::write(
        &untrusting,
        config_toml_with(
            &fake,
            &dir.path().join("untrusting-data"),
            &worker_trust(dir.path(), ""),
        ),
    )
    .unwrap();
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_jeto"))
        .args(["worker", "--nats", &nats.url, "--host", "1", "--config"])
        .arg(&untrusting)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("cannot reach NATS"));

    let _worker = WorkerProcess::start(&fake, dir.path(), &nats.url, "box-a", &[1], &tls);
    let config = dir.path().join("jeto.toml");
    let server_nats = format!(
        "\n[nats]\nurl = {:?}\nhosts = [1]\ntls_ca_file = {:?}\n{}",
        nats.url,
        ca_file.display().to_string(),
        server_trust(dir.path(), &[1])
    );
    std::fs::write(
        &config,
        config_toml_with(&fake, &dir.path().join("data"), &server_nats),
    )
    .unwrap();
    let server = ServerProcess::start(
        env!("CARGO_BIN_EXE_jeto"),
        &["--config", config.to_str().unwrap()],
        &[],
    );
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let id = register(&admin, "over-tls", 1, &fake.single()).await;
    let started = admin
        .post(&format!("/api/instances/{id}"), &json!({"state": "start"}))
        .await;
    assert_eq!(started.status, 200, "{}", started.text());
    assert_eq!(started.json()["command"]["status"], "succeeded");
}
