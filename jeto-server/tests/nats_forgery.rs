//! Issue 24, items 1-4: a NATS client that is not the server (no Jeto key, or a key nobody
//! trusts) tries to make a real `jeto worker` run its code, to forge the end and the answers of
//! real commands, to keep a host online with fake presence, and to read host params. Each
//! forgery is sent as the old unsigned messages were and signed by a stranger's key. Run with
//! an open NATS server and with the least-privilege permissions of docs/deployment.md, the
//! forger then holding a worker box's NATS credentials.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::workers::{server_trust, WorkerProcess};
use common::{config_toml_with, ended, register, ADMIN_KEY};
use futures_util::StreamExt;
use jeto_core::{Action, ActionRequest, JetoInfos, Outcome};
use jeto_http::testing::{ServerProcess, TestClient};
use jeto_nats::testing::{seal, NatsServer};
use jeto_nats::SigningKey;
use jeto_vagrant::fixture::FakeVagrant;
use serde_json::json;

/// NATS users of the documented permissions (docs/deployment.md), as nats-server config.
const PERMISSIONS: &str = r#"
authorization {
  users = [
    { user: "jeto-server", password: "server-pass", permissions: {
        publish: { allow: ["jeto.host.*.call", "jeto.host.*.command", "jeto.run.*.cancel",
                           "$JS.API.>", "$KV.jeto_results.>", "_INBOX.>"] },
        subscribe: { allow: ["_INBOX.>", "jeto.run.*.out"] } } },
    { user: "jeto-worker", password: "worker-pass", permissions: {
        publish: { allow: ["jeto.run.*.out", "$JS.API.>", "$JS.ACK.>", "$KV.jeto_workers.>",
                           "$KV.jeto_results.>", "_INBOX.>"] },
        subscribe: { allow: ["jeto.host.*.call", "jeto.run.*.cancel", "_INBOX.>"] } } }
  ]
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgeries_change_nothing_on_an_open_nats_server() {
    let nats = NatsServer::start();
    forgeries_change_nothing(&nats, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgeries_change_nothing_with_the_documented_nats_permissions() {
    let nats = NatsServer::with_config(PERMISSIONS);
    forgeries_change_nothing(&nats, Some(("jeto-worker", "worker-pass"))).await;
}

/// The real binary with `hosts` served by workers over `nats`, trusting the test's worker key,
/// signing in to NATS with `login` (`[nats]` lines, or none).
fn server_over(
    fake: &FakeVagrant,
    dir: &Path,
    nats: &NatsServer,
    hosts: &[u64],
    login: &str,
) -> ServerProcess {
    let config = dir.join("jeto.toml");
    let nats_table = format!(
        "\n[nats]\nurl = {:?}\nhosts = {hosts:?}\n{login}{}",
        nats.url,
        server_trust(dir, hosts)
    );
    std::fs::write(
        &config,
        config_toml_with(fake, &dir.join("data"), &nats_table),
    )
    .unwrap();
    ServerProcess::start(
        env!("CARGO_BIN_EXE_jeto"),
        &["--config", config.to_str().unwrap()],
        &[],
    )
}

/// A file whose appearance means a forger's code ran.
fn marker(dir: &Path, name: &str) -> std::path::PathBuf {
    dir.join(format!("pwned-{name}"))
}

async fn forgeries_change_nothing(nats: &NatsServer, forger_login: Option<(&str, &str)>) {
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let login = |user: &str, password: &str| {
        forger_login
            .map(|_| format!("user = {user:?}\npassword = {password:?}\n"))
            .unwrap_or_default()
    };
    let _worker = WorkerProcess::start(
        &fake,
        dir.path(),
        &nats.url,
        "box-a",
        &[1],
        &format!("[nats]\n{}", login("jeto-worker", "worker-pass")),
    );
    let server = server_over(
        &fake,
        dir.path(),
        nats,
        &[1, 2],
        &login("jeto-server", "server-pass"),
    );
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let forger = match forger_login {
        None => async_nats::connect(&nats.url).await.unwrap(),
        Some((user, password)) => {
            async_nats::ConnectOptions::with_user_and_password(user.into(), password.into())
                .connect(&nats.url)
                .await
                .unwrap()
        }
    };
    let stranger = SigningKey::generate();
    // Everything the forger may read, for the secrets check at the end.
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let readable: &[&str] = match forger_login {
        None => &[">"],
        Some(_) => &["jeto.host.*.call", "jeto.run.*.cancel", "_INBOX.>"],
    };
    let mut subscriptions = Vec::new();
    for subject in readable {
        subscriptions.push(forger.subscribe(subject.to_string()).await.unwrap());
    }
    let mut spy = futures_util::stream::select_all(subscriptions);
    let spying = tokio::spawn({
        let seen = seen.clone();
        async move {
            while let Some(message) = spy.next().await {
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&message.payload).into_owned());
            }
        }
    });

    // 1. A folder of the forger's, inside the worker's roots, whose Vagrantfile writes a file
    // when vagrant reads it, and a script of its own.
    let evil = fake.another_single("evil");
    std::fs::write(
        evil.join("Vagrantfile"),
        format!(
            "File.write({:?}, 'vagrantfile')\nVagrant.configure('2') {{ |c| c.vm.box = 'x' }}\n",
            marker(dir.path(), "vagrantfile")
        ),
    )
    .unwrap();
    let mut instance = jeto_core::testing::instance_at(900, evil.to_str().unwrap());
    instance.host = jeto_vagrant::fixture::FakeVagrant::host(&[]);
    instance.host.id = 1;
    instance.spec.jeto_infos = JetoInfos::parse(
        format!(
            r#"{{"scripts": {{"pwn": {{"command": "touch {}"}}}}}}"#,
            marker(dir.path(), "script").display()
        )
        .as_bytes(),
        &evil.join("jeto.json"),
    )
    .unwrap();
    let calls = [
        json!({"call": "prepare", "host": instance.host, "source": {"path": evil}, "target": evil}),
        json!({"call": "status", "instance": instance}),
    ];
    for (n, call) in calls.iter().enumerate() {
        for (how, payload) in [
            ("unsigned", serde_json::to_vec(call).unwrap().into()),
            (
                "a stranger's",
                seal(&stranger, "jeto.host.1.call", &format!("forged-{n}"), call),
            ),
        ] {
            let answer = tokio::time::timeout(
                Duration::from_secs(3),
                forger.request("jeto.host.1.call", payload),
            )
            .await;
            assert!(
                !matches!(answer, Ok(Ok(_))),
                "a worker answered an {how} call: {answer:?}"
            );
        }
    }
    let run_script = |run: &str| {
        json!({
            "run": run, "instance": instance,
            "request": ActionRequest::new(Action::RunScript).script("pwn"),
            "workers": [stranger.public_key()],
        })
    };
    let jetstream = async_nats::jetstream::new(forger.clone());
    for payload in [
        serde_json::to_vec(&run_script("forged-unsigned"))
            .unwrap()
            .into(),
        seal(
            &stranger,
            "jeto.host.1.command",
            "forged-stranger",
            &run_script("forged-stranger"),
        ),
    ] {
        // Refused by NATS itself under the documented permissions; by the worker otherwise.
        if let Ok(ack) = jetstream.publish("jeto.host.1.command", payload).await {
            let _ = ack.await;
        }
    }

    // 2. A real script, whose end and output the forger makes up as soon as it sees its run.
    let real = fake.another_single("real");
    std::fs::write(
        real.join("jeto.json"),
        r#"{"scripts": {"slow": {"command": "echo real-start; sleep 3; echo real-end"}}}"#,
    )
    .unwrap();
    let id = register(&admin, "real", 1, &real).await;
    let started = admin
        .post(&format!("/api/instances/{id}"), &json!({"state": "start"}))
        .await;
    assert_eq!(started.status, 200, "{}", started.text());
    // The forger learns the run from the results bucket (any worker box can read it).
    let results = jetstream.get_key_value("jeto_results").await.unwrap();
    let mut records = results.watch_all().await.unwrap();
    let script = admin
        .post(
            &format!("/api/instances/{id}"),
            &json!({"state": "runScript", "machine": "default", "script": "slow", "async": true}),
        )
        .await;
    assert_eq!(script.status, 202, "{}", script.text());
    let location = script.header("location").unwrap().to_owned();
    let first = tokio::time::timeout(Duration::from_secs(20), records.next())
        .await
        .expect("the run's record is visible")
        .unwrap()
        .unwrap();
    let run = first.key.clone();
    let out = format!("jeto.run.{run}.out");
    let fake_end = Outcome::success();
    let line = json!({"line": "forged-output"});
    let done = json!({"done": {"Ok": fake_end}});
    for n in 0..3u64 {
        let _ = forger
            .publish(out.clone(), serde_json::to_vec(&line).unwrap().into())
            .await;
        let _ = forger
            .publish(
                out.clone(),
                seal(&stranger, &out, &(n + 1).to_string(), &line),
            )
            .await;
        let _ = forger
            .publish(out.clone(), serde_json::to_vec(&done).unwrap().into())
            .await;
        let _ = forger
            .publish(
                out.clone(),
                seal(&stranger, &out, &(1_000_000 + n).to_string(), &done),
            )
            .await;
        let record = json!({"done": {"Ok": fake_end}});
        let _ = results
            .put(&run, serde_json::to_vec(&record).unwrap().into())
            .await;
        let _ = results
            .put(
                &run,
                seal(&stranger, &format!("jeto_results.{run}"), &run, &record),
            )
            .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = forger.flush().await;
    let meanwhile = admin.get(&location).await.json();
    assert_eq!(
        meanwhile["status"], "running",
        "a forged end ended a running script: {meanwhile}"
    );
    let ended = ended(&admin, &location).await;
    assert_eq!(ended["status"], "succeeded", "{ended}");
    let console = ended["console"].as_str().unwrap_or_default();
    assert!(console.contains("real-end"), "{ended}");
    assert!(!console.contains("forged-output"), "{ended}");

    // A faster forged answer to a status read does not become the machine's state.
    let mut reads = forger.subscribe("jeto.host.1.call").await.unwrap();
    let answering = tokio::spawn({
        let forger = forger.clone();
        let stranger = stranger.clone();
        async move {
            let status = json!({"Ok": [{"name": "default", "status": "forged", "provider": "x"}]});
            while let Some(message) = reads.next().await {
                if let Some(reply) = message.reply {
                    let _ = forger
                        .publish(reply.clone(), serde_json::to_vec(&status).unwrap().into())
                        .await;
                    let _ = forger
                        .publish(reply.clone(), seal(&stranger, &reply, "any", &status))
                        .await;
                }
            }
        }
    });
    let fresh = admin
        .get(&format!("/api/instances/{id}?max_age=0"))
        .await
        .json();
    assert_eq!(fresh["status"][0]["status"], "running", "{fresh}");
    answering.abort();

    // 4. Presence a stranger writes keeps no host online.
    if let Ok(presence) = jetstream.get_key_value("jeto_workers").await {
        let beat = json!({"name": "ghost", "hosts": [1, 2], "running": 0});
        let _ = presence
            .put("ghost", serde_json::to_vec(&beat).unwrap().into())
            .await;
        let _ = presence
            .put("ghost", seal(&stranger, "jeto_workers.ghost", "1", &beat))
            .await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for host in [1, 2] {
        let workers = admin
            .get(&format!("/api/hosts/{host}/workers"))
            .await
            .json();
        assert!(
            !workers.to_string().contains("ghost"),
            "host {host}: {workers}"
        );
    }

    // Nothing of the forger's ran, and no host param travelled.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for name in ["vagrantfile", "script"] {
        assert!(
            !marker(dir.path(), name).exists(),
            "the forger's {name} ran on the worker"
        );
    }
    spying.abort();
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty(), "the spy saw the traffic");
    for payload in seen.iter() {
        assert!(
            !payload.contains("secret-value"),
            "a host param went over NATS: {payload}"
        );
    }
}

/// Issue 24, item 3, against the binary: a forger that sees an action waiting in the queue
/// (its run is in the message) writes `withdrawn` for it, unsigned and signed by a stranger.
/// The first code left the command running forever; the next ended it failed. Now the forged
/// record counts as none: the worker claims the run over it and the command succeeds. (On an
/// open NATS server: with the documented permissions a worker's credentials cannot read the
/// command subject.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_withdrawal_of_a_queued_action_changes_nothing() {
    let nats = NatsServer::start();
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    // One action at a time: the second waits in the stream.
    let _worker = WorkerProcess::start(
        &fake,
        dir.path(),
        &nats.url,
        "box-a",
        &[1],
        "[nats]\nworker_max_actions = 1\n",
    );
    let server = server_over(&fake, dir.path(), &nats, &[1], "");
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let slow = fake.another_single("slow");
    std::fs::write(
        slow.join("jeto.json"),
        r#"{"scripts": {"wait": {"command": "sleep 4"}}}"#,
    )
    .unwrap();
    let first = register(&admin, "slow", 1, &slow).await;
    let second = register(&admin, "queued", 1, &fake.another_single("queued")).await;
    let started = admin
        .post(
            &format!("/api/instances/{first}"),
            &json!({"state": "start"}),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.text());

    let forger = async_nats::connect(&nats.url).await.unwrap();
    let mut queued = forger.subscribe("jeto.host.1.command").await.unwrap();
    let busy = admin
        .post(
            &format!("/api/instances/{first}"),
            &json!({"state": "runScript", "machine": "default", "script": "wait", "async": true}),
        )
        .await;
    assert_eq!(busy.status, 202, "{}", busy.text());
    queued.next().await.unwrap();
    let waiting = admin
        .post(
            &format!("/api/instances/{second}"),
            &json!({"state": "start", "async": true}),
        )
        .await;
    assert_eq!(waiting.status, 202, "{}", waiting.text());
    let message = tokio::time::timeout(Duration::from_secs(10), queued.next())
        .await
        .expect("the second action is queued")
        .unwrap();
    let run = jeto_nats::testing::payload_of(&message.payload)["run"]
        .as_str()
        .unwrap()
        .to_owned();
    let results = async_nats::jetstream::new(forger.clone())
        .get_key_value("jeto_results")
        .await
        .unwrap();
    let stranger = SigningKey::generate();
    let _ = results
        .create(&run, bytes::Bytes::from_static(b"\"withdrawn\""))
        .await;
    let _ = results
        .put(
            &run,
            seal(
                &stranger,
                &format!("jeto_results.{run}"),
                &run,
                &json!("withdrawn"),
            ),
        )
        .await;

    let location = waiting.header("location").unwrap().to_owned();
    let end = ended(&admin, &location).await;
    assert_eq!(end["status"], "succeeded", "{end}");
    let busy_end = ended(&admin, busy.header("location").unwrap()).await;
    assert_eq!(busy_end["status"], "succeeded", "{busy_end}");
}
