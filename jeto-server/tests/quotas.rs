//! Issue 29, quotas over TCP against the real binary: the request that would exceed each
//! limit (a user's instances, a team's running machines, a user's queued commands, a project's
//! instances) is refused with the typed error naming the limit, the usage and whose quota it
//! is, and nothing is created or queued; 50 creations racing for the last units leave usage at
//! the limit; usage and limits are readable by the members and admins only.

mod common;

use common::{five_second_script_folder, start_server, ADMIN_KEY, CI_KEY};
use jeto_http::testing::{TestClient, TestResponse};
use jeto_vagrant::fixture::FakeVagrant;
use serde_json::{json, Value};

/// A 201 answer's body.
fn made(answer: TestResponse) -> Value {
    assert_eq!(answer.status, 201, "{}", answer.text());
    answer.json()
}

/// A key for user `user`, made by an admin.
async fn key_of(admin: &TestClient, user: &Value) -> String {
    made(
        admin
            .post("/api/keys", &json!({"name": "k", "user": user["id"]}))
            .await,
    )["key"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn refused_by_quota(answer: &TestResponse, set_by: &str, limit: u32, usage: u32) {
    assert_eq!(answer.status, 403, "{}", answer.text());
    let body = answer.json();
    assert_eq!(body["error"]["code"], "quota_exceeded", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("{set_by}'s quota: at most {limit} "))
            && message.contains(&format!("({usage} in use now)")),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_limit_refuses_the_request_that_would_exceed_it_and_nothing_happens() {
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(&fake, dir.path());
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let grants =
        json!({"hosts": [1], "actions": ["status", "start", "stop", "runScript", "create"]});
    let ann = made(
        admin
            .post(
                "/api/users",
                &json!({"name": "ann", "grants": grants, "quota": {"instances": 2, "queued": 1}}),
            )
            .await,
    );
    let bob = made(
        admin
            .post("/api/users", &json!({"name": "bob", "grants": grants}))
            .await,
    );
    let team = made(
        admin
            .post(
                "/api/teams",
                &json!({"name": "blue", "members": [ann["id"], bob["id"]], "quota": {"running": 1}}),
            )
            .await,
    );
    let as_ann = TestClient::new(server.address, Some(&key_of(&admin, &ann).await));
    let as_bob = TestClient::new(server.address, Some(&key_of(&admin, &bob).await));

    // Instances: ann may make two.
    let create = |name: &str| json!({"name": name, "host": 1, "path": fake.another_single(name).display().to_string()});
    let first = made(as_ann.post("/api/instances", &create("a1")).await)["id"]
        .as_u64()
        .unwrap();
    let second = made(as_ann.post("/api/instances", &create("a2")).await)["id"]
        .as_u64()
        .unwrap();
    let before = admin
        .get("/api/instances")
        .await
        .json()
        .as_array()
        .unwrap()
        .len();
    refused_by_quota(
        &as_ann.post("/api/instances", &create("a3")).await,
        "user ann",
        2,
        2,
    );
    assert_eq!(
        admin
            .get("/api/instances")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        before,
        "nothing was created"
    );
    let usage = as_ann.get(&format!("/api/users/{}/usage", ann["id"])).await;
    assert_eq!(usage.status, 200, "{}", usage.text());
    assert_eq!(usage.json()["instances"], json!({"limit": 2, "usage": 2}));

    // Running machines: team blue may run one, whoever of its members starts it.
    let started = as_ann
        .post(
            &format!("/api/instances/{first}"),
            &json!({"state": "start"}),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.text());
    let bobs = made(as_bob.post("/api/instances", &create("b1")).await)["id"]
        .as_u64()
        .unwrap();
    refused_by_quota(
        &as_bob
            .post(
                &format!("/api/instances/{bobs}"),
                &json!({"state": "start"}),
            )
            .await,
        "team blue",
        1,
        1,
    );
    assert!(
        as_bob
            .get(&format!("/api/instances/{bobs}/commands"))
            .await
            .json()
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing was queued"
    );
    let blue = as_bob
        .get(&format!("/api/teams/{}/usage", team["id"]))
        .await;
    assert_eq!(blue.status, 200, "a member reads it: {}", blue.text());
    assert_eq!(blue.json()["running"], json!({"limit": 1, "usage": 1}));
    assert_eq!(blue.json()["instances"], json!({"limit": null, "usage": 3}));
    // Stopping frees the unit.
    let stopped = as_ann
        .post(
            &format!("/api/instances/{first}"),
            &json!({"state": "stop"}),
        )
        .await;
    assert_eq!(stopped.status, 200, "{}", stopped.text());
    let started = as_bob
        .post(
            &format!("/api/instances/{bobs}"),
            &json!({"state": "start"}),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.text());

    // Queued commands: ann may have one waiting. Her second instance runs a 5 s script (bob
    // stops his machine first: the team runs one at most).
    let stopped = as_bob
        .post(&format!("/api/instances/{bobs}"), &json!({"state": "stop"}))
        .await;
    assert_eq!(stopped.status, 200, "{}", stopped.text());
    let started = as_ann
        .post(
            &format!("/api/instances/{second}"),
            &json!({"state": "start"}),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.text());
    five_second_script_folder(&fake, "a2");
    let script = as_ann
        .post(
            &format!("/api/instances/{second}"),
            &json!({"state": "runScript", "script": "five", "machine": "default", "async": true}),
        )
        .await;
    assert_eq!(script.status, 202, "{}", script.text());
    // The script runs (not queued); one more command waits behind it; a second would be
    // the quota's second.
    let (mut queued, mut refused) = (0, false);
    for _ in 0..3 {
        let answer = as_ann
            .post(
                &format!("/api/instances/{second}"),
                &json!({"state": "status", "async": true}),
            )
            .await;
        if answer.status == 403 {
            refused_by_quota(&answer, "user ann", 1, 1);
            refused = true;
            break;
        }
        assert_eq!(answer.status, 202, "{}", answer.text());
        queued += 1;
    }
    assert!(refused, "a second waiting command is refused");
    assert!(queued <= 1, "at most one command waited: {queued}");

    // Who may read usage: the user and admins; a team's members and admins.
    assert_eq!(
        as_bob
            .get(&format!("/api/users/{}/usage", ann["id"]))
            .await
            .status,
        404
    );
    let tenant = TestClient::new(server.address, Some(CI_KEY));
    assert_eq!(
        tenant
            .get(&format!("/api/teams/{}/usage", team["id"]))
            .await
            .status,
        404
    );
    assert_eq!(
        admin
            .get(&format!("/api/teams/{}/usage", team["id"]))
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_creations_racing_for_the_last_units_leave_usage_at_the_limit() {
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(&fake, dir.path());
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let ann = made(
        admin
            .post(
                "/api/users",
                &json!({"name": "ann", "grants": {"hosts": [1], "actions": ["create", "status"]}, "quota": {"instances": 5}}),
            )
            .await,
    );
    let as_ann = TestClient::new(server.address, Some(&key_of(&admin, &ann).await));
    let folders: Vec<String> = (0..50)
        .map(|n| {
            fake.another_single(&format!("race{n}"))
                .display()
                .to_string()
        })
        .collect();
    let racing: Vec<_> = folders
        .into_iter()
        .enumerate()
        .map(|(n, path)| {
            let client = as_ann.clone();
            tokio::spawn(async move {
                client
                    .post(
                        "/api/instances",
                        &json!({"name": format!("race{n}"), "host": 1, "path": path}),
                    )
                    .await
            })
        })
        .collect();
    let (mut created, mut refused) = (0, 0);
    for answer in racing {
        let answer = answer.await.unwrap();
        match answer.status.as_u16() {
            201 => created += 1,
            403 => {
                assert_eq!(
                    answer.json()["error"]["code"],
                    "quota_exceeded",
                    "{}",
                    answer.text()
                );
                refused += 1;
            }
            other => panic!("{other}: {}", answer.text()),
        }
    }
    assert_eq!((created, refused), (5, 45));
    let usage = as_ann
        .get(&format!("/api/users/{}/usage", ann["id"]))
        .await
        .json();
    assert_eq!(
        usage["instances"],
        json!({"limit": 5, "usage": 5}),
        "{usage}"
    );
    assert_eq!(
        admin
            .get("/api/instances")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        5
    );
}
