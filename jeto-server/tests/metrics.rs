//! Issue 28, metrics over TCP against the real binary: `promtool check metrics` (Debian's
//! `prometheus` package) accepts `GET /metrics`; a real Prometheus started here scrapes Jeto
//! with a metrics-only key and its query API returns the command counters after commands ran;
//! a tenant key gets 403 on `/metrics`, a metrics-only key gets the metrics and 403 elsewhere.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{register, start_server_top, ADMIN_KEY, CI_KEY};
use jeto_core::access::hash_key;
use jeto_http::testing::TestClient;
use jeto_vagrant::fixture::{free_port, FakeVagrant};
use serde_json::{json, Value};

const METRICS_KEY: &str = "metrics-key-for-tests";

/// A program of Debian's `prometheus` package; panics with the fix when it is missing.
fn prometheus_tool(name: &str) -> &str {
    let found = Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{name} is not on PATH: these tests check /metrics with Prometheus's own tools; install them with `apt-get install -y prometheus` (`.ci/run` does)"
    );
    name
}

/// Kills the Prometheus server however the test ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_checks_and_scrapes_the_metrics() {
    let promtool = prometheus_tool("promtool");
    let prometheus = prometheus_tool("prometheus");
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "[[tokens]]\nname = \"prometheus\"\nkey_sha256 = \"{}\"\nmetrics_only = true\n",
        hash_key(METRICS_KEY)
    );
    let server = start_server_top(&fake, dir.path(), "", &extra);
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let id = register(&admin, "web", 1, &fake.another_single("web")).await;
    for state in ["start", "stop"] {
        let done = admin
            .post(&format!("/api/instances/{id}"), &json!({"state": state}))
            .await;
        assert_eq!(done.status, 200, "{}", done.text());
    }

    // promtool accepts what a plain GET answers (the Prometheus text format).
    let scraped = admin.get("/metrics").await;
    assert_eq!(scraped.status, 200, "{}", scraped.text());
    assert_eq!(
        scraped.header("content-type").unwrap(),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = scraped.text();
    for expected in [
        r#"jeto_commands_total{action="start",outcome="succeeded"} 1"#,
        r#"jeto_commands_total{action="stop",outcome="succeeded"} 1"#,
        r#"jeto_instances{host="1"} 1"#,
        r#"jeto_machines{state="poweroff"} 1"#,
        "jeto_provider_call_duration_seconds_count{verb=\"start\"} 1",
        "jeto_http_requests_total{route=\"/api/instances/{id}\",method=\"POST\",class=\"2xx\"} 2",
        "jeto_events_written_total ",
        "jeto_commands_queued 0",
        "jeto_provider_slots_in_use 0",
    ] {
        assert!(text.contains(expected), "{expected} in:\n{text}");
    }
    // No label takes an unbounded set of values.
    for unbounded in ["instance=\"", "path=\"", "id=\"", "key=\""] {
        assert!(!text.contains(unbounded), "{unbounded} in:\n{text}");
    }
    let mut check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let checked = check.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    // Who may read them.
    let tenant = TestClient::new(server.address, Some(CI_KEY));
    assert_eq!(tenant.get("/metrics").await.status, 403);
    assert_eq!(
        TestClient::new(server.address, None)
            .get("/metrics")
            .await
            .status,
        401
    );
    let scraper = TestClient::new(server.address, Some(METRICS_KEY));
    assert_eq!(scraper.get("/metrics").await.status, 200);
    for route in [
        "/api/instances",
        "/api/me",
        "/api/hosts",
        "/api/health",
        "/api/events",
    ] {
        let refused = scraper.get(route).await;
        assert_eq!(refused.status, 403, "{route}: {}", refused.text());
        assert!(
            refused.text().contains("reads /metrics only"),
            "{}",
            refused.text()
        );
    }
    let refused = scraper
        .post(&format!("/api/instances/{id}"), &json!({"state": "start"}))
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text());

    // A real Prometheus scrapes Jeto with the metrics-only key.
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = data.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: jeto\n    metrics_path: /metrics\n    authorization:\n      credentials: {METRICS_KEY}\n    static_configs:\n      - targets: [\"{}\"]\n",
            server.address
        ),
    )
    .unwrap();
    let _prometheus = Running(
        Command::new(prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                data.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let query = format!(
        "http://127.0.0.1:{port}/api/v1/query?query=sum(jeto_commands_total{{outcome=\"succeeded\"}})"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let answer: Value = loop {
        let answer = reqwest::get(&query).await;
        if let Ok(answer) = answer {
            let body: Value = answer.json().await.unwrap_or(Value::Null);
            if body["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
            {
                break body;
            }
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never had jeto_commands_total"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(answer["data"]["result"][0]["value"][1], "2", "{answer}");
    let targets: Value = reqwest::get(format!("http://127.0.0.1:{port}/api/v1/targets"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        targets["data"]["activeTargets"][0]["health"], "up",
        "{targets}"
    );
}
