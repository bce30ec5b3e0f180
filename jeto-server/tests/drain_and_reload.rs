//! Issue 26, operating the server without losing work, against the real binary: SIGTERM
//! drains (running commands finish within `drain_secs`, new ones are refused with 503 and
//! `Retry-After`, those still running at its end are interrupted).

mod common;

use std::time::Duration;

use common::{ended, start_server_top, wait_for, ADMIN_KEY};
use jeto_http::testing::{ServerProcess, TestClient};
use jeto_vagrant::fixture::FakeVagrant;
use serde_json::json;

fn sigterm(server: &ServerProcess) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_running_script_finish_and_refuses_new_commands_meanwhile() {
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_server_top(&fake, dir.path(), "drain_secs = 20", "");
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let (id, location) = common::running_five_second_script(&fake, &admin, "five").await;
    sigterm(&server);
    // Draining: reads are served, new commands refused with a reason and when to retry.
    let mut refused = None;
    for _ in 0..100 {
        let answer = admin
            .post(
                &format!("/api/instances/{id}"),
                &json!({"state": "stop", "async": true}),
            )
            .await;
        if answer.status == 503 {
            refused = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused = refused.expect("a command sent during the drain is refused");
    assert_eq!(refused.json()["error"]["code"], "shutting_down");
    assert!(refused.header("retry-after").is_some());
    assert_eq!(admin.get(&location).await.json()["status"], "running");
    assert!(
        server.terminate(),
        "the server stopped cleanly after the drain"
    );

    // Restarted on the same data: the script ran to its end.
    let server = start_server_top(&fake, dir.path(), "drain_secs = 20", "");
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let command = ended(&admin, &location).await;
    assert_eq!(command["status"], "succeeded", "{command}");
    let console = admin.get(&format!("{location}/console")).await.text();
    assert!(console.contains("end"), "{console}");
    // No stop ran: those refused never existed, one accepted just before the signal was
    // ended `interrupted` by the drain without running.
    let history = admin
        .get(&format!("/api/instances/{id}/commands"))
        .await
        .json();
    for command in history.as_array().unwrap() {
        if command["action"] == "stop" {
            assert_eq!(command["status"], "interrupted", "{history}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_longer_than_the_drain_is_interrupted() {
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_server_top(&fake, dir.path(), "drain_secs = 1", "");
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let (_, location) = common::running_five_second_script(&fake, &admin, "five").await;
    let pid = server.pid() as i32;
    sigterm(&server);
    wait_for("the server to stop", || common::gone(pid)).await;
    assert!(server.terminate());
    let server = start_server_top(&fake, dir.path(), "", "");
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let command = ended(&admin, &location).await;
    assert_eq!(command["status"], "interrupted", "{command}");
}

fn sighup(server: &ServerProcess) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_changes_keys_at_once_and_a_broken_file_changes_nothing() {
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server_top(&fake, dir.path(), "", "");
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let ci = TestClient::new(server.address, Some(common::CI_KEY));
    let newcomer = TestClient::new(server.address, Some("a-key-added-by-a-reload"));
    assert_eq!(ci.get("/api/me").await.status, 200);
    assert_eq!(newcomer.get("/api/me").await.status, 401);
    let (_, location) = common::running_five_second_script(&fake, &admin, "five").await;

    // The ci token goes, a new one comes, and a limit changes (which needs a restart).
    let file = dir.path().join("jeto.toml");
    let original = std::fs::read_to_string(&file).unwrap();
    let ci_token = format!(
        "[[tokens]]\nname = \"ci\"\nkey_sha256 = \"{}\"",
        jeto_core::access::hash_key(common::CI_KEY)
    );
    assert!(original.contains(&ci_token), "{original}");
    let changed = format!(
        "history_limit = 50\n{}\n[[tokens]]\nname = \"newcomer\"\nkey_sha256 = \"{}\"\nhosts = [1]\n",
        original.replace(&ci_token, "[[tokens]]\nname = \"was-ci\"\nkey_sha256 = \"0000000000000000000000000000000000000000000000000000000000000000\""),
        jeto_core::access::hash_key("a-key-added-by-a-reload"),
    );
    std::fs::write(&file, &changed).unwrap();
    sighup(&server);
    let mut reloaded = false;
    for _ in 0..100 {
        if newcomer.get("/api/me").await.status == 200 {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reloaded, "the new key works after SIGHUP");
    assert_eq!(
        ci.get("/api/me").await.status,
        401,
        "the removed key is refused"
    );
    // The same through the API: nothing changed since, so nothing applied.
    let report = admin.post("/api/reload", &json!({})).await;
    assert_eq!(report.status, 200, "{}", report.text());
    assert_eq!(report.json(), json!({"applied": [], "needs_restart": []}));

    // A broken file: the running configuration stays, and the answer says why.
    std::fs::write(&file, format!("{changed}\nhistory_limit = \"many\"\n")).unwrap();
    sighup(&server);
    let refused = admin.post("/api/reload", &json!({})).await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert!(
        refused.text().contains("the running one stays"),
        "{}",
        refused.text()
    );
    assert_eq!(newcomer.get("/api/me").await.status, 200);
    assert_eq!(admin.get("/api/me").await.status, 200);
    // A tenant cannot reload, nor learn that it could.
    assert_eq!(newcomer.post("/api/reload", &json!({})).await.status, 404);

    // The script ran on through both reloads.
    let command = ended(&admin, &location).await;
    assert_eq!(command["status"], "succeeded", "{command}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_names_what_needs_a_restart() {
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server_top(&fake, dir.path(), "", "");
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let file = dir.path().join("jeto.toml");
    let original = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        format!("history_limit = 7\n{original}\n[[hosts]]\nid = 9\nname = \"added\"\nprovider = \"jeto_fake\"\n"),
    )
    .unwrap();
    let report = admin.post("/api/reload", &json!({})).await;
    assert_eq!(report.status, 200, "{}", report.text());
    assert_eq!(
        report.json(),
        json!({"applied": ["hosts"], "needs_restart": ["history_limit"]})
    );
    assert_eq!(admin.get("/api/hosts/9").await.json()["name"], "added");
}

/// Under systemd (`Type=notify`, `packaging/systemd/jeto.service`): READY=1 once serving,
/// RELOADING=1 then READY=1 at SIGHUP, STOPPING=1 at SIGTERM, on the socket systemd names.
#[test]
fn systemd_is_told_ready_reloading_and_stopping() {
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let config = dir.path().join("jeto.toml");
    std::fs::write(
        &config,
        common::config_toml_with(&fake, &dir.path().join("data"), ""),
    )
    .unwrap();
    let mut server = ServerProcess::start(
        env!("CARGO_BIN_EXE_jeto"),
        &["--config", config.to_str().unwrap()],
        &[("NOTIFY_SOCKET", socket_path.to_str().unwrap())],
    );
    let next = || {
        let mut buffer = [0u8; 4096];
        let n = socket
            .recv(&mut buffer)
            .expect("a notification within 20 s");
        String::from_utf8_lossy(&buffer[..n]).into_owned()
    };
    let ready = next();
    assert!(ready.contains("READY=1"), "{ready}");
    assert!(
        ready.contains(&format!("STATUS=serving on http://{}", server.address)),
        "{ready}"
    );
    sighup(&server);
    let reloading = next();
    assert!(
        reloading.contains("RELOADING=1") && reloading.contains("MONOTONIC_USEC="),
        "{reloading}"
    );
    assert!(next().contains("READY=1"));
    sigterm(&server);
    assert!(next().contains("STOPPING=1"));
    assert!(server.terminate());
}
