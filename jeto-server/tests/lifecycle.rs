//! Issue 29, machines that stop on their own, over TCP against the real binary with the
//! fixture plugin and a short clock: an instance expiring while the server is stopped is
//! halted right after start, exactly once, after its warning; an extension beyond the maximum
//! is refused; an idle machine is halted after the idle period, and one kept up is not; the
//! policies cost no vagrant process of their own.

mod common;

use std::time::{Duration, Instant};

use common::sse::Sse;
use common::{policy_commands, register, start_server_top, wait_for, ADMIN_KEY, CI_KEY};
use jeto_http::testing::{ServerProcess, TestClient};
use jeto_vagrant::fixture::FakeVagrant;
use serde_json::{json, Value};

const SHORT_CLOCK: &str =
    "[lifecycle]\ncheck_interval_secs = 1\nexpiry_warning_secs = 2\nmax_expiry_secs = 60\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_expiring_while_the_server_is_down_is_halted_at_start_exactly_once() {
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_server_top(&fake, dir.path(), "", SHORT_CLOCK);
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let id = register(&admin, "web", 1, &fake.another_single("web")).await;
    let started = admin
        .post(&format!("/api/instances/{id}"), &json!({"state": "start"}))
        .await;
    assert_eq!(started.status, 200, "{}", started.text());

    // Beyond the maximum (60 s) for a key that is not admin: refused, nothing changes.
    let tenant = TestClient::new(server.address, Some(CI_KEY));
    let refused = tenant
        .put(
            &format!("/api/instances/{id}/expiry"),
            &json!({"in_secs": 3600}),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert!(
        refused.text().contains("at most 60 s"),
        "{}",
        refused.text()
    );
    let past = admin
        .put(
            &format!("/api/instances/{id}/expiry"),
            &json!({"at": "2001-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(past.status, 400, "{}", past.text());
    let shown = admin.get(&format!("/api/instances/{id}")).await.json();
    assert!(shown.get("expiry").is_none(), "{shown}");

    // Expires in 4 s; the server stops at once and is down when it falls due.
    let set = tenant
        .put(
            &format!("/api/instances/{id}/expiry"),
            &json!({"in_secs": 4}),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text());
    assert_eq!(set.json()["action"], "halt");
    assert!(server.terminate(), "the server stops on SIGTERM");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let before = fake.calls().len();

    let config = dir.path().join("jeto.toml");
    let server = ServerProcess::start(
        env!("CARGO_BIN_EXE_jeto"),
        &["--config", config.to_str().unwrap()],
        &[],
    );
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let base = format!("http://{}", server.address);
    // Halted right after start.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let commands = policy_commands(&admin, id, "policy:expiry").await;
        if commands.iter().any(|c| c["status"] == "succeeded") {
            assert_eq!(commands.len(), 1, "{commands:?}");
            assert_eq!(commands[0]["action"], "stop");
            break;
        }
        assert!(Instant::now() < deadline, "not halted: {commands:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let fresh = admin
        .get(&format!("/api/instances/{id}?max_age=0"))
        .await
        .json();
    assert_eq!(fresh["status"][0]["status"], "poweroff", "{fresh}");
    assert_eq!(fresh["expiry"]["done"], true, "{fresh}");
    // The warning came first.
    let mut stream = Sse::follow(&base, ADMIN_KEY, &format!("?after=0&instance={id}"), None).await;
    let events = stream.drain(Duration::from_secs(2)).await;
    let warned = events
        .iter()
        .position(|(_, kind, _)| kind == "instance_expiring")
        .unwrap_or_else(|| panic!("the warning event in {events:?}"));
    let queued = events
        .iter()
        .position(|(_, kind, data)| {
            kind == "command_queued" && data["requested_by"] == "policy:expiry"
        })
        .expect("the expiry's command");
    assert!(warned < queued, "{events:?}");
    // In the audit log, by the policy.
    let audit = admin.get("/api/audit").await.json();
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["principal"] == "policy:expiry" && e["instance"] == id),
        "{audit}"
    );
    // Exactly once: rounds go on, and a restart does not run it again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(policy_commands(&admin, id, "policy:expiry").await.len(), 1);
    drop(server);
    let server = ServerProcess::start(
        env!("CARGO_BIN_EXE_jeto"),
        &["--config", config.to_str().unwrap()],
        &[],
    );
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(policy_commands(&admin, id, "policy:expiry").await.len(), 1);
    // The policy ran one vagrant process: the halt (the state came with it).
    let halts: Vec<String> = fake.calls()[before..]
        .iter()
        .filter(|c| !c.contains(" status"))
        .cloned()
        .collect();
    assert_eq!(
        halts,
        ["--machine-readable halt".to_owned()],
        "{:?}",
        fake.calls()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_machine_is_halted_and_one_kept_up_is_not() {
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server_top(
        &fake,
        dir.path(),
        "",
        "[lifecycle]\ncheck_interval_secs = 1\nidle_stop_secs = 4\n",
    );
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let idle = register(&admin, "idle", 1, &fake.another_single("idle")).await;
    let kept = register(&admin, "kept", 1, &fake.another_single("kept")).await;
    for id in [idle, kept] {
        let started = admin
            .post(&format!("/api/instances/{id}"), &json!({"state": "start"}))
            .await;
        assert_eq!(started.status, 200, "{}", started.text());
    }
    let before = fake.calls().len();
    let started = Instant::now();
    // `kept` is kept up every second.
    while started.elapsed() < Duration::from_secs(8) {
        let answer = admin
            .post(&format!("/api/instances/{kept}/keep-up"), &json!({}))
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    wait_for("the idle machine halted by the policy", || {
        fake.calls()[before..].iter().any(|c| c.contains("halt"))
    })
    .await;
    let idle_commands = policy_commands(&admin, idle, "policy:idle").await;
    assert_eq!(idle_commands.len(), 1, "{idle_commands:?}");
    assert_eq!(idle_commands[0]["action"], "stop");
    assert!(policy_commands(&admin, kept, "policy:idle")
        .await
        .is_empty());
    let kept_state = admin
        .get(&format!("/api/instances/{kept}?max_age=0"))
        .await
        .json();
    assert_eq!(kept_state["status"][0]["status"], "running", "{kept_state}");
    // No vagrant process but the halt.
    let calls: Vec<String> = fake.calls()[before..]
        .iter()
        .filter(|c| !c.contains(" status"))
        .cloned()
        .collect();
    assert_eq!(calls.len(), 1, "{calls:?}");
}

/// Seconds from now until `instance`'s expiry.
fn expires_in(instance: &Value) -> i64 {
    let at = time::OffsetDateTime::parse(
        instance["expiry"]["at"].as_str().expect("an expiry"),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    (at - time::OffsetDateTime::now_utc()).whole_seconds()
}

/// An instance's expiry, when its creation names none: its project's default, else the
/// shortest of its creator's teams', else the configured one; one named wins over all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_expiries_come_from_the_project_then_the_teams_then_the_configuration() {
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    fake.git_repository(&repo, &fake.single());
    let config = format!(
        "[lifecycle]\ndefault_expiry_secs = 86400\n[[projects]]\nid = 1\nname = \"site\"\n\
         git_url = {:?}\nreferences = [\"main\"]\ndefault_reference = \"main\"\n\
         default_expiry_secs = 600\n",
        repo.display().to_string()
    );
    let server = start_server_top(&fake, dir.path(), "", &config);
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let grants = json!({"hosts": [1], "actions": ["status", "create"], "projects": [1]});
    let ann = admin
        .post("/api/users", &json!({"name": "ann", "grants": grants}))
        .await
        .json();
    let zero = admin
        .post(
            "/api/teams",
            &json!({"name": "short", "members": [ann["id"]], "default_expiry_secs": 0}),
        )
        .await;
    assert_eq!(zero.status, 400, "{}", zero.text());
    assert!(
        zero.text().contains("default_expiry_secs"),
        "{}",
        zero.text()
    );
    for (name, secs) in [("short", 3600), ("long", 7200)] {
        let team = admin
            .post(
                "/api/teams",
                &json!({"name": name, "members": [ann["id"]], "default_expiry_secs": secs}),
            )
            .await;
        assert_eq!(team.status, 201, "{}", team.text());
    }
    let key = admin
        .post("/api/keys", &json!({"name": "k", "user": ann["id"]}))
        .await
        .json()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let as_ann = TestClient::new(server.address, Some(&key));
    let create = |client: &TestClient, body: Value| {
        let client = client.clone();
        async move {
            let made = client.post("/api/instances", &body).await;
            assert_eq!(made.status, 201, "{}", made.text());
            made.json()
        }
    };
    let from_project = create(&as_ann, json!({"name": "p", "host": 1, "project": 1})).await;
    assert!(
        (590..=600).contains(&expires_in(&from_project)),
        "{from_project}"
    );
    let path = |name: &str| fake.another_single(name).display().to_string();
    let by_member = create(&as_ann, json!({"name": "t", "host": 1, "path": path("t")})).await;
    assert!(
        (3590..=3600).contains(&expires_in(&by_member)),
        "{by_member}"
    );
    let by_admin = create(&admin, json!({"name": "c", "host": 1, "path": path("c")})).await;
    assert!(
        (86390..=86400).contains(&expires_in(&by_admin)),
        "{by_admin}"
    );
    let named = create(
        &as_ann,
        json!({"name": "n", "host": 1, "path": path("n"), "expires_in_secs": 120}),
    )
    .await;
    assert!((110..=120).contains(&expires_in(&named)), "{named}");
}
