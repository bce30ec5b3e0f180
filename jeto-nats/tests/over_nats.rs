//! The NATS provider and a worker against a real `nats-server` with JetStream: the provider
//! conformance suite through NATS, and a host with no worker.

use std::sync::Arc;
use std::time::Duration;

use jeto_core::testing::conformance::{self, Fixture};
use jeto_core::testing::{instance_at, InMemoryProvider};
use jeto_core::{Action, ActionRequest, ConsoleSink, ErrorKind, Provider};
use jeto_nats::testing::{payload_of, seal, NatsServer};
use jeto_nats::{NatsProvider, Worker};

/// The keys of the server and its worker in these tests.
static TRUST: std::sync::LazyLock<jeto_nats::testing::TestTrust> =
    std::sync::LazyLock::new(jeto_nats::testing::TestTrust::new);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_conformance_suite_passes_through_a_worker() {
    let nats = NatsServer::start();
    let memory = InMemoryProvider::new();
    // The fixture's instances are on host 1, which the worker serves.
    let fixture = Fixture::in_memory(&memory);
    let _worker = Worker::start(
        nats.client().await,
        Arc::new(memory.clone()),
        vec![1],
        TRUST.worker(),
    )
    .await
    .unwrap();
    let provider =
        NatsProvider::connect(nats.client().await, TRUST.server.clone(), TRUST.workers())
            .await
            .unwrap();
    conformance::run_all(&provider, &fixture).await;
    // The cancelled slow script reached the worker's provider once: not run again.
    let slow = memory
        .stats()
        .runs
        .iter()
        .filter(|(_, r)| r.script.as_deref() == Some("slow"))
        .count();
    assert_eq!(slow, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_without_a_worker_is_unavailable_at_once() {
    let nats = NatsServer::start();
    let memory = InMemoryProvider::new().with_instance("/srv/app", &["web"]);
    let _worker = Worker::start(
        nats.client().await,
        Arc::new(memory),
        vec![1],
        TRUST.worker(),
    )
    .await
    .unwrap();
    // Long enough that only NATS's "no responders" can end the calls below.
    let provider =
        NatsProvider::connect(nats.client().await, TRUST.server.clone(), TRUST.workers())
            .await
            .unwrap()
            .with_call_timeout(Duration::from_secs(300));
    let mut elsewhere = instance_at(1, "/srv/app");
    elsewhere.host.id = 2;
    let error = provider.status(&elsewhere).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    assert!(
        error.to_string().contains("no worker is online for host 2"),
        "{error}"
    );
    let start = ActionRequest::new(Action::Start).check(&elsewhere).unwrap();
    let error = provider
        .run(&elsewhere, &start, ConsoleSink::discard())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    // Host 1 is served.
    let served = instance_at(1, "/srv/app");
    assert_eq!(provider.status(&served).await.unwrap()[0].name, "web");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_stops_mid_action_ends_it_interrupted_and_it_is_not_run_again() {
    let nats = NatsServer::start();
    // Every call of this provider takes 60 s: the action is surely mid-way when the worker goes.
    let memory = InMemoryProvider::new()
        .with_instance("/srv/app", &["web"])
        .with_delay(Duration::from_secs(60));
    let worker = Worker::start(
        nats.client().await,
        Arc::new(memory.clone()),
        vec![1],
        TRUST.worker(),
    )
    .await
    .unwrap();
    let provider =
        NatsProvider::connect(nats.client().await, TRUST.server.clone(), TRUST.workers())
            .await
            .unwrap()
            .with_silence_limit(Duration::from_secs(2));
    let instance = instance_at(1, "/srv/app");
    let start = ActionRequest::new(Action::Start).check(&instance).unwrap();
    let running = tokio::spawn({
        let (provider, instance) = (provider.clone(), instance.clone());
        async move {
            provider
                .run(&instance, &start, ConsoleSink::discard())
                .await
        }
    });
    while memory.running() == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(worker); // as if its box died: no more heartbeats, the action's future is gone
    let outcome = tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the caller is not left hanging")
        .unwrap()
        .unwrap();
    let error = outcome.error.expect("a failed outcome");
    assert_eq!(error.kind, jeto_core::FailureKind::Interrupted, "{error:?}");
    // Either the caller noticed the silence first, or the dropped worker's own tasks said so
    // as they stopped (which one wins is a race on a loaded machine); both end it interrupted.
    assert!(
        error.message.contains("not be run again")
            || error.message.contains("stopped before this action ended"),
        "{error:?}"
    );

    // A new worker gets the unacknowledged action again (after its lease), says it was
    // interrupted, acknowledges it, and does not run it a second time.
    let _again = Worker::start(
        nats.client().await,
        Arc::new(memory.clone()),
        vec![1],
        TRUST.worker(),
    )
    .await
    .unwrap();
    let jetstream = async_nats::jetstream::new(nats.client().await);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        let mut stream = jetstream.get_stream("JETO_COMMANDS").await.unwrap();
        if stream.info().await.unwrap().state.messages == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the action was never acknowledged after the worker came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(memory.stats().runs.len(), 1, "run once, never again");
    assert_eq!(memory.running(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_acts_only_for_its_own_hosts_whatever_a_message_says() {
    use futures_util::StreamExt;
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
    let client = nats.client().await;
    let mut elsewhere = instance_at(1, "/srv/app");
    elsewhere.host.id = 2;

    // Signed by the server, but a read on host 1's subject about an instance of host 2.
    let call = serde_json::json!({"call": "status", "instance": elsewhere});
    let reply = client
        .request(
            "jeto.host.1.call",
            seal(&TRUST.server, "jeto.host.1.call", "call-1", &call),
        )
        .await
        .unwrap();
    let reply = payload_of(&reply.payload).to_string();
    assert!(reply.contains("serves host 1 only"), "{reply}");

    // An action queued on host 1's subject for an instance of host 2.
    let mut out = client.subscribe("jeto.run.forged.out").await.unwrap();
    let action = serde_json::json!({
        "run": "forged", "instance": elsewhere, "request": ActionRequest::new(Action::Start),
        "workers": [TRUST.worker.public_key()],
    });
    let jetstream = async_nats::jetstream::new(client.clone());
    jetstream
        .publish(
            "jeto.host.1.command",
            seal(&TRUST.server, "jeto.host.1.command", "forged", &action),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(20), out.next())
        .await
        .expect("the worker answers")
        .unwrap();
    let answer = payload_of(&answer.payload).to_string();
    assert!(
        answer.contains("serves host 1 only, not host 2"),
        "{answer}"
    );
    assert!(memory.stats().runs.is_empty(), "nothing ran");
}

/// Instances `/srv/a` (id 1) and `/srv/b` (id 2) whose actions take 2 s, served by a worker
/// that runs one action at a time (so a second waits in the stream), and a provider to them.
async fn one_at_a_time(nats: &NatsServer) -> (InMemoryProvider, Worker, NatsProvider) {
    let memory = InMemoryProvider::new()
        .with_instance("/srv/a", &["web"])
        .with_instance("/srv/b", &["web"])
        .with_delay(Duration::from_secs(2));
    let mut config = jeto_nats::WorkerConfig::named("one-at-a-time");
    config.max_actions = 1;
    let worker = Worker::start_with(
        nats.client().await,
        Arc::new(memory.clone()),
        vec![1],
        TRUST.worker(),
        config,
    )
    .await
    .unwrap();
    let provider =
        NatsProvider::connect(nats.client().await, TRUST.server.clone(), TRUST.workers())
            .await
            .unwrap();
    (memory, worker, provider)
}

/// Starts the instance at `path` (of [`one_at_a_time`]) through `provider`, in a task.
fn send(
    provider: &NatsProvider,
    path: &'static str,
) -> tokio::task::JoinHandle<Result<jeto_core::Outcome, jeto_core::ProviderError>> {
    let provider = provider.clone();
    tokio::spawn(async move {
        let instance = instance_at(if path == "/srv/a" { 1 } else { 2 }, path);
        let start = ActionRequest::new(Action::Start).check(&instance).unwrap();
        provider
            .run(&instance, &start, ConsoleSink::discard())
            .await
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_given_up_while_still_queued_is_never_run() {
    let nats = NatsServer::start();
    let (memory, _worker, provider) = one_at_a_time(&nats).await;
    let first = send(&provider, "/srv/a");
    while memory.running() == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let second = send(&provider, "/srv/b");
    tokio::time::sleep(Duration::from_millis(500)).await;
    second.abort(); // its caller goes away while it is queued
    assert!(first.await.unwrap().unwrap().error.is_none());
    // Long enough for the worker to have taken the second had it still been there.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let runs: Vec<String> = memory.stats().runs.into_iter().map(|(p, _)| p).collect();
    assert_eq!(runs, vec!["/srv/a".to_owned()], "the given-up action ran");
    let jetstream = async_nats::jetstream::new(nats.client().await);
    let mut stream = jetstream.get_stream("JETO_COMMANDS").await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 0);
}

/// Issue 24, item 4, its bounds (beats are not yet signed; see the issue): 100 beats of 900 KB
/// used to be kept by the server (19 MB to 379 MB) and listed to any key. The presence bucket
/// this version makes refuses values over 4 KiB, and the server ignores oversized beats in a
/// bucket made without that limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_presence_beats_are_refused_and_ignored() {
    let flood = |i: usize| {
        let beat = serde_json::json!({"name": format!("flood-{i}"), "hosts": [1], "running": 0, "pad": "x".repeat(900 * 1024)});
        bytes::Bytes::from(beat.to_string())
    };

    // The bucket as this version makes it: the flood is refused by NATS itself.
    let nats = NatsServer::start();
    let provider =
        NatsProvider::connect(nats.client().await, TRUST.server.clone(), TRUST.workers())
            .await
            .unwrap();
    let presence = async_nats::jetstream::new(nats.client().await)
        .get_key_value("jeto_workers")
        .await
        .unwrap();
    assert!(
        presence.put("flood-0", flood(0)).await.is_err(),
        "a 900 KB beat was stored"
    );

    // A bucket an earlier version made, without the limit: the flood is stored, and ignored.
    let old = NatsServer::start();
    let jetstream = async_nats::jetstream::new(old.client().await);
    // (Made as a stream, as jeto-nats makes its buckets: async-nats's create_key_value does
    // not read nats-server 2.9's answer.)
    jetstream
        .get_or_create_stream(async_nats::jetstream::stream::Config {
            name: "KV_jeto_workers".into(),
            subjects: vec!["$KV.jeto_workers.>".into()],
            max_messages_per_subject: 1,
            max_age: Duration::from_secs(10),
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let unlimited = jetstream.get_key_value("jeto_workers").await.unwrap();
    for i in 0..100 {
        unlimited.put(format!("flood-{i}"), flood(i)).await.unwrap();
    }
    let provider_old =
        NatsProvider::connect(old.client().await, TRUST.server.clone(), TRUST.workers())
            .await
            .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let host = instance_at(1, "/srv/app").host;
    assert_eq!(provider_old.workers(&host).await.unwrap(), vec![]);
    assert_eq!(provider.workers(&host).await.unwrap(), vec![]);
}

/// Issue 24, item 3: any NATS client that sees a queued action (its subject carries the run)
/// could write `withdrawn` for it in the results bucket: the worker then never ran it, and its
/// caller waited forever. Now records are signed: the forged one counts as no record at all,
/// the worker claims the run over it and runs it, and its caller gets its real end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_withdrawal_changes_nothing() {
    use futures_util::StreamExt;
    let nats = NatsServer::start();
    // The second action waits in the stream, where the forger sees it.
    let (memory, _worker, provider) = one_at_a_time(&nats).await;
    let forger = nats.client().await;
    let mut queued = forger.subscribe("jeto.host.1.command").await.unwrap();
    let results = async_nats::jetstream::new(forger.clone())
        .get_key_value("jeto_results")
        .await
        .unwrap();
    let first = send(&provider, "/srv/a");
    queued.next().await.unwrap();
    while memory.running() == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let second = send(&provider, "/srv/b");
    let message = queued.next().await.unwrap();
    let run = payload_of(&message.payload)["run"]
        .as_str()
        .unwrap()
        .to_owned();
    // Unsigned, and signed by a key nobody trusts.
    results
        .create(&run, bytes::Bytes::from_static(b"\"withdrawn\""))
        .await
        .unwrap();
    let stranger = jeto_nats::SigningKey::generate();
    results
        .put(
            &run,
            seal(
                &stranger,
                &format!("jeto_results.{run}"),
                &run,
                &serde_json::json!("withdrawn"),
            ),
        )
        .await
        .unwrap();

    let outcome = tokio::time::timeout(Duration::from_secs(20), second)
        .await
        .expect("the action ended")
        .unwrap()
        .unwrap();
    assert!(outcome.error.is_none(), "{outcome:?}");
    assert!(first.await.unwrap().unwrap().error.is_none());
    let runs: Vec<String> = memory.stats().runs.into_iter().map(|(p, _)| p).collect();
    assert_eq!(runs, vec!["/srv/a".to_owned(), "/srv/b".to_owned()]);
}
