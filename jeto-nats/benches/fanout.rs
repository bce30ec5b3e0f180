//! Fan-out: 100 workers (each its own NATS connection, as 100 boxes would be) in one process,
//! each serving one host of 100 instances; a fresh status of all 10,000 through
//! `NatsProvider`, against the same in-memory provider called directly for all of them, in the
//! same run. Prints the time of each, the ratio, whether every instance answered, and the
//! NATS messages per instance. Needs `nats-server` (`apt-get install -y nats-server`).
//!
//! `cargo bench -p jeto-nats --bench fanout`
#![allow(missing_docs)]

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt;
use jeto_core::testing::{instance_at, InMemoryProvider};
use jeto_core::Provider;
use jeto_nats::testing::NatsServer;
use jeto_nats::{NatsProvider, Worker};

/// The keys of the server and its worker in these tests.
static TRUST: std::sync::LazyLock<jeto_nats::testing::TestTrust> =
    std::sync::LazyLock::new(jeto_nats::testing::TestTrust::new);

const WORKERS: u64 = 100;
const PER_HOST: u64 = 100;
/// Status calls in flight at once from the server.
const IN_FLIGHT: usize = 512;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let nats = NatsServer::start();
        let memory = InMemoryProvider::new();
        let mut instances = Vec::new();
        for host in 1..=WORKERS {
            for n in 1..=PER_HOST {
                let path = format!("/srv/h{host}/i{n}");
                memory.add_instance(path.clone(), &["web", "db"]);
                let mut instance = instance_at(host * 1000 + n, &path);
                instance.host.id = host;
                instances.push(instance);
            }
        }
        let mut workers = Vec::new();
        let mut worker_clients = Vec::new();
        for host in 1..=WORKERS {
            let client = nats.client().await;
            worker_clients.push(client.clone());
            workers.push(
                Worker::start(client, Arc::new(memory.clone()), vec![host], TRUST.worker())
                    .await
                    .unwrap(),
            );
        }
        let client = nats.client().await;
        let remote = NatsProvider::connect(client.clone(), TRUST.server.clone(), TRUST.workers()).await.unwrap();

        let fan_out = |provider: Arc<dyn Provider>| {
            let instances = instances.clone();
            async move {
                let start = Instant::now();
                let answered: Vec<usize> = futures_util::stream::iter(instances)
                    .map(|instance| {
                        let provider = provider.clone();
                        async move {
                            provider
                                .status(&instance)
                                .await
                                .map(|machines| machines.len())
                                .unwrap_or(0)
                        }
                    })
                    .buffer_unordered(IN_FLIGHT)
                    .collect()
                    .await;
                (start.elapsed(), answered)
            }
        };
        // Warm-up round, then the measured ones.
        fan_out(Arc::new(remote.clone())).await;
        let (sent, received) = counts(&client);
        let (direct_time, direct) = fan_out(Arc::new(memory.clone())).await;
        let (nats_time, over_nats) = fan_out(Arc::new(remote.clone())).await;
        let (sent_after, received_after) = counts(&client);
        let total = instances.len();
        let all_answered = over_nats.iter().filter(|&&m| m == 2).count();
        assert_eq!(
            direct.iter().filter(|&&m| m == 2).count(),
            total,
            "the direct baseline answers all"
        );
        println!(
            "{WORKERS} workers, {total} instances, {IN_FLIGHT} in flight, one nats-server on loopback"
        );
        println!("direct     {direct_time:>10.3?}");
        println!(
            "over NATS  {nats_time:>10.3?}  ({:.0}x direct, {:.1} us per instance)",
            nats_time.as_secs_f64() / direct_time.as_secs_f64(),
            nats_time.as_secs_f64() * 1e6 / total as f64
        );
        println!("answered   {all_answered} of {total} (each with its 2 machines)");
        println!(
            "messages   {:.2} per instance at the server ({} sent, {} received)",
            (sent_after - sent + received_after - received) as f64 / total as f64,
            sent_after - sent,
            received_after - received
        );
        assert_eq!(all_answered, total, "every instance answered over NATS");
        drop(workers);
    });
}

/// Messages this client has sent and received so far.
fn counts(client: &async_nats::Client) -> (u64, u64) {
    let stats = client.statistics();
    (
        stats.out_messages.load(Ordering::Relaxed),
        stats.in_messages.load(Ordering::Relaxed),
    )
}
