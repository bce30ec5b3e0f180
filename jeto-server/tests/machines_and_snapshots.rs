//! Snapshots, `validate` and machine details through the real binary and the real vagrant CLI
//! (test plugin): success, Vagrant's refusals typed as the request's fault, bad input and keys
//! without the grant. The docker tier (`docker_provider.rs`) checks a provider without
//! snapshots.

mod common;

use common::{machine_states, register, start_server_with, ADMIN_KEY, CI_KEY, OTHER_KEY};
use jeto_core::access::hash_key;
use jeto_http::testing::TestClient;
use jeto_vagrant::fixture::FakeVagrant;
use serde_json::{json, Value};

const BLIND_KEY: &str = "blind-key-for-tests";

fn blind_token() -> String {
    format!(
        "[[tokens]]\nname = \"blind\"\nkey_sha256 = \"{}\"\nhosts = [1]\nactions = [\"start\"]\n",
        hash_key(BLIND_KEY)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_are_saved_listed_restored_and_deleted() {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let server = start_server_with(&fake, data.path(), &blind_token());
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let id = register(&admin, "pair", 1, &fake.multi()).await;
    let path = format!("/api/instances/{id}");
    let snapshots = format!("{path}/snapshots");

    let none = admin.get(&snapshots).await;
    assert_eq!(none.status, 200, "{}", none.text());
    assert_eq!(
        none.json(),
        json!([{"machine": "www", "snapshots": []}, {"machine": "db", "snapshots": []}])
    );
    let started = admin
        .post(&path, &json!({"state": "start", "machine": "www"}))
        .await;
    assert_eq!(started.status, 200, "{}", started.text());
    let saved = admin
        .post(
            &path,
            &json!({"state": "snapshot_save", "machine": "www", "snapshot": "before-upgrade"}),
        )
        .await;
    assert_eq!(saved.status, 200, "{}", saved.text());
    assert!(saved.json()["command"]["console"]
        .as_str()
        .unwrap()
        .contains("Snapshot saved: before-upgrade"));
    assert_eq!(
        admin.get(&snapshots).await.json(),
        json!([{"machine": "www", "snapshots": ["before-upgrade"]}, {"machine": "db", "snapshots": []}])
    );
    let stopped = admin
        .post(&path, &json!({"state": "stop", "machine": "www"}))
        .await;
    assert_eq!(machine_states(&stopped.json()), ["poweroff", "not_created"]);
    let restored = admin
        .post(
            &path,
            &json!({"state": "snapshot_restore", "machine": "www", "snapshot": "before-upgrade"}),
        )
        .await;
    assert_eq!(restored.status, 200, "{}", restored.text());
    assert_eq!(
        machine_states(&restored.json()),
        ["running", "not_created"],
        "the saved state is back"
    );

    // Vagrant's refusals: the request is at fault, typed, never a 5xx.
    let duplicate = admin
        .post(
            &path,
            &json!({"state": "snapshot_save", "machine": "www", "snapshot": "before-upgrade"}),
        )
        .await;
    assert_eq!(duplicate.status, 400, "{}", duplicate.text());
    assert_eq!(
        duplicate.json()["command"]["error"]["class"],
        "Vagrant::Errors::SnapshotConflictFailed"
    );
    let missing = admin
        .post(
            &path,
            &json!({"state": "snapshot_restore", "machine": "www", "snapshot": "nope"}),
        )
        .await;
    assert_eq!(missing.status, 400, "{}", missing.text());
    assert!(
        missing.text().contains("`nope` was not found"),
        "{}",
        missing.text()
    );

    // The queued form, then delete.
    let queued = admin
        .post(
            &format!("{path}/commands"),
            &json!({"action": "snapshot_delete", "machine": "www", "snapshot": "before-upgrade"}),
        )
        .await;
    assert_eq!(queued.status, 202, "{}", queued.text());
    let done = admin.post(&path, &json!({"state": "status"})).await;
    assert_eq!(done.status, 200, "queued after the delete: {}", done.text());
    assert_eq!(
        admin.get(&snapshots).await.json()[0]["snapshots"],
        json!([])
    );

    // Bad input: refused before vagrant runs, naming the field.
    for (body, field) in [
        (
            json!({"state": "snapshot_save", "machine": "www"}),
            "snapshot",
        ),
        (
            json!({"state": "snapshot_save", "snapshot": "-f"}),
            "snapshot",
        ),
        (
            json!({"state": "snapshot_save", "snapshot": "a b"}),
            "snapshot",
        ),
        (
            json!({"state": "snapshot_save", "snapshot": "x".repeat(129)}),
            "snapshot",
        ),
        (json!({"state": "start", "snapshot": "s1"}), "snapshot"),
        (
            json!({"state": "snapshot_delete", "snapshot": 7}),
            "snapshot",
        ),
    ] {
        let calls = fake.calls().len();
        let refused = admin.post(&path, &body).await;
        assert_eq!(refused.status, 400, "{body}: {}", refused.text());
        assert!(refused.text().contains(field), "{body}: {}", refused.text());
        assert_eq!(fake.calls().len(), calls, "{body} started vagrant");
    }
    // Keys without the grant.
    let ci = TestClient::new(server.address, Some(CI_KEY));
    for action in ["snapshot_save", "snapshot_restore", "snapshot_delete"] {
        let refused = ci
            .post(&path, &json!({"state": action, "snapshot": "s"}))
            .await;
        assert_eq!(refused.status, 403, "{action}: {}", refused.text());
    }
    assert_eq!(
        ci.get(&snapshots).await.status,
        200,
        "status grant reads the list"
    );
    let blind = TestClient::new(server.address, Some(BLIND_KEY));
    assert_eq!(blind.get(&snapshots).await.status, 403);
    let other = TestClient::new(server.address, Some(OTHER_KEY));
    assert_eq!(
        other.get(&snapshots).await.status,
        404,
        "not visible: not found"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_reports_the_vagrantfiles_errors_in_the_console() {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let server = start_server_with(&fake, data.path(), "");
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let good = register(&admin, "good", 1, &fake.single()).await;
    let valid = admin
        .post(
            &format!("/api/instances/{good}"),
            &json!({"state": "validate"}),
        )
        .await;
    assert_eq!(valid.status, 200, "{}", valid.text());
    assert!(valid.json()["command"]["console"]
        .as_str()
        .unwrap()
        .contains("validated successfully"));

    let broken = fake.root().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(
        broken.join("Vagrantfile"),
        "require_relative \"../plugin/jeto_fake\"\nVagrant.configure(\"2\") do |config|\n  config.vm.hostname = \"bad_host!\"\nend\n",
    )
    .unwrap();
    let bad = register(&admin, "broken", 1, &broken).await;
    let invalid = admin
        .post(
            &format!("/api/instances/{bad}"),
            &json!({"state": "validate"}),
        )
        .await;
    assert_eq!(
        invalid.status,
        400,
        "the Vagrantfile is at fault: {}",
        invalid.text()
    );
    let answer = invalid.json();
    assert_eq!(
        answer["command"]["error"]["class"],
        "Vagrant::Errors::ConfigInvalid"
    );
    assert!(
        answer["command"]["console"]
            .as_str()
            .unwrap()
            .contains("hostname"),
        "{answer}"
    );

    let machine = admin
        .post(
            &format!("/api/instances/{good}"),
            &json!({"state": "validate", "machine": "default"}),
        )
        .await;
    assert_eq!(machine.status, 400);
    assert!(machine.text().contains("machine"), "{}", machine.text());
    let ci = TestClient::new(server.address, Some(CI_KEY));
    let refused = ci
        .post(
            &format!("/api/instances/{good}"),
            &json!({"state": "validate"}),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machine_details_give_ssh_and_ports_and_hide_the_key_from_tenants() {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let server = start_server_with(&fake, data.path(), &blind_token());
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let id = register(&admin, "pair", 1, &fake.multi()).await;
    let started = admin
        .post(
            &format!("/api/instances/{id}"),
            &json!({"state": "start", "machine": "www"}),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.text());

    let www = admin
        .get(&format!("/api/instances/{id}/machines/www"))
        .await;
    assert_eq!(www.status, 200, "{}", www.text());
    let www = www.json();
    assert_eq!(www["state"], "running");
    assert_eq!(www["provider"], "jeto_fake");
    assert_eq!(www["ip"], "192.0.2.10");
    assert_eq!(www["ssh"]["host"], "192.0.2.10");
    assert_eq!(www["ssh"]["port"], 22);
    assert_eq!(www["ssh"]["user"], "vagrant");
    assert!(
        www["ssh"]["private_key_path"]
            .as_str()
            .unwrap()
            .ends_with("private_key"),
        "{www}"
    );
    let ports = www["forwarded_ports"].as_array().unwrap();
    assert!(ports.contains(&json!({"guest": 80, "host": 8080})), "{www}");

    let ci = TestClient::new(server.address, Some(CI_KEY));
    let seen = ci.get(&format!("/api/instances/{id}/machines/www")).await;
    assert_eq!(seen.status, 200, "{}", seen.text());
    assert_eq!(seen.json()["ssh"]["host"], "192.0.2.10");
    assert!(
        !seen.text().contains("private_key"),
        "a tenant sees no key path: {}",
        seen.text()
    );

    let db = admin
        .get(&format!("/api/instances/{id}/machines/db"))
        .await
        .json();
    assert_eq!(
        (db["state"].clone(), db["ip"].clone(), db["ssh"].clone()),
        (json!("not_created"), Value::Null, Value::Null)
    );

    let unknown = admin
        .get(&format!("/api/instances/{id}/machines/nosuch"))
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.text());
    assert_eq!(unknown.json()["error"]["code"], "machine_not_found");
    let bad = admin.get(&format!("/api/instances/{id}/machines/-x")).await;
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert!(bad.text().contains("machine name"), "{}", bad.text());
    let blind = TestClient::new(server.address, Some(BLIND_KEY));
    assert_eq!(
        blind
            .get(&format!("/api/instances/{id}/machines/www"))
            .await
            .status,
        403
    );
    let other = TestClient::new(server.address, Some(OTHER_KEY));
    assert_eq!(
        other
            .get(&format!("/api/instances/{id}/machines/www"))
            .await
            .status,
        404
    );
}
