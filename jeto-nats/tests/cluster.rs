//! A three-node NATS cluster (JetStream replicas 3) losing a node during a burst of actions:
//! every action the caller had queued ends with its worker's result, and none runs twice.

use std::sync::Arc;
use std::time::Duration;

use jeto_core::testing::{instance_at, InMemoryProvider};
use jeto_core::{Action, ActionRequest, ConsoleSink, Provider};
use jeto_nats::testing::NatsCluster;
use jeto_nats::{JetStreamSetup, NatsProvider, Worker, WorkerConfig};

/// The keys of the server and its worker in these tests.
static TRUST: std::sync::LazyLock<jeto_nats::testing::TestTrust> =
    std::sync::LazyLock::new(jeto_nats::testing::TestTrust::new);

const BURST: u64 = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_during_a_burst_loses_no_queued_action() {
    let mut cluster = NatsCluster::start(3);
    let setup = JetStreamSetup::replicas(3);
    // Each action takes a while, so the burst is in flight when the node goes.
    let memory = InMemoryProvider::new().with_delay(Duration::from_millis(300));
    for n in 1..=BURST {
        memory.add_instance(format!("/srv/app{n}"), &["web"]);
    }
    let mut config = WorkerConfig::named("cluster-worker");
    config.setup = setup.clone();
    let _worker = Worker::start_with(
        cluster.client().await,
        Arc::new(memory.clone()),
        vec![1],
        TRUST.worker(),
        config,
    )
    .await
    .unwrap();
    let provider = NatsProvider::connect_with(
        cluster.client().await,
        &setup,
        TRUST.server.clone(),
        TRUST.workers(),
    )
    .await
    .unwrap();

    let send = |n: u64| {
        let provider = provider.clone();
        tokio::spawn(async move {
            let instance = instance_at(n, &format!("/srv/app{n}"));
            let start = ActionRequest::new(Action::Start).check(&instance).unwrap();
            provider
                .run(&instance, &start, ConsoleSink::discard())
                .await
        })
    };
    let mut runs: Vec<_> = (1..=BURST / 2).map(send).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Kill the node leading the command stream: the harshest one to lose.
    let jetstream = async_nats::jetstream::new(cluster.client().await);
    let leader = jetstream
        .get_stream("JETO_COMMANDS")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .cluster
        .clone()
        .and_then(|c| c.leader)
        .expect("the stream has a leader");
    let index: usize = leader.trim_start_matches("jeto-").parse().unwrap();
    cluster.nodes[index].kill();
    println!("killed {leader} with {} actions in flight", BURST / 2);
    runs.extend((BURST / 2 + 1..=BURST).map(send));

    let mut failures = Vec::new();
    for (n, run) in runs.into_iter().enumerate() {
        match tokio::time::timeout(Duration::from_secs(120), run).await {
            Err(_) => failures.push(format!("action {}: no answer in 120 s", n + 1)),
            Ok(joined) => match joined.unwrap() {
                Ok(outcome) if outcome.error.is_none() => {}
                Ok(outcome) => failures.push(format!("action {}: {:?}", n + 1, outcome.error)),
                Err(error) => failures.push(format!("action {}: {error}", n + 1)),
            },
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {BURST}: {failures:#?}",
        failures.len()
    );
    // Each ran once: none lost, none repeated.
    let runs = memory.stats().runs;
    assert_eq!(runs.len() as u64, BURST, "{runs:?}");
    let mut paths: Vec<_> = runs.iter().map(|(path, _)| path.clone()).collect();
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len() as u64, BURST, "an action ran twice: {runs:?}");
}
