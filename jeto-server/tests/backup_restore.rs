//! Issue 26, backup and restore with the real binary: `jeto backup` while a command runs,
//! `jeto restore` into another data folder, and a server on it (another port) serving every
//! instance, command and console, and starting a managed instance's machine again.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{register, start_server_top, ADMIN_KEY};
use jeto_http::testing::TestClient;
use jeto_vagrant::fixture::FakeVagrant;
use serde_json::json;

fn jeto(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_jeto"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "jeto {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_a_command_runs_restores_into_another_folder() {
    let fake = FakeVagrant::new();
    let first = tempfile::tempdir().unwrap();
    let repo = first.path().join("repo");
    fake.git_repository(&repo, &fake.single());
    let project = format!(
        "[[projects]]\nid = 1\nname = \"site\"\ngit_url = {:?}\nreferences = [\"main\"]\ndefault_reference = \"main\"\n",
        repo.display().to_string()
    );
    let server = start_server_top(&fake, first.path(), "", &project);
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    // A managed instance (cloned by the server into its data folder), started then halted.
    let managed = admin
        .post(
            "/api/instances",
            &json!({"name": "site", "host": 1, "project": 1}),
        )
        .await;
    assert_eq!(managed.status, 201, "{}", managed.text());
    let managed = managed.json();
    let managed_id = managed["id"].as_u64().unwrap();
    let old_path = managed["path"].as_str().unwrap().to_owned();
    assert!(
        old_path.starts_with(&first.path().join("data").display().to_string()),
        "{old_path}"
    );
    for state in ["start", "stop"] {
        let done = admin
            .post(
                &format!("/api/instances/{managed_id}"),
                &json!({"state": state}),
            )
            .await;
        assert_eq!(done.status, 200, "{state}: {}", done.text());
    }
    // A command running during the backup.
    let folder = common::five_second_script_folder(&fake, "busy");
    let busy = register(&admin, "busy", 1, &folder).await;
    assert_eq!(
        admin
            .post(
                &format!("/api/instances/{busy}"),
                &json!({"state": "start"})
            )
            .await
            .status,
        200
    );
    let run = admin
        .post(
            &format!("/api/instances/{busy}"),
            &json!({"state": "runScript", "script": "five", "machine": "default", "async": true}),
        )
        .await;
    let location = run.header("location").unwrap().to_owned();
    for _ in 0..200 {
        if admin
            .get(&format!("{location}/console"))
            .await
            .text()
            .contains("begin")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Running output reaches the database every second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let backup = first.path().join("backup.tar.gz");
    let config = first.path().join("jeto.toml");
    let said = jeto(&[
        "backup",
        "--config",
        config.to_str().unwrap(),
        "--to",
        backup.to_str().unwrap(),
    ]);
    assert!(said.contains("backed up"), "{said}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        admin.get(&location).await.json()["status"],
        "running",
        "taken while it ran"
    );
    // A second backup to the same file is refused (nothing overwritten).
    let again = Command::new(env!("CARGO_BIN_EXE_jeto"))
        .args([
            "backup",
            "--config",
            config.to_str().unwrap(),
            "--to",
            backup.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!again.status.success());

    // Restored elsewhere, served by another server on another port.
    let second = tempfile::tempdir().unwrap();
    let restored_data = second.path().join("data");
    let said = jeto(&[
        "restore",
        "--from",
        backup.to_str().unwrap(),
        "--data-dir",
        restored_data.to_str().unwrap(),
    ]);
    assert!(said.contains("1 managed instance(s) moved along"), "{said}");
    // Restoring over a folder in use is refused.
    let over = Command::new(env!("CARGO_BIN_EXE_jeto"))
        .args([
            "restore",
            "--from",
            backup.to_str().unwrap(),
            "--data-dir",
            restored_data.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!over.status.success());
    assert!(String::from_utf8_lossy(&over.stderr).contains("not empty"));
    let restored = start_server_top(&fake, second.path(), "", &project);
    assert_ne!(restored.address, server.address);
    let admin = TestClient::new(restored.address, Some(ADMIN_KEY));
    let instances = admin.get("/api/instances").await.json();
    let names: Vec<&str> = instances
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"site") && names.contains(&"busy"),
        "{instances}"
    );
    let command = admin.get(&location).await.json();
    assert_eq!(
        command["status"], "interrupted",
        "running at the backup: {command}"
    );
    let console = admin.get(&format!("{location}/console")).await.text();
    assert!(console.contains("begin"), "{console}");
    let history = admin
        .get(&format!("/api/instances/{managed_id}/commands"))
        .await
        .json();
    assert!(history.to_string().contains("\"stop\""), "{history}");
    // The managed instance lives in the new folder, and its machine starts again.
    let site = admin
        .get(&format!("/api/instances/{managed_id}"))
        .await
        .json();
    let new_path = site["path"].as_str().unwrap();
    assert!(
        new_path.starts_with(&restored_data.canonicalize().unwrap().display().to_string()),
        "{new_path}"
    );
    assert!(std::path::Path::new(new_path).join("Vagrantfile").exists());
    let started = admin
        .post(
            &format!("/api/instances/{managed_id}"),
            &json!({"state": "start"}),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.text());
    assert_eq!(started.json()["instance"]["status"][0]["status"], "running");
    drop(server);
}
