//! The server's connection limits, over TCP against the real binary: idle and slowloris
//! sockets closed at the header timeout, an admin still served with 400 sockets held under a
//! 256 file-descriptor limit, a body that never comes answered 408, and console followers
//! capped, with a follower that stops reading dropped.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{config_toml_with, register, start_server_top, start_server_with, ADMIN_KEY};
use jeto_http::testing::{ServerProcess, TestClient};
use jeto_vagrant::fixture::FakeVagrant;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SHORT_TIMEOUTS: &str = "[server]\nheader_read_timeout_secs = 2\nidle_timeout_secs = 2\nbody_read_timeout_secs = 2\nwrite_timeout_secs = 2\n";

/// Reads until the server closes the socket (EOF or reset); whether it did within `limit`.
async fn closed_within(mut socket: TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(limit, async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slowloris_sockets_are_closed_at_the_header_timeout_while_requests_are_served() {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let server = start_server_with(&fake, data.path(), SHORT_TIMEOUTS);
    let address = server.address;

    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(TcpStream::connect(address).await.unwrap());
    }
    // Slowloris: a request head that never ends, one byte every 200 ms.
    let mut slow = Vec::new();
    for _ in 0..50 {
        let mut socket = TcpStream::connect(address).await.unwrap();
        socket
            .write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(tokio::spawn(async move {
            let started = Instant::now();
            for _ in 0..100 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if socket.write_all(b"X").await.is_err() {
                    return Some(started.elapsed());
                }
                // The server closing shows up as EOF on a read that does not block.
                let mut byte = [0u8; 1];
                if let Ok(Ok(0)) =
                    tokio::time::timeout(Duration::from_millis(1), socket.read(&mut byte)).await
                {
                    return Some(started.elapsed());
                }
            }
            None
        }));
    }
    let opened = Instant::now();

    let admin = TestClient::new(address, Some(ADMIN_KEY));
    let answered = tokio::time::timeout(Duration::from_secs(2), admin.get("/api/instances"))
        .await
        .expect("a normal request is answered within 2 s while 350 sockets are held");
    assert_eq!(answered.status, 200, "{}", answered.text());

    // Header timeout 2 s, checked every 250 ms: closed within 2 s of opening, plus slack for
    // a loaded machine.
    let limit = Duration::from_secs(4).saturating_sub(opened.elapsed());
    let checks: Vec<_> = idle
        .into_iter()
        .map(|socket| tokio::spawn(closed_within(socket, limit)))
        .collect();
    let mut idle_closed = 0;
    for check in checks {
        idle_closed += usize::from(check.await.unwrap());
    }
    assert_eq!(idle_closed, 300, "idle sockets the server closed in time");
    let mut slow_closed = 0;
    for task in slow {
        if let Some(after) = task.await.unwrap() {
            assert!(
                after < Duration::from_secs(5),
                "a slowloris socket lived {after:?}"
            );
            slow_closed += 1;
        }
    }
    assert_eq!(slow_closed, 50, "slowloris sockets the server closed");

    // And the server still serves.
    assert_eq!(admin.get("/api/health").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_256_file_descriptors_and_400_idle_sockets_held_an_admin_is_still_served() {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("jeto.toml");
    // Default timeouts (10 s): only the connection cap can make room in time.
    std::fs::write(
        &config,
        config_toml_with(&fake, &data.path().join("data"), ""),
    )
    .unwrap();
    let mut command = Command::new("prlimit");
    command
        .arg("--nofile=256:256")
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_jeto"))
        .args(["serve", "--config", config.to_str().unwrap()]);
    let server = ServerProcess::spawn(command);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).unwrap();
    assert!(
        limits
            .lines()
            .any(|l| l.starts_with("Max open files") && l.contains(" 256 ")),
        "prlimit (util-linux) did not lower the limit: {limits}"
    );

    let mut held = Vec::new();
    for _ in 0..400 {
        held.push(TcpStream::connect(server.address).await.unwrap());
    }
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let answered = tokio::time::timeout(Duration::from_secs(5), admin.get("/api/instances"))
        .await
        .expect("an admin request is answered while 400 idle sockets are held");
    assert_eq!(answered.status, 200, "{}", answered.text());
    // Vagrant can still be spawned (descriptors were kept for it).
    register(&admin, "fd", 1, &fake.single()).await;
    let status = admin.get("/api/instances/1?max_age=0").await;
    assert_eq!(status.status, 200, "{}", status.text());
    assert_eq!(
        status.json()["status_error"],
        json!(null),
        "{}",
        status.text()
    );
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_comes_is_answered_408() {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let server = start_server_with(&fake, data.path(), SHORT_TIMEOUTS);
    let mut socket = TcpStream::connect(server.address).await.unwrap();
    let head = format!(
        "POST /api/hosts HTTP/1.1\r\nHost: x\r\nX-JETO-KEY: {ADMIN_KEY}\r\nContent-Type: application/json\r\nContent-Length: 40\r\nExpect: 100-continue\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(6), async {
        let mut buf = [0u8; 4096];
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if String::from_utf8_lossy(&answer).contains("body_read_timeout_secs") {
                        return;
                    }
                }
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&answer);
    assert!(read.is_ok(), "no answer within 6 s; got {text:?}");
    assert!(text.starts_with("HTTP/1.1 100 Continue"), "{text}");
    assert!(text.contains("HTTP/1.1 408"), "{text}");
    assert!(text.contains("body_timeout"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_are_capped_and_one_that_stops_reading_is_dropped() {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let folder = fake.another_single("flood");
    std::fs::write(
        folder.join("jeto.json"),
        r#"{"scripts": {"flood": {"command": "yes 0123456789012345678901234567890123456789012345678901234567890123456789 | head -c 30000000"}}}"#,
    )
    .unwrap();
    let server = start_server_top(
        &fake,
        data.path(),
        "max_followers_per_command = 1",
        SHORT_TIMEOUTS,
    );
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    register(&admin, "flood", 1, &folder).await;
    let started = admin
        .post("/api/instances/1", &json!({"state": "start"}))
        .await;
    assert_eq!(started.status, 200, "{}", started.text());
    let queued = admin
        .post(
            "/api/instances/1",
            &json!({"state": "runScript", "machine": "default", "script": "flood", "async": true}),
        )
        .await;
    assert_eq!(queued.status, 202, "{}", queued.text());
    let console = format!("{}/console?follow=true", queued.header("location").unwrap());

    // Follower A asks, reads the answer's head (it holds the slot then), and reads no more.
    let mut stalled = TcpStream::connect(server.address).await.unwrap();
    let request = format!("GET {console} HTTP/1.1\r\nHost: x\r\nX-JETO-KEY: {ADMIN_KEY}\r\n\r\n");
    stalled.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stalled.read(&mut buf).await.unwrap();
            assert!(n > 0, "the follower's answer ended early");
            head.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("the follower's answer starts");
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );

    // B is refused while A holds the only slot.
    let refused = admin.get(&console).await;
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert!(refused.header("retry-after").is_some());
    assert!(
        refused.text().contains("max_followers_per_command"),
        "{}",
        refused.text()
    );

    // A stops reading: once its socket is full, it is dropped after the write timeout, and
    // its slot is free again.
    let mut followed = None;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let answer = admin.get(&console).await;
        if answer.status == 200 {
            followed = Some(answer);
            break;
        }
        assert_eq!(answer.status, 429, "{}", answer.text());
    }
    let followed = followed.expect("the stalled follower was never dropped");
    assert!(followed.text().contains("0123456789"));
    drop(stalled);
}
