//! Issue 28, webhooks over TCP against the real binary: deliveries received by a local HTTP
//! server of the test's own, every signature verified by the Standard Webhooks reference
//! library (JavaScript, the npm registry's `standardwebhooks`, installed by `.ci/run`): every
//! event of a period arrives, in order; a receiver answering 500 three times then 200 gets the
//! event with the same `webhook-id`; a receiver down for longer is paused, then resumed by an
//! admin with nothing lost; receivers that never answer or answer without end do not slow a
//! command.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::sse::Sse;
use common::{register, start_server_top, ADMIN_KEY, CI_KEY};
use jeto_http::testing::TestClient;
use jeto_vagrant::fixture::FakeVagrant;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Ok,
    /// 500 for the next N requests, then 200.
    FailNext(usize),
    /// 503 to every request.
    Down,
    /// Reads the request and never answers.
    Hang,
    /// 200 with a body that never ends.
    Flood,
}

/// One request received, and what it was answered.
#[derive(Debug, Clone)]
struct Got {
    headers: HashMap<String, String>,
    body: String,
    answered: u16,
}

/// A webhook receiver on loopback.
#[derive(Clone)]
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Got>>>,
    mode: Arc<Mutex<Mode>>,
}

impl Receiver {
    async fn start(mode: Mode) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Receiver {
            url: format!("http://{}/hooks/jeto", listener.local_addr().unwrap()),
            got: Arc::default(),
            mode: Arc::new(Mutex::new(mode)),
        };
        let serving = receiver.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let serving = serving.clone();
                tokio::spawn(async move { serving.answer(stream).await });
            }
        });
        receiver
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    async fn answer(&self, mut stream: tokio::net::TcpStream) {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if stream.read_exact(&mut byte).await.is_err() || head.len() > 64 * 1024 {
                return;
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let headers: HashMap<String, String> = head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let length: usize = headers
            .get("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        if stream.read_exact(&mut body).await.is_err() {
            return;
        }
        let mode = {
            let mut mode = self.mode.lock().unwrap();
            let now = *mode;
            if let Mode::FailNext(n) = now {
                *mode = if n > 1 {
                    Mode::FailNext(n - 1)
                } else {
                    Mode::Ok
                };
            }
            now
        };
        let answered = match mode {
            Mode::Ok | Mode::Flood | Mode::Hang => 200,
            Mode::FailNext(_) => 500,
            Mode::Down => 503,
        };
        self.got.lock().unwrap().push(Got {
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            answered,
        });
        match mode {
            Mode::Hang => tokio::time::sleep(Duration::from_secs(3600)).await,
            Mode::Flood => {
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n",
                    )
                    .await;
                let chunk = vec![b'x'; 64 * 1024];
                // Up to 4 GiB, or until the client stops reading.
                for _ in 0..65_536 {
                    if stream.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
            }
            _ => {
                let reason = if answered == 200 { "OK" } else { "Failing" };
                let _ = stream
                    .write_all(
                        format!("HTTP/1.1 {answered} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                            .as_bytes(),
                    )
                    .await;
            }
        }
    }
}

/// Verifies every delivery with the reference library; the payloads it verified.
fn verified_by_the_reference_library(secret: &str, got: &[Got]) -> Vec<Value> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/webhooks");
    assert!(
        folder.join("node_modules/standardwebhooks").exists(),
        "the Standard Webhooks reference library is not installed: run `npm ci --prefix jeto-server/tests/webhooks` (`.ci/run` does; needs apt-get install -y nodejs npm)"
    );
    let deliveries: Vec<Value> = got
        .iter()
        .map(|g| json!({"headers": g.headers, "body": g.body}))
        .collect();
    let mut node = Command::new("node")
        .arg(folder.join("verify.mjs"))
        .current_dir(&folder)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (apt-get install -y nodejs)");
    node.stdin
        .take()
        .unwrap()
        .write_all(
            json!({"secret": secret, "deliveries": deliveries})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    let out = node.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the reference library refused a delivery: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every event after `after`, as the admin's event stream has them (ids).
async fn events_after(base: &str, after: u64) -> Vec<u64> {
    let mut stream = Sse::follow(base, ADMIN_KEY, &format!("?after={after}"), None).await;
    stream
        .drain(Duration::from_secs(2))
        .await
        .into_iter()
        .map(|(id, _, _)| id)
        .collect()
}

/// Waits until the receiver has answered 2xx to every one of `ids`.
async fn wait_delivered(receiver: &Receiver, ids: &[u64], within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let delivered = delivered_ids(&receiver.got());
        if ids.iter().all(|id| delivered.contains(id)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "events {ids:?} not all delivered; delivered: {delivered:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The event ids answered 2xx, in the order they arrived.
fn delivered_ids(got: &[Got]) -> Vec<u64> {
    got.iter()
        .filter(|g| g.answered == 200)
        .filter_map(|g| serde_json::from_str::<Value>(&g.body).ok()?["id"].as_u64())
        .collect()
}

async fn run(admin: &TestClient, id: u64, state: &str) -> Duration {
    let started = Instant::now();
    let done = admin
        .post(&format!("/api/instances/{id}"), &json!({"state": state}))
        .await;
    assert_eq!(done.status, 200, "{}", done.text());
    started.elapsed()
}

const FAST_RETRIES: &str = "[webhook_delivery]\nfirst_retry_ms = 100\nmax_retry_wait_secs = 1\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_in_order_signed_and_a_retried_one_keeps_its_id() {
    let receiver = Receiver::start(Mode::Ok).await;
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server_top(&fake, dir.path(), "", FAST_RETRIES);
    let base = format!("http://{}", server.address);
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));

    // Made by an admin: the secret is shown once.
    let made = admin
        .post("/api/webhooks", &json!({"url": receiver.url}))
        .await;
    assert_eq!(made.status, 201, "{}", made.text());
    let made = made.json();
    let secret = made["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{made}");
    let hook = made["id"].as_u64().unwrap();
    let start = made["cursor"].as_u64().unwrap();
    let shown = admin.get(&format!("/api/webhooks/{hook}")).await.json();
    assert!(shown.get("secret").is_none(), "{shown}");
    assert!(!admin.get("/api/webhooks").await.text().contains(&secret));

    let id = register(&admin, "web", 1, &fake.another_single("web")).await;
    run(&admin, id, "start").await;
    run(&admin, id, "stop").await;
    // The next delivery is answered 500 three times, then 200.
    receiver.set(Mode::FailNext(3));
    run(&admin, id, "start").await;
    let expected = events_after(&base, start).await;
    assert!(expected.len() >= 10, "{expected:?}");
    wait_delivered(&receiver, &expected, Duration::from_secs(30)).await;

    let got = receiver.got();
    // Every delivery, failed ones too, verifies with the reference library.
    let payloads = verified_by_the_reference_library(&secret, &got);
    assert_eq!(payloads.len(), got.len());
    // Every event of the period, in order, each delivered once.
    assert_eq!(delivered_ids(&got), expected);
    // The retried one: four requests, one webhook-id.
    let failed: Vec<&Got> = got.iter().filter(|g| g.answered == 500).collect();
    assert_eq!(failed.len(), 3);
    let retried_id = &failed[0].headers["webhook-id"];
    let same: Vec<u16> = got
        .iter()
        .filter(|g| &g.headers["webhook-id"] == retried_id)
        .map(|g| g.answered)
        .collect();
    assert_eq!(same, [500, 500, 500, 200], "{retried_id}");
    // The attempts are recorded.
    let deliveries = admin
        .get(&format!("/api/webhooks/{hook}/deliveries?limit=200"))
        .await
        .json();
    let attempts: Vec<(u64, Value, Value)> = deliveries
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| format!("evt_{}", d["event"]) == *retried_id)
        .map(|d| {
            (
                d["attempt"].as_u64().unwrap(),
                d["status"].clone(),
                d["outcome"].clone(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [
            (4, json!(200), json!("delivered")),
            (3, json!(500), json!("retrying")),
            (2, json!(500), json!("retrying")),
            (1, json!(500), json!("retrying")),
        ]
    );
    // Sent again by an admin: the same id once more.
    let delivery = deliveries[0]["id"].as_u64().unwrap();
    let again = admin
        .post(
            &format!("/api/webhooks/{hook}/deliveries/{delivery}"),
            &json!({}),
        )
        .await;
    assert_eq!(again.status, 202, "{}", again.text());
    let event = deliveries[0]["event"].as_u64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while delivered_ids(&receiver.got())
        .iter()
        .filter(|e| **e == event)
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "not sent again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Bad requests, and keys that are not admin.
    let tenant = TestClient::new(server.address, Some(CI_KEY));
    assert_eq!(tenant.get("/api/webhooks").await.status, 404);
    assert_eq!(
        tenant
            .post("/api/webhooks", &json!({"url": receiver.url}))
            .await
            .status,
        404
    );
    for (body, says) in [
        (json!({"url": "ftp://example.org/"}), "http"),
        (
            json!({"url": "http://user:pw@example.org/"}),
            "no user or password",
        ),
        (
            json!({"url": receiver.url, "types": ["no_such_type"]}),
            "unknown event type",
        ),
        (json!({"url": receiver.url, "secret": "hunter2"}), "whsec_"),
        (json!({"url": receiver.url, "colour": "red"}), "colour"),
    ] {
        let refused = admin.post("/api/webhooks", &body).await;
        assert_eq!(refused.status, 400, "{body}: {}", refused.text());
        assert!(refused.text().contains(says), "{body}: {}", refused.text());
    }
    assert_eq!(admin.get("/api/webhooks/999").await.status, 404);
    assert_eq!(
        admin
            .get(&format!("/api/webhooks/{hook}/deliveries?limit=0"))
            .await
            .status,
        400
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_too_long_is_paused_then_resumed_with_nothing_lost() {
    let receiver = Receiver::start(Mode::Down).await;
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server_top(
        &fake,
        dir.path(),
        "",
        &format!("{FAST_RETRIES}retry_for_secs = 2\n"),
    );
    let base = format!("http://{}", server.address);
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let made = admin
        .post(
            "/api/webhooks",
            &json!({"url": receiver.url, "types": ["command_ended", "machine_state_changed"]}),
        )
        .await
        .json();
    let (hook, secret) = (
        made["id"].as_u64().unwrap(),
        made["secret"].as_str().unwrap().to_owned(),
    );
    let start = made["cursor"].as_u64().unwrap();
    let id = register(&admin, "web", 1, &fake.another_single("web")).await;
    run(&admin, id, "start").await;
    // Tried for 2 s, then paused, saying why.
    let deadline = Instant::now() + Duration::from_secs(20);
    let paused = loop {
        let shown = admin.get(&format!("/api/webhooks/{hook}")).await.json();
        if !shown["paused"].is_null() {
            break shown;
        }
        assert!(Instant::now() < deadline, "never paused: {shown}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let why = paused["paused"].as_str().unwrap();
    assert!(
        why.contains("could not be delivered") && why.contains("503"),
        "{why}"
    );
    let deliveries = admin
        .get(&format!("/api/webhooks/{hook}/deliveries"))
        .await
        .json();
    assert_eq!(deliveries[0]["outcome"], "failed", "{deliveries}");
    // Meanwhile more happens; nothing is sent while paused.
    run(&admin, id, "stop").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let tried = receiver.got().len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.got().len(), tried, "nothing is sent while paused");

    // The receiver is back; an admin resumes: every event of the period, in order.
    receiver.set(Mode::Ok);
    let mut resumed = paused.clone();
    resumed["paused"] = Value::Null;
    let answer = admin.put(&format!("/api/webhooks/{hook}"), &resumed).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let mut stream = Sse::follow(
        &base,
        ADMIN_KEY,
        &format!("?after={start}&type=command_ended,machine_state_changed"),
        None,
    )
    .await;
    let expected: Vec<u64> = stream
        .drain(Duration::from_secs(2))
        .await
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    assert!(
        expected.len() >= 3,
        "two commands ended, state changes: {expected:?}"
    );
    wait_delivered(&receiver, &expected, Duration::from_secs(20)).await;
    let got = receiver.got();
    verified_by_the_reference_library(&secret, &got);
    assert_eq!(delivered_ids(&got), expected);
    let shown = admin.get(&format!("/api/webhooks/{hook}")).await.json();
    assert!(shown["paused"].is_null(), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receivers_that_never_answer_or_never_end_do_not_slow_a_command() {
    let hanging = Receiver::start(Mode::Hang).await;
    let flooding = Receiver::start(Mode::Flood).await;
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server_top(
        &fake,
        dir.path(),
        "",
        "[webhook_delivery]\nattempt_timeout_secs = 30\n",
    );
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let id = register(&admin, "web", 1, &fake.another_single("web")).await;
    // Without webhooks first, as the baseline of the same run.
    let baseline = run(&admin, id, "start").await + run(&admin, id, "stop").await;
    for receiver in [&hanging, &flooding] {
        let made = admin
            .post("/api/webhooks", &json!({"url": receiver.url}))
            .await;
        assert_eq!(made.status, 201, "{}", made.text());
    }
    let with = run(&admin, id, "start").await + run(&admin, id, "stop").await;
    eprintln!(
        "start + stop: {baseline:?} without webhooks, {with:?} with a hanging and a flooding one"
    );
    // A command never waits for a delivery: well under one attempt's 30 s.
    assert!(
        with < baseline * 3 + Duration::from_secs(2) && with < Duration::from_secs(30),
        "{with:?} against {baseline:?}"
    );
    assert!(!hanging.got().is_empty(), "the hanging receiver was tried");
    // The endless answer was cut: its deliveries are recorded delivered.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let hooks = admin.get("/api/webhooks").await.json();
        let flood = hooks
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["url"] == flooding.url)
            .unwrap()["id"]
            .as_u64()
            .unwrap();
        let deliveries = admin
            .get(&format!("/api/webhooks/{flood}/deliveries"))
            .await
            .json();
        if deliveries
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["outcome"] == "delivered")
        {
            break;
        }
        assert!(Instant::now() < deadline, "{deliveries}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The server still answers at once.
    let started = Instant::now();
    assert_eq!(admin.get("/api/instances").await.status, 200);
    assert!(started.elapsed() < Duration::from_secs(2));
}
