//! Issue 24, item 6: a tenant cannot starve the box. 30 parallel machine-detail reads by a key
//! with only `status` used to make an admin's sync start wait for every one of them (116 s
//! instead of 1.2 s): each held a provider slot, none were shared, none were bounded. Now reads
//! of one machine share one vagrant process, a key has at most `max_reads_per_key` reads in
//! progress (429 beyond), and reads never hold the last slot, so the start runs beside them.
//!
//! Alone in its test binary: it compares two timings of the same run, which other tests running
//! beside it would disturb.

mod common;

use std::time::{Duration, Instant};

use common::{register, start_server, ADMIN_KEY, CI_KEY};
use jeto_http::testing::TestClient;
use jeto_vagrant::fixture::FakeVagrant;
use serde_json::json;

async fn sync(admin: &TestClient, id: u64, state: &str) -> Duration {
    let started = Instant::now();
    let answer = admin
        .post(&format!("/api/instances/{id}"), &json!({"state": state}))
        .await;
    assert_eq!(answer.status, 200, "{state}: {}", answer.text());
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_parallel_detail_reads_by_a_tenant_do_not_starve_an_admins_start() {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let server = start_server(&fake, data.path());
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let tenant = TestClient::new(server.address, Some(CI_KEY));
    let mine = register(&admin, "admins", 1, &fake.single()).await;
    let theirs = register(&admin, "tenants", 1, &fake.another_single("tenants")).await;

    // Idle: the same start twice (the slower one counts), stopping in between.
    let mut idle = Duration::ZERO;
    for _ in 0..2 {
        idle = idle.max(sync(&admin, mine, "start").await);
        sync(&admin, mine, "stop").await;
    }

    // Loaded: 30 readers reading the tenant's machine over and over until the start is done.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..30)
        .map(|_| {
            let (tenant, done) = (tenant.clone(), done.clone());
            tokio::spawn(async move {
                let (mut ok, mut refused) = (0, 0);
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let answer = tenant
                        .get(&format!("/api/instances/{theirs}/machines/default"))
                        .await;
                    match answer.status.as_u16() {
                        200 => ok += 1,
                        429 => {
                            assert!(
                                answer.text().contains("max_reads_per_key"),
                                "{}",
                                answer.text()
                            );
                            assert!(answer.header("retry-after").is_some());
                            refused += 1;
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        other => panic!("a read answered {other}: {}", answer.text()),
                    }
                }
                (ok, refused)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let loaded = sync(&admin, mine, "start").await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut ok, mut refused) = (0, 0);
    for reader in readers {
        let (o, r) = reader.await.unwrap();
        ok += o;
        refused += r;
    }
    println!(
        "sync start: {:.2} s idle, {:.2} s beside 30 readers ({ok} reads answered, {refused} refused): {:.2}x",
        idle.as_secs_f64(),
        loaded.as_secs_f64(),
        loaded.as_secs_f64() / idle.as_secs_f64()
    );
    assert!(ok > 0, "the tenant's reads are answered too");
    assert!(
        loaded.as_secs_f64() <= idle.as_secs_f64() * 1.5,
        "the start took {loaded:?} beside the reads, {idle:?} idle"
    );
}
