//! Clients of the original Jeto keep working: the request bodies its UI sends, replayed against
//! the real binary over TCP, each succeed, and what Jeto refuses stays refused.

mod common;

use common::{start_server_with, ADMIN_KEY};
use jeto_http::testing::TestClient;
use jeto_vagrant::fixture::FakeVagrant;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_uis_requests_succeed() {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    // A project over a local repository holding the fixture's multi-machine Vagrantfile.
    let repo = data.path().join("repo");
    fake.git_repository(&repo, &fake.multi());
    let extra = format!(
        "[[projects]]\nid = 1\nname = \"web\"\ngit_url = {:?}\nreferences = [\"main\"]\ndefault_reference = \"main\"\n",
        repo.display().to_string()
    );
    let server = start_server_with(&fake, data.path(), &extra);
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));

    // Create, as the UI's form posts it: `state: create`, the host as a string, empty strings
    // for the sources it does not use.
    let created = admin
        .post(
            "/api/instances",
            &json!({"name": "ui", "host": "1", "environment": "", "state": "create",
                "path": fake.multi().display().to_string(),
                "git_url": "", "git_reference": "", "archive_url": ""}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json()["id"].as_u64().unwrap();
    // And from a project, the reference left empty (the project's default).
    let from_project = admin
        .post(
            "/api/instances",
            &json!({"name": "ui-project", "host": "1", "state": "create", "project": 1,
                "path": "", "git_url": "", "git_reference": "", "archive_url": ""}),
        )
        .await;
    assert_eq!(from_project.status, 201, "{}", from_project.text());
    assert_eq!(from_project.json()["git_reference"], "main");

    // The instance-wide buttons send `machine: ""`: every machine.
    for state in ["start", "provision", "stop"] {
        let answer = admin
            .post(
                &format!("/api/instances/{id}"),
                &json!({"state": state, "machine": "", "async": false}),
            )
            .await;
        assert_eq!(answer.status, 200, "{state}: {}", answer.text());
        assert_eq!(answer.json()["command"]["machine"], json!(null), "{state}");
    }
    let view = admin.get(&format!("/api/instances/{id}")).await.json();
    let states: Vec<&str> = view["status"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["poweroff", "poweroff"],
        "both machines went through"
    );

    // `async` on the commands route, and the original's singular route.
    let queued = admin
        .post(
            &format!("/api/instances/{id}/commands"),
            &json!({"action": "status", "machine": "", "async": true}),
        )
        .await;
    assert_eq!(queued.status, 202, "{}", queued.text());
    let cid = queued.json()["command"]["id"].as_u64().unwrap();
    let listed = admin.get(&format!("/api/instances/{id}/command")).await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    assert!(listed
        .json()
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == cid));
    let one = admin
        .get(&format!("/api/instances/{id}/command/{cid}"))
        .await;
    assert_eq!(one.status, 200, "{}", one.text());
    assert_eq!(one.json()["id"], cid);

    // Compatibility does not weaken validation.
    for (body, field) in [
        (
            json!({"name": "x", "host": "one", "path": "/tmp"}),
            "host id",
        ),
        (
            json!({"name": "x", "host": 1, "path": "/tmp", "state": "start"}),
            "state",
        ),
        (
            json!({"name": "x", "host": "-1", "path": "/tmp"}),
            "host id",
        ),
    ] {
        let refused = admin.post("/api/instances", &body).await;
        assert_eq!(refused.status, 400, "{body}: {}", refused.text());
        assert!(refused.text().contains(field), "{}", refused.text());
    }
    let bad_machine = admin
        .post(
            &format!("/api/instances/{id}"),
            &json!({"state": "start", "machine": "../etc"}),
        )
        .await;
    assert_eq!(bad_machine.status, 400, "{}", bad_machine.text());
}
