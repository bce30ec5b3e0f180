//! Crash recovery and races, against the real binary and the real vagrant CLI: SIGKILL of the
//! server during a slow `up` and during an async archive creation, a command submitted while
//! `DELETE` destroys, commands queued on an instance whose creation fails, and `DELETE` of an
//! instance whose folder is gone or whose destroy fails.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{gone, register, start_server_with, wait_for, ADMIN_KEY};
use jeto_http::testing::{ServerProcess, TestClient};
use jeto_vagrant::fixture::FakeVagrant;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// Polls an async condition every 50 ms for up to 10 s.
async fn wait_for_async<F: std::future::Future<Output = bool>>(mut check: impl FnMut() -> F) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting");
}

fn restart(data: &Path) -> ServerProcess {
    ServerProcess::start(
        env!("CARGO_BIN_EXE_jeto"),
        &["--config", data.join("jeto.toml").to_str().unwrap()],
        &[],
    )
}

/// An HTTP server whose one file answers 200 with `head` bytes of its body, then waits for
/// `release` and answers nothing more (the connection is dropped): a download that stalls.
async fn stalling_server(head: usize, release: watch::Receiver<bool>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut release = release.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request).await;
                let mut answer = b"HTTP/1.0 200 OK\r\n\r\n".to_vec();
                answer.extend(std::iter::repeat_n(b'x', head));
                let _ = stream.write_all(&answer).await;
                let _ = release.wait_for(|released| *released).await;
            });
        }
    });
    format!("http://{address}/box.tar.gz")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_slow_up_leaves_no_process_and_the_next_start_succeeds() {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let pids = data.path().join("pids");
    let extra = format!(
        "[[hosts]]\nid = 3\nname = \"hang-once\"\nprovider = \"jeto_fake\"\nparams = {{ JETO_FAKE_UP = \"hang_once\", JETO_FAKE_PIDFILE = {:?} }}\n",
        pids.display().to_string()
    );
    let mut server = start_server_with(&fake, data.path(), &extra);
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    register(&admin, "slow", 3, &fake.single()).await;
    let queued = admin
        .post(
            "/api/instances/1",
            &json!({"state": "start", "async": true}),
        )
        .await;
    assert_eq!(queued.status, 202, "{}", queued.text());
    wait_for("the hanging up to write its pids", || pids.exists()).await;
    let running: Vec<i32> = std::fs::read_to_string(&pids)
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(running.iter().all(|pid| !gone(*pid)));

    server.kill();
    // The crash itself leaves them running: vagrant is in its own process group.
    assert!(
        running.iter().all(|pid| !gone(*pid)),
        "killed with the server"
    );

    let server = restart(data.path());
    for pid in &running {
        assert!(
            gone(*pid),
            "process {pid} of the interrupted up outlived the restart"
        );
    }
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let location = queued.header("location").unwrap().to_owned();
    assert_eq!(admin.get(&location).await.json()["status"], "interrupted");
    let started = admin
        .post("/api/instances/1", &json!({"state": "start"}))
        .await;
    assert_eq!(started.status, 200, "{}", started.text());
    assert_eq!(started.json()["command"]["status"], "succeeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_an_async_archive_creation_leaves_no_instance_and_no_temporary_file() {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let (release, released) = watch::channel(false);
    let url = stalling_server(256 * 1024, released).await;
    let mut server = start_server_with(&fake, data.path(), "");
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let created = admin
        .post(
            "/api/instances",
            &json!({"name": "boxed", "host": 1, "archive_url": url, "async": true}),
        )
        .await;
    assert_eq!(created.status, 202, "{}", created.text());
    let id = created.json()["instance"]["id"].as_u64().unwrap();
    let instances = data.path().join("data/instances");
    let downloading = || {
        std::fs::read_dir(&instances)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .any(|e| e.file_name().to_string_lossy().ends_with(".download"))
            })
            .unwrap_or(false)
    };
    wait_for("the download to start", downloading).await;

    server.kill();
    let server = restart(data.path());
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let answer = admin.get(&format!("/api/instances/{id}")).await;
    assert_eq!(answer.status, 404, "{}", answer.text());
    let listed = admin.get("/api/instances").await.json();
    assert_eq!(listed, json!([]), "no instance without a folder");
    let left: Vec<_> = std::fs::read_dir(&instances)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name())
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
    // And the processes dir holds no record of a live group.
    let records = std::fs::read_dir(data.path().join("data/processes"))
        .unwrap()
        .count();
    assert_eq!(records, 0);
    release.send_replace(true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_submitted_while_delete_destroys_is_refused() {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let extra = "[[hosts]]\nid = 4\nname = \"slow\"\nprovider = \"jeto_fake\"\nparams = { JETO_FAKE_UP = \"slow\" }\n";
    let server = start_server_with(&fake, data.path(), extra);
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    register(&admin, "race", 4, &fake.single()).await;
    // A slow start runs; DELETE queues its destroy behind it.
    let start = admin
        .post(
            "/api/instances/1",
            &json!({"state": "start", "async": true}),
        )
        .await;
    assert_eq!(start.status, 202);
    let deleting = {
        let admin = admin.clone();
        tokio::spawn(async move { admin.delete("/api/instances/1").await })
    };
    // Once DELETE has queued its destroy behind the slow start, the instance is closed.
    wait_for_async(|| {
        let admin = admin.clone();
        async move {
            let commands = admin.get("/api/instances/1/commands").await.json();
            commands[0]["action"] == "destroy"
        }
    })
    .await;
    let late = admin
        .post("/api/instances/1/commands", &json!({"action": "start"}))
        .await;
    assert_eq!(late.status, 409, "{}", late.text());
    assert!(late.text().contains("being deleted"), "{}", late.text());
    let again = admin.delete("/api/instances/1").await;
    assert_eq!(again.status, 409, "{}", again.text());
    let deleted = deleting.await.unwrap();
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    // The machine is destroyed and nothing ran after the destroy.
    let destroyed = fake.run_vagrant(&fake.single(), &["status", "--machine-readable"]);
    assert!(String::from_utf8_lossy(&destroyed.stdout).contains(",state,not_created"));
    let calls = fake.calls();
    // The slow start ran first, once; the late one never.
    assert_eq!(
        calls.iter().filter(|c| c.contains(" up")).count(),
        1,
        "{calls:?}"
    );
    let last = calls.iter().rposition(|c| c.contains("destroy")).unwrap();
    assert!(
        !calls[last..].iter().any(|c| c.contains(" up")),
        "ran after the destroy: {calls:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_queued_on_an_instance_whose_creation_fails_end_cancelled_and_wake_their_callers()
{
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let (release, released) = watch::channel(false);
    // 1 KiB of "x" is no archive: the creation fails once the download ends.
    let url = stalling_server(1024, released).await;
    let server = start_server_with(&fake, data.path(), "");
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let created = admin
        .post(
            "/api/instances",
            &json!({"name": "doomed", "host": 1, "archive_url": url, "async": true}),
        )
        .await;
    assert_eq!(created.status, 202, "{}", created.text());
    let id = created.json()["instance"]["id"].as_u64().unwrap();
    // A synchronous caller waits behind the creation.
    let waiting = {
        let admin = admin.clone();
        tokio::spawn(async move {
            admin
                .post(&format!("/api/instances/{id}"), &json!({"state": "start"}))
                .await
        })
    };
    // The start waits behind the creation's sync before the download is let go.
    wait_for_async(|| {
        let admin = admin.clone();
        async move {
            let commands = admin
                .get(&format!("/api/instances/{id}/commands"))
                .await
                .json();
            commands[0]["action"] == "start"
        }
    })
    .await;
    release.send_replace(true);
    let answer = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .expect("the waiting caller is answered once the instance is gone")
        .unwrap();
    assert_eq!(answer.status, 409, "{}", answer.text());
    let message = answer.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        // Cancelled by the failed creation or by the removal that follows it: either way the
        // start never ran.
        message.contains("cancelled")
            && (message.contains("creation failed") || message.contains("deleted")),
        "{message}"
    );
    // The cancelled caller may be answered just before the removal is recorded.
    let gone = async {
        while admin.get(&format!("/api/instances/{id}")).await.status != 404 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), gone)
        .await
        .expect("the instance whose creation failed is removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_of_a_folder_removed_by_hand_succeeds_and_force_forgets_a_failing_destroy() {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let server = start_server_with(&fake, data.path(), "");
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));

    let gone_folder = fake.another_single("removed");
    let id = register(&admin, "removed", 1, &gone_folder).await;
    std::fs::remove_dir_all(&gone_folder).unwrap();
    let deleted = admin.delete(&format!("/api/instances/{id}")).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    assert!(deleted.json()["command"]["console"]
        .as_str()
        .unwrap()
        .contains("no longer exists"));
    assert_eq!(admin.get(&format!("/api/instances/{id}")).await.status, 404);

    // A Vagrantfile that breaks after registration: destroy fails.
    let broken = fake.another_single("broken");
    let id = register(&admin, "broken", 1, &broken).await;
    std::fs::write(broken.join("Vagrantfile"), "this is not ruby (\n").unwrap();
    let failed = admin.delete(&format!("/api/instances/{id}")).await;
    assert_eq!(failed.status, 502, "{}", failed.text());
    // Still there, and still usable.
    assert_eq!(admin.get(&format!("/api/instances/{id}")).await.status, 200);
    let forced = admin
        .delete(&format!("/api/instances/{id}?force=true"))
        .await;
    assert_eq!(forced.status, 200, "{}", forced.text());
    assert_eq!(forced.json()["forced"], json!(true));
    assert_eq!(forced.json()["command"]["status"], "failed");
    assert_eq!(admin.get(&format!("/api/instances/{id}")).await.status, 404);
    // The folder can be registered again.
    std::fs::write(
        broken.join("Vagrantfile"),
        std::fs::read_to_string(fake.single().join("Vagrantfile")).unwrap(),
    )
    .unwrap();
    let again = admin
        .post(
            "/api/instances",
            &json!({"name": "broken", "host": 1, "path": broken.display().to_string()}),
        )
        .await;
    assert_eq!(again.status, 201, "{}", again.text());
    // A key without the destroy grant cannot force.
    let ci = TestClient::new(server.address, Some(common::CI_KEY));
    let id = again.json()["id"].as_u64().unwrap();
    let refused = ci.delete(&format!("/api/instances/{id}?force=true")).await;
    assert_eq!(refused.status, 403, "{}", refused.text());
}
