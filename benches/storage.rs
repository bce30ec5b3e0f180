//! Storage costs on the SQLite store, through the service, in one process (ratios against a
//! baseline measured in the same run):
//!
//! - creating 10,000 instances one by one: the mean of the last 100 creates / the first 100;
//! - a submit on an instance holding 40 commands with 1.2 MB consoles / a submit on an empty
//!   instance (each submit recorded, run and waited for).
//!
//! `cargo bench --bench storage` (no vagrant needed: the in-memory provider). `INSTANCES=N` to
//! change the 10,000.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jeto_core::access::Principal;
use jeto_core::service::CreateInstance;
use jeto_core::store::{Page, SqliteStore, Store};
use jeto_core::testing::InMemoryProvider;
use jeto_core::Host;
use jeto_core::SchedulerConfig;
use jeto_core::{Action, ActionRequest, Jeto, JetoConfig};

fn mean(samples: &[Duration]) -> Duration {
    samples.iter().sum::<Duration>() / samples.len() as u32
}

#[tokio::main]
async fn main() {
    let count: usize = std::env::var("INSTANCES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let data = tempfile::tempdir().unwrap();
    let provider = InMemoryProvider::new();
    let store = Arc::new(SqliteStore::open(data.path()).unwrap());
    let dyn_store: Arc<dyn Store> = store.clone();
    let config = JetoConfig {
        data_dir: Some(data.path().to_owned()),
        scheduler: SchedulerConfig {
            console_limit: 2 << 20,
            ..SchedulerConfig::default()
        },
        ..JetoConfig::default()
    };
    let jeto = Jeto::builder(Arc::new(provider.clone()))
        .store(dyn_store)
        .config(config)
        .build()
        .await
        .unwrap();
    let admin = Principal::admin("bench");
    let host = jeto
        .create_host(&admin, Host::new("h", "memory"))
        .await
        .unwrap();

    let mut creates = Vec::with_capacity(count);
    for i in 0..count {
        let path = format!("/srv/bench/{i}");
        provider.add_instance(path.clone(), &["default"]);
        let started = Instant::now();
        jeto.create_instance(
            &admin,
            CreateInstance::from_path(format!("i{i}"), host.id, path),
        )
        .await
        .unwrap();
        creates.push(started.elapsed());
    }
    let (first, last) = (mean(&creates[..100]), mean(&creates[count - 100..]));
    println!(
        "create, {count} instances one by one: first 100 {first:?}, last 100 {last:?} each: ratio {:.2}",
        last.as_secs_f64() / first.as_secs_f64()
    );

    // Instance 1 gets 40 finished commands of 1.2 MB output, written as the scheduler
    // writes them (a chunk a second); instance 2 none.
    let chunk = format!("{}\n", "x".repeat(999)).repeat(100);
    for _ in 0..40 {
        let queued = jeto
            .submit(&admin, 1, ActionRequest::new(Action::Start))
            .await;
        let mut command = queued.unwrap().wait().await;
        for _ in 0..12 {
            store
                .append_console(command.id, &chunk, 2 << 20)
                .await
                .unwrap();
        }
        command.console = None;
        store.update_command(&command).await.unwrap();
    }
    let listed = store.commands(1, Page::ALL).await.unwrap();
    assert_eq!(listed.len(), 40);
    assert!(listed.iter().all(|c| c.console_bytes >= 1_200_000));
    let submit = |id: u64| {
        let jeto = jeto.clone();
        let admin = admin.clone();
        async move {
            let mut samples = Vec::new();
            for _ in 0..50 {
                let started = Instant::now();
                let handle = jeto
                    .submit(&admin, id, ActionRequest::new(Action::Stop))
                    .await
                    .unwrap();
                samples.push(started.elapsed());
                handle.wait().await;
            }
            mean(&samples)
        }
    };
    let (empty, busy) = (submit(2).await, submit(1).await);
    println!(
        "submit, on an instance with 40 commands of 1.2 MB consoles {busy:?} vs an empty one {empty:?}: ratio {:.2}",
        busy.as_secs_f64() / empty.as_secs_f64()
    );
}
