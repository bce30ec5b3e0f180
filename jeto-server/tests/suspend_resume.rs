//! `suspend` and `resume` through the real binary and the real vagrant CLI (test plugin): the
//! machine's state, refusals for bad input and missing grants. The docker tier checks that a
//! provider without suspend answers a typed `not_supported`.

mod common;

use common::{machine_states, register, start_server_with, ADMIN_KEY, CI_KEY};
use jeto_http::testing::TestClient;
use jeto_vagrant::fixture::FakeVagrant;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_and_resume_change_the_machines_state() {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let server = start_server_with(&fake, data.path(), "");
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let id = register(&admin, "pair", 1, &fake.multi()).await;
    let path = format!("/api/instances/{id}");

    let started = admin.post(&path, &json!({"state": "start"})).await;
    assert_eq!(started.status, 200, "{}", started.text());
    let suspended = admin
        .post(&path, &json!({"state": "suspend", "machine": "db"}))
        .await;
    assert_eq!(suspended.status, 200, "{}", suspended.text());
    let answer = suspended.json();
    assert_eq!(answer["command"]["action"], "suspend");
    assert_eq!(machine_states(&answer), ["running", "saved"]);
    assert!(answer["command"]["console"]
        .as_str()
        .unwrap()
        .contains("Machine suspended."));
    let resumed = admin.post(&path, &json!({"state": "resume"})).await;
    assert_eq!(resumed.status, 200, "{}", resumed.text());
    assert_eq!(machine_states(&resumed.json()), ["running", "running"]);
    // Vagrant's own view agrees.
    let out = fake.run_vagrant(&fake.multi(), &["status", "--machine-readable"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches(",state,running").count(), 2, "{text}");

    // As a queued command too, with its history.
    let queued = admin
        .post(
            &format!("{path}/commands"),
            &json!({"action": "suspend", "machine": "www"}),
        )
        .await;
    assert_eq!(queued.status, 202, "{}", queued.text());

    // Bad input and keys without the grant.
    let bad = admin
        .post(&path, &json!({"state": "suspend", "machine": "../www"}))
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert!(bad.text().contains("machine"), "{}", bad.text());
    let unknown = admin.post(&path, &json!({"state": "hibernate"})).await;
    assert_eq!(unknown.status, 400);
    assert!(
        unknown.text().contains("suspend, resume"),
        "{}",
        unknown.text()
    );
    let ci = TestClient::new(server.address, Some(CI_KEY));
    for state in ["suspend", "resume"] {
        let refused = ci.post(&path, &json!({"state": state})).await;
        assert_eq!(refused.status, 403, "{state}: {}", refused.text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn action_options_reach_vagrant_as_flags_and_are_checked() {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let server = start_server_with(&fake, data.path(), "");
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let id = register(&admin, "single", 1, &fake.single()).await;
    let path = format!("/api/instances/{id}");
    for (body, flags) in [
        (
            json!({"state": "start", "provision": false}),
            "up --no-provision",
        ),
        (
            json!({"state": "reload", "provision_with": ["shell", "file"]}),
            "reload --provision-with shell,file",
        ),
        (
            json!({"state": "provision", "provision_with": ["shell"]}),
            "provision --provision-with shell",
        ),
        (
            json!({"state": "stop", "machine": "default", "force": true}),
            "halt default --force",
        ),
    ] {
        let before = fake.calls().len();
        let answer = admin.post(&path, &body).await;
        assert_eq!(answer.status, 200, "{body}: {}", answer.text());
        // The action's own call comes first (a status read may follow).
        let call = fake.calls().get(before).cloned().unwrap_or_default();
        assert_eq!(call, format!("--machine-readable {flags}"), "{body}");
    }
    // A provisioner Vagrant does not know: its refusal, typed as the request's fault.
    let unknown = admin
        .post(
            &path,
            &json!({"state": "reload", "provision_with": ["setup.1"]}),
        )
        .await;
    assert_eq!(unknown.status, 400, "{}", unknown.text());
    assert!(unknown
        .text()
        .contains("'setup.1' is not a known provisioner"));
    assert_eq!(
        unknown.json()["command"]["error"]["kind"],
        "invalid_request"
    );
    // Options only where they mean something, names checked, contradictions refused.
    for (body, field) in [
        (json!({"state": "start", "force": true}), "force"),
        (json!({"state": "stop", "provision": true}), "provision"),
        (
            json!({"state": "status", "provision_with": ["shell"]}),
            "provision_with",
        ),
        (
            json!({"state": "start", "provision_with": ["a,b"]}),
            "provision_with",
        ),
        (
            json!({"state": "start", "provision_with": ["--x"]}),
            "provision_with",
        ),
        (
            json!({"state": "start", "provision": false, "provision_with": ["shell"]}),
            "contradict",
        ),
        (
            json!({"state": "stop", "force": "yes"}),
            "expected a boolean",
        ),
    ] {
        let calls = fake.calls().len();
        let refused = admin.post(&path, &body).await;
        assert_eq!(refused.status, 400, "{body}: {}", refused.text());
        assert!(refused.text().contains(field), "{body}: {}", refused.text());
        assert_eq!(fake.calls().len(), calls, "{body} started vagrant");
    }
}
