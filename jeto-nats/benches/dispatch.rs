//! Dispatch overhead: one action through NATS to a worker with the in-memory provider, against
//! the same in-memory provider called directly, in the same run (p50 and p99 of 500 each,
//! interleaved). Needs `nats-server` (`apt-get install -y nats-server`).
//!
//! `cargo bench -p jeto-nats --bench dispatch`
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use jeto_core::testing::{instance_at, InMemoryProvider};
use jeto_core::{Action, ActionRequest, ConsoleSink, Provider};
use jeto_nats::testing::NatsServer;
use jeto_nats::{NatsProvider, Worker};

/// The keys of the server and its worker in these tests.
static TRUST: std::sync::LazyLock<jeto_nats::testing::TestTrust> =
    std::sync::LazyLock::new(jeto_nats::testing::TestTrust::new);

const ROUNDS: usize = 500;

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let nats = NatsServer::start();
        let memory = InMemoryProvider::new().with_instance("/srv/app", &["web"]);
        let _worker = Worker::start(
            nats.client().await,
            Arc::new(memory.clone()),
            vec![1],
            TRUST.worker(),
        )
        .await
        .unwrap();
        let remote =
            NatsProvider::connect(nats.client().await, TRUST.server.clone(), TRUST.workers())
                .await
                .unwrap();
        let instance = instance_at(1, "/srv/app");
        let start = ActionRequest::new(Action::Start).check(&instance).unwrap();
        // Warm both paths.
        for _ in 0..20 {
            remote
                .run(&instance, &start, ConsoleSink::discard())
                .await
                .unwrap();
        }
        let (mut direct, mut over_nats) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let t = Instant::now();
            memory
                .run(&instance, &start, ConsoleSink::discard())
                .await
                .unwrap();
            direct.push(t.elapsed());
            let t = Instant::now();
            remote
                .run(&instance, &start, ConsoleSink::discard())
                .await
                .unwrap();
            over_nats.push(t.elapsed());
        }
        let (d50, d99) = (percentile(&mut direct, 0.5), percentile(&mut direct, 0.99));
        let (n50, n99) = (
            percentile(&mut over_nats, 0.5),
            percentile(&mut over_nats, 0.99),
        );
        println!("direct     p50 {d50:>10.3?}  p99 {d99:>10.3?}");
        println!("over NATS  p50 {n50:>10.3?}  p99 {n99:>10.3?}");
        println!(
            "overhead   p50 {:>10.3?}  p99 {:>10.3?}  ({ROUNDS} actions each, interleaved)",
            n50.saturating_sub(d50),
            n99.saturating_sub(d99)
        );
    });
}
