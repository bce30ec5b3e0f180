//! Issue 25: users, teams and the keys users make, over TCP against the real binary. A key's
//! rights are its user's and teams', narrowed by its scope, worked out at every request: a
//! grant taken away, a key revoked or expired takes effect on the next request. A tenant
//! learns nothing of people.

mod common;

use std::time::Duration;

use common::{register, start_server, ADMIN_KEY, CI_KEY};
use jeto_http::testing::TestClient;
use jeto_vagrant::fixture::FakeVagrant;
use serde_json::{json, Value};

async fn made(answer: jeto_http::testing::TestResponse) -> Value {
    assert_eq!(answer.status, 201, "{}", answer.text());
    answer.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_follow_their_users_and_teams_at_every_request() {
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_server(&fake, dir.path());
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let tenant = TestClient::new(server.address, Some(CI_KEY));
    let id = register(&admin, "web", 1, &fake.single()).await;
    let instance = format!("/api/instances/{id}");

    // Ann may read statuses on host 1; her team may start machines.
    let ann = made(
        admin
            .post(
                "/api/users",
                &json!({"name": "ann", "grants": {"hosts": [1], "actions": ["status"]}}),
            )
            .await,
    )
    .await;
    let ops = made(
        admin
            .post(
                "/api/teams",
                &json!({"name": "ops", "members": [ann["id"]], "grants": {"actions": ["start"]}}),
            )
            .await,
    )
    .await;
    let laptop = made(
        admin
            .post("/api/keys", &json!({"name": "laptop", "user": ann["id"]}))
            .await,
    )
    .await;
    let secret = laptop["key"].as_str().unwrap().to_owned();
    assert!(laptop.get("key_sha256").is_none(), "{laptop}");
    let as_ann = TestClient::new(server.address, Some(&secret));
    let me = as_ann.get("/api/me").await.json();
    assert_eq!(me["user"], ann["id"], "{me}");
    assert_eq!(me["name"], "ann (key laptop)", "{me}");
    assert_eq!(me["hosts"], json!([1]), "{me}");
    let start = json!({"state": "start"});
    let started = as_ann.post(&instance, &start).await;
    assert_eq!(started.status, 200, "her team's grant: {}", started.text());
    let stop = as_ann.post(&instance, &json!({"state": "stop"})).await;
    assert_eq!(stop.status, 403, "{}", stop.text());

    // Her own key, narrowed to status: it cannot start, whatever its scope asks for beyond her.
    let narrow = made(
        as_ann
            .post(
                "/api/keys",
                &json!({"name": "ci", "scope": {"admin": true, "hosts": [1], "actions": ["status", "destroy"]}}),
            )
            .await,
    )
    .await;
    let as_ci = TestClient::new(server.address, Some(narrow["key"].as_str().unwrap()));
    let me = as_ci.get("/api/me").await.json();
    assert_eq!(me["admin"], false, "{me}");
    assert_eq!(as_ci.post(&instance, &start).await.status, 403);
    assert_eq!(
        as_ci.delete(&instance).await.status,
        403,
        "destroy is not hers to give"
    );
    assert_eq!(as_ci.get(&instance).await.status, 200);
    let hers = as_ann.get("/api/keys").await.json();
    assert_eq!(hers.as_array().unwrap().len(), 2, "{hers}");
    assert!(!hers.to_string().contains(&secret), "{hers}");
    let for_admin = as_ann
        .post("/api/keys", &json!({"name": "x", "user": 999}))
        .await;
    assert_eq!(for_admin.status, 403, "{}", for_admin.text());

    // Out of the team: her keys cannot start any more, from the next request on.
    let left = admin
        .put(
            &format!("/api/teams/{}", ops["id"]),
            &json!({"name": "ops", "members": [], "grants": {"actions": ["start"]}}),
        )
        .await;
    assert_eq!(left.status, 200, "{}", left.text());
    let refused = as_ann.post(&instance, &start).await;
    assert_eq!(refused.status, 403, "{}", refused.text());

    // A tenant (a config token) learns nothing of people.
    for path in [
        "/api/users",
        "/api/teams",
        &format!("/api/users/{}", ann["id"]),
        "/api/users/999",
    ] {
        let answer = tenant.get(path).await;
        assert_eq!(answer.status, 404, "{path}: {}", answer.text());
        assert!(!answer.text().contains("ann"), "{path}: {}", answer.text());
    }
    assert_eq!(tenant.get("/api/keys").await.json(), json!([]));
    let own = tenant.post("/api/keys", &json!({"name": "mine"})).await;
    assert_eq!(own.status, 400, "{}", own.text());
    let other = tenant.delete(&format!("/api/keys/{}", laptop["id"])).await;
    assert_eq!(other.status, 404, "{}", other.text());

    // Keys live across a restart (only their hashes are stored).
    assert!(server.terminate());
    server = start_server(&fake, dir.path());
    let as_ann = TestClient::new(server.address, Some(&secret));
    assert_eq!(as_ann.get(&instance).await.status, 200);
    let database = std::fs::read(dir.path().join("data/jeto.sqlite3")).unwrap();
    assert!(
        !String::from_utf8_lossy(&database).contains(&secret),
        "the key itself is never stored"
    );

    // Revoked: refused on its next request.
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let revoked = admin.delete(&format!("/api/keys/{}", laptop["id"])).await;
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    assert_eq!(as_ann.get(&instance).await.status, 401);

    // Expired: refused, saying when.
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let short = made(
        admin
            .post(
                "/api/keys",
                &json!({"name": "short", "user": ann["id"],
                        "expires_at": soon.format(&time::format_description::well_known::Rfc3339).unwrap()}),
            )
            .await,
    )
    .await;
    let as_short = TestClient::new(server.address, Some(short["key"].as_str().unwrap()));
    assert_eq!(as_short.get(&instance).await.status, 200);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let expired = as_short.get(&instance).await;
    assert_eq!(expired.status, 401, "{}", expired.text());
    assert!(expired.text().contains("expired at"), "{}", expired.text());
    let past = admin
        .post(
            "/api/keys",
            &json!({"name": "past", "user": ann["id"], "expires_at": "2001-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(past.status, 400, "{}", past.text());

    // The audit log names the user and the key.
    let audit = admin.get("/api/audit?limit=200").await.json();
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["principal"] == "ann (key laptop)" && e["status"] == 403),
        "{audit}"
    );

    // Removing a user removes their keys.
    let as_ci = TestClient::new(server.address, Some(narrow["key"].as_str().unwrap()));
    assert_eq!(as_ci.get(&instance).await.status, 200);
    let removed = admin.delete(&format!("/api/users/{}", ann["id"])).await;
    assert_eq!(removed.status, 200, "{}", removed.text());
    assert_eq!(as_ci.get(&instance).await.status, 401);
}

/// Reads `body` until it ends; `None` when it has not ended within `limit`.
async fn ends_within<B>(mut body: B, limit: Duration) -> Option<String>
where
    B: http_body_util::BodyExt + Unpin,
    B::Data: AsRef<[u8]>,
    B::Error: std::fmt::Debug,
{
    let mut text = String::new();
    let read = async {
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                text.push_str(&String::from_utf8_lossy(data.as_ref()));
            }
        }
    };
    tokio::time::timeout(limit, read).await.ok().map(|()| text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_stream_ends_soon_after_its_key_is_revoked_or_its_team_left() {
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(&fake, dir.path());
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let folder = fake.another_single("long");
    std::fs::write(
        folder.join("jeto.json"),
        r#"{"scripts": {"long": {"command": "echo long-start; sleep 30; echo long-end"}}}"#,
    )
    .unwrap();
    let id = register(&admin, "long", 1, &folder).await;
    let instance = format!("/api/instances/{id}");
    assert_eq!(
        admin
            .post(&instance, &json!({"state": "start"}))
            .await
            .status,
        200
    );
    let ann = made(admin.post("/api/users", &json!({"name": "ann"})).await).await;
    let team = made(
        admin
            .post(
                "/api/teams",
                &json!({"name": "watchers", "members": [ann["id"]], "grants": {"hosts": [1], "actions": ["status"]}}),
            )
            .await,
    )
    .await;
    let key = |name: &str| {
        let admin = &admin;
        let body = json!({"name": name, "user": ann["id"]});
        async move { made(admin.post("/api/keys", &body).await).await }
    };
    let (revoked, kept) = (key("revoked").await, key("kept").await);

    let script = admin
        .post(
            &instance,
            &json!({"state": "runScript", "machine": "default", "script": "long", "async": true}),
        )
        .await;
    assert_eq!(script.status, 202, "{}", script.text());
    let console = format!("{}/console?follow=true", script.header("location").unwrap());
    let follow = |secret: &Value| {
        let client = TestClient::new(server.address, Some(secret.as_str().unwrap()));
        let console = console.clone();
        async move {
            let (status, body) = client.get_stream(&console).await;
            assert_eq!(status, 200);
            body
        }
    };
    let by_revoked = follow(&revoked["key"]).await;
    let by_kept = follow(&kept["key"]).await;

    // Revoked: its stream ends within 5 s, while the script still runs.
    let gone = admin.delete(&format!("/api/keys/{}", revoked["id"])).await;
    assert_eq!(gone.status, 200, "{}", gone.text());
    let text = ends_within(by_revoked, Duration::from_secs(5))
        .await
        .expect("the revoked key's stream ended within 5 s");
    assert!(!text.contains("long-end"), "{text}");

    // Out of the team that let her see the instance: the other key's stream ends too.
    let left = admin
        .put(
            &format!("/api/teams/{}", team["id"]),
            &json!({"name": "watchers", "members": [], "grants": {"hosts": [1], "actions": ["status"]}}),
        )
        .await;
    assert_eq!(left.status, 200, "{}", left.text());
    let text = ends_within(by_kept, Duration::from_secs(5))
        .await
        .expect("the stream ended within 5 s of leaving the team");
    assert!(!text.contains("long-end"), "{text}");
    let running = admin.get(script.header("location").unwrap()).await.json();
    assert_eq!(running["status"], "running", "{running}");
}
