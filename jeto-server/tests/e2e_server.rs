//! End to end: the real `jeto` binary on 127.0.0.1:0, the real vagrant with the `jeto_fake`
//! plugin, and a real HTTP client, through every route.

mod common;

use std::time::Duration;

use common::{start_server, ADMIN_KEY, CI_KEY, OTHER_KEY};
use http_body_util::BodyExt;
use insta::assert_json_snapshot;
use jeto_http::testing::{ServerProcess, TestClient};
use jeto_vagrant::fixture::FakeVagrant;
use serde_json::{json, Value};

/// Follows a command's console until it ends, then returns the finished command.
async fn finish(client: &TestClient, location: &str) -> Value {
    let (status, mut body) = client
        .get_stream(&format!("{location}/console?follow=true"))
        .await;
    assert_eq!(status, 200);
    while let Some(frame) = body.frame().await {
        frame.expect("a console chunk");
    }
    let command = client.get(location).await.json();
    assert_ne!(
        command["status"], "running",
        "the stream ended before the command: {command}"
    );
    command
}

fn redacted_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    for selector in [
        ".**.id",
        ".**.instance_id",
        ".**.deleted",
        ".**.created_at",
        ".**.started_at",
        ".**.finished_at",
        ".**.status_checked_at",
        ".**.path",
    ] {
        settings.add_redaction(selector, "[redacted]");
    }
    settings
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_over_a_real_socket() {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let mut server = start_server(&fake, data.path());
    assert_eq!(
        server.generated_key, None,
        "tokens are configured: no key is generated"
    );
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let ci = admin.with_key(Some(CI_KEY));
    let settings = redacted_settings();
    let _guard = settings.bind_to_scope();

    // Health and OpenAPI need no key.
    let anonymous = admin.with_key(None);
    let health = anonymous.get("/api/health").await;
    assert_eq!(health.status, 200);
    assert_json_snapshot!("health", health.json());
    let openapi = anonymous.get("/api/openapi.json").await.json();
    assert!(openapi["paths"]["/api/instances/{id}"]["post"].is_object());

    // Hosts.
    let hosts = admin.get("/api/hosts").await;
    assert_eq!(hosts.status, 200);
    assert_json_snapshot!("hosts_admin", hosts.json());
    assert_json_snapshot!("hosts_ci_redacted", ci.get("/api/hosts").await.json());
    assert_eq!(
        ci.get("/api/hosts/2").await.status,
        404,
        "an ungranted host is not visible"
    );
    let created = admin
        .post(
            "/api/hosts",
            &json!({"name": "lab", "provider": "libvirt", "params": "A=1\r\nB=\"x=y\""}),
        )
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(
        created.header("location"),
        Some(format!("/api/hosts/{}", created.json()["id"]).as_str())
    );
    assert_json_snapshot!("host_created", created.json());
    assert_eq!(
        admin.get(created.header("location").unwrap()).await.json()["params"]["B"],
        "x=y"
    );
    let forbidden = ci
        .post(
            "/api/hosts",
            &json!({"name": "x", "provider": "virtualbox"}),
        )
        .await;
    assert_eq!(forbidden.status, 403);
    assert_json_snapshot!("error_forbidden", forbidden.json());

    // Create from a path, then list and get.
    let multi = fake.multi().display().to_string();
    let created = admin
        .post(
            "/api/instances",
            &json!({"name": "web", "host": 1, "environment": "staging", "path": multi}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let location = created.header("location").unwrap().to_owned();
    let id = created.json()["id"].as_u64().unwrap();
    assert_eq!(location, format!("/api/instances/{id}"));
    assert_json_snapshot!("instance_created", created.json());
    let listed = ci.get("/api/instances").await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json().as_array().unwrap().len(), 1);
    assert_eq!(
        admin
            .with_key(Some(OTHER_KEY))
            .get("/api/instances")
            .await
            .json(),
        json!([])
    );
    assert_eq!(
        admin.with_key(Some(OTHER_KEY)).get(&location).await.status,
        404
    );
    let fresh = admin.get(&format!("{location}?max_age=0")).await;
    assert_eq!(fresh.status, 200);
    assert_json_snapshot!("instance_fresh_status", fresh.json());

    // Each state, sync: 200 with {command, instance}.
    let started = admin
        .post(&location, &json!({"state": "start", "machine": "www"}))
        .await;
    assert_eq!(started.status, 200, "{}", started.text());
    let started = started.json();
    assert_eq!(started["command"]["status"], "succeeded");
    assert_eq!(started["instance"]["status"][0]["status"], "running");
    assert_eq!(started["instance"]["status"][0]["ip"], "192.0.2.10");
    assert_json_snapshot!("state_sync", started);
    for state in ["status", "reload", "provision"] {
        let done = ci
            .post(&location, &json!({"state": state, "machine": "www"}))
            .await;
        let expected = if state == "status" { 200 } else { 403 };
        assert_eq!(done.status, expected, "ci {state}: {}", done.text());
        let done = admin
            .post(&location, &json!({"state": state, "machine": "www"}))
            .await;
        assert_eq!(done.status, 200, "{state}: {}", done.text());
        assert_eq!(done.json()["command"]["action"], state);
    }
    let script = ci
        .post(
            &location,
            &json!({"state": "runScript", "machine": "www", "script": "hello"}),
        )
        .await;
    assert_eq!(script.status, 200);
    assert!(script.json()["command"]["console"]
        .as_str()
        .unwrap()
        .contains("hello-from-jeto"));
    let failed = admin
        .post(
            &location,
            &json!({"state": "runScript", "machine": "www", "script": "fail"}),
        )
        .await;
    assert_eq!(failed.status, 502);
    assert_eq!(failed.json()["command"]["exit_code"], 3);
    assert_json_snapshot!("state_failed", failed.json());

    // The seed's two examples, verbatim, async.
    let rsync = admin
        .post_raw(
            &location,
            r#"{"state":"rsync","machine":"www", "async":true}"#,
        )
        .await;
    assert_eq!(rsync.status, 202, "{}", rsync.text());
    // Answered once the command is recorded; by then the worker may have started it.
    let mut answer = rsync.json();
    let status = answer["command"]["status"].take();
    assert!(status == "queued" || status == "running", "{status}");
    answer["command"]["status"] = "queued".into();
    assert_json_snapshot!("state_async", answer);
    let rsync = finish(&admin, rsync.header("location").unwrap()).await;
    assert_eq!(rsync["status"], "succeeded", "{rsync}");
    let seed = admin
        .post_raw(
            &location,
            r#"{"state":"runScript","machine":"www","script":"status","async":true}"#,
        )
        .await;
    assert_eq!(seed.status, 202);
    let seed = finish(&admin, seed.header("location").unwrap()).await;
    assert_eq!(seed["status"], "succeeded");
    assert_eq!(seed["console"], "status-ok\n");

    // Each state, async, through both routes.
    for state in ["stop", "start", "reload", "provision", "status"] {
        let queued = admin
            .post(&location, &json!({"state": state, "async": true}))
            .await;
        assert_eq!(queued.status, 202, "{state}: {}", queued.text());
        let done = finish(&admin, queued.header("location").unwrap()).await;
        assert_eq!(done["status"], "succeeded", "{state}: {done}");
    }
    let queued = ci
        .post(
            &format!("{location}/commands"),
            &json!({"action": "stop", "machine": "db"}),
        )
        .await;
    assert_eq!(queued.status, 202);
    let stop_location = queued.header("location").unwrap().to_owned();
    let done = finish(&ci, &stop_location).await;
    assert_eq!(done["status"], "succeeded");
    assert_json_snapshot!("command", done);

    // Command history, one command, its console.
    let commands = admin.get(&format!("{location}/commands")).await.json();
    let ids: Vec<u64> = commands
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    assert_eq!(ids[0], done["id"].as_u64().unwrap());
    let console = admin.get(&format!("{stop_location}/console")).await;
    assert_eq!(console.status, 200);
    assert_eq!(
        console.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert!(
        console.text().contains("==> db: Machine halted."),
        "{}",
        console.text()
    );

    // Cancel: on host 2 `up` hangs; a stop queued behind it is cancelled before it runs.
    let single = fake.single().display().to_string();
    let hanging = admin
        .post(
            "/api/instances",
            &json!({"name": "hang", "host": 2, "path": single}),
        )
        .await;
    assert_eq!(hanging.status, 201);
    let hanging = hanging.header("location").unwrap().to_owned();
    let running = admin
        .post(&hanging, &json!({"state": "start", "async": true}))
        .await;
    let running = running.header("location").unwrap().to_owned();
    let queued = admin
        .post(&format!("{hanging}/commands"), &json!({"action": "stop"}))
        .await;
    let queued = queued.header("location").unwrap().to_owned();
    let (status, mut stream) = admin
        .get_stream(&format!("{running}/console?follow=true"))
        .await;
    assert_eq!(status, 200);
    let first = stream.frame().await.unwrap().unwrap().into_data().unwrap();
    assert!(
        String::from_utf8_lossy(&first).contains("Bringing machine"),
        "{first:?}"
    );
    let cancelled = admin.delete(&queued).await;
    assert_eq!(cancelled.status, 200);
    assert_eq!(cancelled.json()["status"], "cancelled");
    assert_eq!(
        cancelled.json()["started_at"],
        Value::Null,
        "a cancelled queued command never started"
    );
    let cancelled = admin.delete(&running).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text());
    assert_eq!(cancelled.json()["status"], "cancelled");
    while let Some(frame) = stream.frame().await {
        frame.unwrap();
    }
    assert_eq!(
        admin.delete(&running).await.status,
        409,
        "cancelling an ended command"
    );

    // Delete: destroy then forget; the registered folder stays.
    let deleted = admin.delete(&location).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    assert_json_snapshot!("instance_deleted", deleted.json());
    assert_eq!(admin.get(&location).await.status, 404);
    assert!(fake.multi().join("Vagrantfile").exists());

    // A graceful stop exits cleanly.
    assert!(server.terminate(), "jeto did not exit cleanly on SIGTERM");
    let _ = Duration::ZERO;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_without_config_generates_a_key_and_keeps_only_its_hash() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("d");
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.to_str().unwrap(),
    ];
    let server = ServerProcess::start(env!("CARGO_BIN_EXE_jeto"), &args, &[]);
    let key = server
        .generated_key
        .clone()
        .expect("a generated key is printed");
    // Not on a terminal (a pipe, as under systemd), the key is not printed but written to a
    // file readable by the server's user only.
    assert!(
        server
            .banner
            .iter()
            .any(|l| l.contains("curl -H \"X-JETO-KEY: $(cat ")),
        "{:?}",
        server.banner
    );
    assert!(
        server.banner.iter().all(|l| !l.contains(&key)),
        "{:?}",
        server.banner
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("admin_key.txt"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let stored = std::fs::read_to_string(dir.join("admin_key.sha256")).unwrap();
    assert_eq!(stored, jeto_core::access::hash_key(&key));
    assert!(!stored.contains(&key));
    let client = TestClient::new(server.address, Some(&key));
    assert_eq!(client.get("/api/instances").await.status, 200);
    let bearer = client.with_key(None);
    let response = bearer
        .send(
            http::Method::GET,
            "/api/hosts",
            &[("authorization", &format!("Bearer {key}"))],
            bytes::Bytes::new(),
        )
        .await;
    assert_eq!(response.status, 200);
    drop(server);
    // A restart keeps the key and prints nothing new.
    let server = ServerProcess::start(env!("CARGO_BIN_EXE_jeto"), &args, &[]);
    assert_eq!(server.generated_key, None);
    assert_eq!(
        TestClient::new(server.address, Some(&key))
            .get("/api/instances")
            .await
            .status,
        200
    );
}

#[test]
fn an_unknown_config_key_is_named() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("bad.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\nlisen = 1\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_jeto"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown field `lisen`") && stderr.contains("bad.toml"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_git_creation_answers_202_with_a_command_to_follow() {
    let fake = FakeVagrant::new();
    let repo = fake.root().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::copy(fake.single().join("Vagrantfile"), repo.join("Vagrantfile")).unwrap();
    // The Vagrantfile loads the plugin from ../plugin, as in the fixture.
    let vagrantfile = std::fs::read_to_string(repo.join("Vagrantfile")).unwrap();
    let plugin = fake.root().join("plugin/jeto_fake").display().to_string();
    std::fs::write(
        repo.join("Vagrantfile"),
        vagrantfile.replace(
            "require_relative \"../plugin/jeto_fake\"",
            &format!("require {plugin:?}"),
        ),
    )
    .unwrap();
    for args in [
        &["init", "-q"][..],
        &["add", "."],
        &["commit", "-qm", "one"],
    ] {
        jeto_vagrant::fixture::git(&repo, args);
    }
    let data = tempfile::tempdir().unwrap();
    let server = start_server(&fake, data.path());
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let url = format!("file://{}", repo.display());
    let accepted = admin
        .post("/api/instances", &json!({"name": "cloned", "host": 1, "git_url": url, "gitReference": "main", "async": true}))
        .await;
    assert_eq!(accepted.status, 202, "{}", accepted.text());
    let body = accepted.json();
    assert_eq!(body["command"]["action"], "sync");
    let command = finish(&admin, accepted.header("location").unwrap()).await;
    assert_eq!(command["status"], "succeeded", "{command}");
    let id = body["instance"]["id"].as_u64().unwrap();
    let instance = admin.get(&format!("/api/instances/{id}?max_age=0")).await;
    assert_eq!(instance.status, 200);
    assert_eq!(instance.json()["status"][0]["status"], "not_created");
    let folder = std::path::PathBuf::from(instance.json()["path"].as_str().unwrap());
    assert!(
        folder.starts_with(data.path().join("data/instances")),
        "{}",
        folder.display()
    );
    assert_eq!(
        admin.delete(&format!("/api/instances/{id}")).await.status,
        200
    );
    assert!(!folder.exists(), "the clone is removed with the instance");
}
