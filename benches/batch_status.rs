//! Issue 27: the states of N instances of one host read the way the watcher reads them (batches
//! of 50 folders, one vagrant process each, `max_concurrent = 2` at a time) against one
//! `vagrant status` per instance (2 at a time), in the same run on the same folders. Prints both
//! times and the ratio.
//!
//! `cargo bench --bench batch_status [-- N [batched-only]]` (default 100 instances;
//! `batched-only` skips the one-by-one half, which takes minutes at 1,000). Needs vagrant
//! (`apt-get install -y vagrant`); no hypervisor (the jeto_fake plugin).

use std::time::Instant;

use futures_util::StreamExt;
use jeto_core::{Instance, Provider};
use jeto_vagrant::fixture::FakeVagrant;
use jeto_vagrant::VagrantProvider;

const MAX_CONCURRENT: usize = 2;
const BATCH: usize = 50;

fn main() {
    let count: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100);
    let batched_only = std::env::args().any(|a| a == "batched-only");
    let fake = FakeVagrant::new();
    let provider = VagrantProvider::new(fake.config());
    let host = FakeVagrant::host(&[]);
    let instances: Vec<Instance> = (0..count)
        .map(|n| {
            FakeVagrant::instance(
                n as u64 + 1,
                &fake.another_single(&format!("i{n}")),
                host.clone(),
            )
        })
        .collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let started = Instant::now();
        let batches: Vec<Vec<Instance>> = instances.chunks(BATCH).map(<[_]>::to_vec).collect();
        let answers: Vec<usize> = futures_util::stream::iter(batches)
            .map(|batch| {
                let provider = &provider;
                async move { provider.statuses(&batch).await.iter().filter(|a| a.is_ok()).count() }
            })
            .buffer_unordered(MAX_CONCURRENT)
            .collect()
            .await;
        let batched = started.elapsed();
        assert_eq!(answers.iter().sum::<usize>(), count, "every state read");
        if batched_only {
            println!(
                "{count} instances, max_concurrent = {MAX_CONCURRENT}: batched {:.1} s ({:.0} ms per instance)",
                batched.as_secs_f64(),
                batched.as_secs_f64() * 1000.0 / count as f64
            );
            return;
        }

        let started = Instant::now();
        let ok: Vec<bool> = futures_util::stream::iter(&instances)
            .map(|instance| {
                let provider = &provider;
                async move { provider.status(instance).await.is_ok() }
            })
            .buffer_unordered(MAX_CONCURRENT)
            .collect()
            .await;
        let one_by_one = started.elapsed();
        assert!(ok.iter().all(|ok| *ok));
        println!(
            "{count} instances, max_concurrent = {MAX_CONCURRENT}: batched {:.1} s ({:.0} ms per instance), one vagrant status each {:.1} s; {:.1}x faster",
            batched.as_secs_f64(),
            batched.as_secs_f64() * 1000.0 / count as f64,
            one_by_one.as_secs_f64(),
            one_by_one.as_secs_f64() / batched.as_secs_f64()
        );
    });
}
