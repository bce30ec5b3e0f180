//! Issue 26, HTTPS: the real binary with `[tls]` and a certificate from a test CA of the
//! test's own: the API and a console followed live work over HTTPS for a client trusting that
//! CA only; plain HTTP to the port gets nothing; a reload reads the certificate files again,
//! and a broken key file leaves the certificate in use in place.

mod common;

use std::time::Duration;

use common::tls::TestCa;
use common::{start_server_top, ADMIN_KEY};
use jeto_vagrant::fixture::FakeVagrant;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_and_a_console_follow_work_over_https() {
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let server = start_server_top(&fake, dir.path(), "", &ca.table());
    let base = format!("https://127.0.0.1:{}", server.address.port());
    let client = ca.client();
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request = client
            .request(method, format!("{base}{path}"))
            .header("X-JETO-KEY", ADMIN_KEY);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    let health = call(reqwest::Method::GET, "/api/health", None)
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    // Plain HTTP to the HTTPS port is no API.
    let refused = tokio::time::timeout(Duration::from_secs(5), async {
        reqwest::get(format!("http://{}/api/health", server.address)).await
    })
    .await;
    assert!(
        !matches!(refused, Ok(Ok(ref r)) if r.status() == 200),
        "plain HTTP was served"
    );
    // A client that does not trust the CA is refused the handshake.
    assert!(reqwest::get(format!("{base}/api/health")).await.is_err());

    let folder = fake.another_single("web");
    let created = call(
        reqwest::Method::POST,
        "/api/instances",
        Some(json!({"name": "web", "host": 1, "path": folder.display().to_string()})),
    )
    .await
    .unwrap();
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_u64()
        .unwrap();
    let started = call(
        reqwest::Method::POST,
        &format!("/api/instances/{id}"),
        Some(json!({"state": "start"})),
    )
    .await
    .unwrap();
    assert_eq!(started.status(), 200);
    let run = call(
        reqwest::Method::POST,
        &format!("/api/instances/{id}"),
        Some(json!({"state": "runScript", "script": "slow", "machine": "default", "async": true})),
    )
    .await
    .unwrap();
    assert_eq!(run.status(), 202);
    let location = run.headers()["location"].to_str().unwrap().to_owned();
    // Followed live: the first line arrives before the script ends.
    let mut follow = call(
        reqwest::Method::GET,
        &format!("{location}/console?follow=true"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(follow.status(), 200);
    let mut seen = String::new();
    while !seen.contains("slow-start") {
        let chunk = tokio::time::timeout(Duration::from_secs(20), follow.chunk())
            .await
            .expect("the console streams")
            .unwrap()
            .expect("more console");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let command = call(reqwest::Method::GET, &location, None)
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(command["status"], "running", "the line came while it ran");
    let cancel = call(reqwest::Method::DELETE, &location, None)
        .await
        .unwrap();
    assert!(cancel.status().is_success(), "{}", cancel.status());
    drop(follow);

    // A reload reads the certificate again; a broken key file leaves the one in use.
    let report = call(reqwest::Method::POST, "/api/reload", Some(json!({})))
        .await
        .unwrap();
    assert_eq!(report.status(), 200);
    assert_eq!(
        report.json::<Value>().await.unwrap()["applied"],
        json!(["tls certificate"])
    );
    let key = std::fs::read_to_string(&ca.key_file).unwrap();
    std::fs::write(&ca.key_file, "not a key").unwrap();
    let refused = call(reqwest::Method::POST, "/api/reload", Some(json!({})))
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("TLS key file"));
    let fresh = ca.client();
    assert_eq!(
        fresh
            .get(format!("{base}/api/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    std::fs::write(&ca.key_file, key).unwrap();
}
