//! Issue 26, behind a reverse proxy: `X-Forwarded-For` names the client in the audit only when
//! the connection comes from a configured trusted proxy (anyone else's header is ignored), and
//! a followed console says `X-Accel-Buffering: no` so nginx streams it.

mod common;

use common::{register, start_server_top, ADMIN_KEY};
use http::Method;
use jeto_http::testing::TestClient;
use jeto_vagrant::fixture::FakeVagrant;
use serde_json::json;

/// The source the audit recorded for the latest request on `route`.
async fn audited_source(admin: &TestClient, route: &str) -> String {
    let audit = admin.get("/api/audit?limit=50").await.json();
    let entries = audit
        .as_array()
        .or_else(|| audit["entries"].as_array())
        .unwrap()
        .clone();
    entries
        .iter()
        .find(|e| e["route"] == route)
        .map(|e| e["source"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_else(|| panic!("no audit entry for {route}: {audit}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_counts_only_from_a_trusted_proxy() {
    let fake = FakeVagrant::new();
    for (trusted, expected) in [("[\"127.0.0.1\"]", "203.0.113.7"), ("[]", "127.0.0.1")] {
        let dir = tempfile::tempdir().unwrap();
        let server = start_server_top(
            &fake,
            dir.path(),
            "",
            &format!("\n[server]\ntrusted_proxies = {trusted}\n"),
        );
        let admin = TestClient::new(server.address, Some(ADMIN_KEY));
        let answer = admin
            .send(
                Method::POST,
                "/api/hosts",
                &[
                    ("content-type", "application/json"),
                    ("x-forwarded-for", "198.51.100.1, 203.0.113.7"),
                ],
                r#"{"name": "via-proxy", "provider": "jeto_fake"}"#,
            )
            .await;
        assert_eq!(answer.status, 201, "{}", answer.text());
        assert_eq!(
            audited_source(&admin, "/api/hosts").await,
            expected,
            "trusted: {trusted}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followed_console_tells_proxies_not_to_buffer() {
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server_top(&fake, dir.path(), "", "");
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let id = register(&admin, "web", 1, &fake.another_single("web")).await;
    let started = admin
        .post(
            &format!("/api/instances/{id}"),
            &json!({"state": "start", "async": true}),
        )
        .await;
    let location = started.header("location").unwrap().to_owned();
    common::ended(&admin, &location).await;
    let followed = admin.get(&format!("{location}/console?follow=true")).await;
    assert_eq!(followed.status, 200);
    assert_eq!(followed.header("x-accel-buffering"), Some("no"));
    let whole = admin.get(&format!("{location}/console")).await;
    assert_eq!(whole.header("x-accel-buffering"), None);
}
