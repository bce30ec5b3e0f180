//! [`Worker`]: a hypervisor box's side: serves the calls and actions of its hosts with the
//! box's own provider.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use async_nats::jetstream::{self, consumer::pull, kv, AckKind};
use async_nats::Client;
use futures_util::StreamExt;
use jeto_core::{CommandError, ConsoleSink, DynProvider, FailureKind, Outcome, ProviderError};

use crate::presence;
use crate::signing::{self, SeenIds};
use crate::streams::{JetStreamSetup, HEARTBEAT};
use crate::wire::{self, Call, CommandMessage, Output, Reply, RunRecord};
use crate::WorkerTrust;

/// How old a call may be when it arrives (beyond the clocks' skew).
const CALL_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(60);
/// How old an action may be when a worker takes it from the queue. Below the results
/// bucket's retention: a run delivered again within it finds its record (never run twice),
/// and a copy sent after that is too old.
const COMMAND_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(50 * 60);

/// How a worker presents itself and how much it takes on at once.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WorkerConfig {
    /// Its name in the presence bucket and in `GET /api/hosts/{id}/workers`: letters,
    /// digits, `-` and `_` (others become `_`). Default: `worker-` and the process id.
    pub name: String,
    /// Reads it answers at once per host (default 32); more wait in NATS, bounded by the
    /// caller's timeout.
    pub max_calls: usize,
    /// Actions it runs at once per host (default 32); more stay in the stream for other
    /// workers of the host, or for later.
    pub max_actions: usize,
    /// How the stream and buckets are made if this worker is the first to need them.
    pub setup: JetStreamSetup,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            name: format!("worker-{}", std::process::id()),
            max_calls: 32,
            max_actions: 32,
            setup: JetStreamSetup::default(),
        }
    }
}

impl WorkerConfig {
    /// The defaults, under `name` (the default name when `name` is empty).
    pub fn named(name: &str) -> Self {
        let defaults = WorkerConfig::default();
        if name.is_empty() {
            return defaults;
        }
        WorkerConfig {
            name: name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect(),
            ..defaults
        }
    }
}

/// Serves hosts' calls and actions with a provider; stops when dropped (its running actions
/// stop too, and it leaves the presence bucket).
#[derive(Debug)]
pub struct Worker {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The tasks taking actions from the queues (they end once drained).
    action_tasks: Vec<tokio::task::JoinHandle<()>>,
    presence: kv::Store,
    name: String,
    draining: tokio::sync::watch::Sender<bool>,
    stop_now: tokio::sync::watch::Sender<bool>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        for task in self.tasks.iter().chain(&self.action_tasks) {
            task.abort();
        }
        // Offline at once rather than when its key expires; Drop cannot wait for it.
        let (presence, name) = (self.presence.clone(), self.name.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = presence.delete(&name).await;
            });
        }
    }
}

impl Worker {
    /// Stops serving (running actions stop; their messages are delivered again and
    /// answered `interrupted`) and leaves the presence bucket, so its hosts show offline at
    /// once.
    pub async fn stop(mut self) {
        for task in self.tasks.drain(..).chain(self.action_tasks.drain(..)) {
            task.abort();
        }
        let _ = self.presence.delete(&self.name).await;
    }

    /// Stops gracefully: says at once that it drains (the server sends it nothing new), takes
    /// no new action, lets running ones finish within `deadline`, ends those still running
    /// then as `interrupted` (recorded and told to the server, which does not wait for a
    /// silence), and stops. Reads are answered until the end. The number interrupted.
    pub async fn drain(mut self, deadline: std::time::Duration) -> usize {
        self.draining.send_replace(true);
        tracing::info!(worker = %self.name, drain_secs = deadline.as_secs(), "draining: no new actions; waiting for the running ones");
        let mut tasks = std::mem::take(&mut self.action_tasks);
        let all = async {
            for task in &mut tasks {
                let _ = task.await;
            }
        };
        let mut interrupted = 0;
        if tokio::time::timeout(deadline, all).await.is_err() {
            interrupted = self.running();
            tracing::warn!(
                interrupted,
                "actions still running at the end of the drain are interrupted"
            );
            self.stop_now.send_replace(true);
            // Each records and publishes its end; bounded, in case NATS is gone.
            let ends = async {
                for task in &mut tasks {
                    let _ = task.await;
                }
            };
            let _ = tokio::time::timeout(HEARTBEAT * 5, ends).await;
        }
        self.action_tasks = tasks;
        self.stop().await;
        interrupted
    }

    fn running(&self) -> usize {
        self.action_tasks
            .iter()
            .filter(|t| !t.is_finished())
            .count()
    }
}

/// What every action task of a worker shares.
#[derive(Clone)]
struct ActionContext {
    client: Client,
    provider: DynProvider,
    results: kv::Store,
    name: String,
    running: Arc<AtomicU32>,
    trust: WorkerTrust,
    /// Runs this worker is working on: a message of one of them delivered again (its lease ran
    /// out while the worker was busy) is not answered, only its lease renewed.
    active: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    /// Set when the worker drains: no new action is taken.
    draining: tokio::sync::watch::Receiver<bool>,
    /// Set when the drain's time is up: running actions end `interrupted`.
    stop_now: tokio::sync::watch::Receiver<bool>,
}

/// A run this worker works on, forgotten when dropped.
struct ActiveRun {
    active: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    run: String,
}

impl ActiveRun {
    /// Notes `run` as worked on here; `None` when it already is.
    fn enter(context: &ActionContext, run: &str) -> Option<ActiveRun> {
        let mut active = context.active.lock().unwrap_or_else(|e| e.into_inner());
        active.insert(run.to_owned()).then(|| ActiveRun {
            active: context.active.clone(),
            run: run.to_owned(),
        })
    }
}

impl Drop for ActiveRun {
    fn drop(&mut self) {
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        active.remove(&self.run);
    }
}

impl Worker {
    /// Starts serving `hosts` with `provider`, as `trust` says, and the default
    /// [`WorkerConfig`].
    pub async fn start(
        client: Client,
        provider: DynProvider,
        hosts: Vec<u64>,
        trust: WorkerTrust,
    ) -> Result<Worker, ProviderError> {
        Worker::start_with(client, provider, hosts, trust, WorkerConfig::default()).await
    }

    /// Starts serving `hosts` with `provider`: their reads at once, their actions from the
    /// work queue (one durable consumer per host, shared by all the host's workers), and
    /// announces itself every heartbeat.
    pub async fn start_with(
        client: Client,
        provider: DynProvider,
        hosts: Vec<u64>,
        trust: WorkerTrust,
        config: WorkerConfig,
    ) -> Result<Worker, ProviderError> {
        let jetstream = jetstream::new(client.clone());
        let stream = config.setup.command_stream(&jetstream).await?;
        let presence = config.setup.presence(&jetstream).await?;
        let (draining, draining_now) = tokio::sync::watch::channel(false);
        let (stop_now, stop_now_rx) = tokio::sync::watch::channel(false);
        let context = ActionContext {
            client: client.clone(),
            provider: provider.clone(),
            results: config.setup.results(&jetstream).await?,
            name: config.name.clone(),
            running: Arc::default(),
            trust: trust.clone(),
            active: Arc::default(),
            draining: draining_now.clone(),
            stop_now: stop_now_rx,
        };
        let mut action_tasks = Vec::new();
        let seen = Arc::new(SeenIds::default());
        let mut tasks = Vec::new();
        for &host in &hosts {
            let calls = client
                .queue_subscribe(wire::call_subject(host), "jeto-workers".into())
                .await
                .map_err(|e| {
                    ProviderError::other(format!("listening for host {host}'s calls"), e)
                })?;
            tasks.push(tokio::spawn(serve_calls(
                context.clone(),
                seen.clone(),
                host,
                calls,
                config.max_calls.max(1),
            )));
            let name = format!("host-{host}");
            let consumer = stream
                .get_or_create_consumer(
                    &name,
                    pull::Config {
                        durable_name: Some(name.clone()),
                        filter_subject: wire::command_subject(host),
                        ack_policy: jetstream::consumer::AckPolicy::Explicit,
                        ack_wait: HEARTBEAT * 5,
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| ProviderError::other(format!("following host {host}'s actions"), e))?;
            action_tasks.push(tokio::spawn(serve_actions(
                context.clone(),
                host,
                consumer,
                config.max_actions.max(1),
            )));
        }
        tasks.push(tokio::spawn(presence::announce(
            presence.clone(),
            trust.key.clone(),
            config.name.clone(),
            hosts,
            context.running.clone(),
            draining_now,
        )));
        // Subscriptions are live once the server has them.
        client
            .flush()
            .await
            .map_err(|e| ProviderError::other("reaching NATS", e))?;
        Ok(Worker {
            tasks,
            action_tasks,
            presence,
            name: config.name,
            draining,
            stop_now,
        })
    }
}

async fn serve_calls(
    context: ActionContext,
    seen: Arc<SeenIds>,
    host: u64,
    mut calls: async_nats::Subscriber,
    max_calls: usize,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(max_calls));
    let subject = wire::call_subject(host);
    while let Some(message) = calls.next().await {
        let Some(reply_to) = message.reply.clone() else {
            continue;
        };
        // Only what the server signed, for this host, lately, and once: anything else gets no
        // answer at all (an answer would tell a stranger that a worker listens).
        let call = match signing::open::<Call>(&message.payload, &subject) {
            Ok(call)
                if call.key == context.trust.server
                    && call.fresh(CALL_MAX_AGE)
                    && seen.first_time(&call.id, call.at, CALL_MAX_AGE) =>
            {
                call
            }
            Ok(call) => {
                tracing::warn!(signer = %call.key, host, "refusing a call not signed by the server, stale, or replayed");
                continue;
            }
            Err(why) => {
                tracing::warn!(host, "refusing a call: {why}");
                continue;
            }
        };
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let context = context.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let reply: Reply = answer(&context, host, call.body).await;
            let sealed = context.trust.key.seal(reply_to.as_str(), &call.id, &reply);
            if let Err(error) = context.client.publish(reply_to, sealed).await {
                tracing::warn!(%error, "could not answer a call");
            }
        });
    }
}

async fn answer(context: &ActionContext, host: u64, call: Call) -> Reply {
    let (provider, trust) = (&*context.provider, &context.trust);
    match call {
        Call::Ping => Ok(serde_json::Value::Null),
        Call::Status { instance } if instance.host.id == host => {
            let instance = trust.local_instance(instance)?;
            provider.status(&instance).await.map(json)
        }
        Call::Statuses { instances }
            if instances.len() <= wire::STATUSES_MAX
                && instances.iter().all(|i| i.host.id == host) =>
        {
            // An instance this worker refuses fails alone; the others are read together.
            let checked: Vec<Result<jeto_core::Instance, ProviderError>> = instances
                .into_iter()
                .map(|i| trust.local_instance(i))
                .collect();
            let allowed: Vec<_> = checked
                .iter()
                .filter_map(|c| c.as_ref().ok().cloned())
                .collect();
            let mut read = provider.statuses(&allowed).await.into_iter();
            let answers: Vec<Result<Vec<jeto_core::Status>, ProviderError>> = checked
                .into_iter()
                .map(|c| match c {
                    Ok(_) => read.next().unwrap_or_else(|| {
                        Err(ProviderError::other("reading states", "no answer"))
                    }),
                    Err(refused) => Err(refused),
                })
                .collect();
            Ok(json(answers))
        }
        Call::Ip { instance, machine } if instance.host.id == host => {
            let instance = trust.local_instance(instance)?;
            provider.ip(&instance, &machine).await.map(json)
        }
        Call::Machine { instance, machine } if instance.host.id == host => {
            let instance = trust.local_instance(instance)?;
            provider.machine(&instance, &machine).await.map(json)
        }
        Call::Snapshots { instance } if instance.host.id == host => {
            let instance = trust.local_instance(instance)?;
            provider.snapshots(&instance).await.map(json)
        }
        Call::Boxes {
            host: target_host,
            outdated,
        } if target_host.id == host => provider
            .boxes(&trust.local_host(target_host), outdated)
            .await
            .map(json),
        Call::Prepare {
            host: target_host,
            source,
            target,
        } if target_host.id == host => {
            // A registered folder, or the one a download or clone makes.
            match &source {
                jeto_core::InstanceSource::Path(path) => trust.check_folder(path)?,
                _ => trust.check_folder(&target)?,
            }
            provider
                .prepare(&trust.local_host(target_host), &source, &target)
                .await
                .map(json)
        }
        _ => Err(ProviderError::invalid(format!(
            "this worker serves host {host} only"
        ))),
    }
}

/// An answer as JSON (the wire types always serialise).
fn json<T: serde::Serialize>(value: T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// Takes actions from the host's queue as room frees up: never more than `max_actions`
/// running or waiting here, so what this worker cannot start stays in the stream for others.
async fn serve_actions(
    context: ActionContext,
    host: u64,
    consumer: jetstream::consumer::Consumer<pull::Config>,
    max_actions: usize,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(max_actions));
    // Owned here, so stopping the worker stops its running actions too.
    let mut running = tokio::task::JoinSet::new();
    let mut draining = context.draining.clone();
    loop {
        while running.try_join_next().is_some() {}
        if *draining.borrow() {
            // Drained: the running actions end here, and so does this task.
            while running.join_next().await.is_some() {}
            return;
        }
        let first = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => return,
            },
            _ = draining.changed() => continue,
        };
        let room = slots.available_permits() + 1;
        let batch = consumer
            .batch()
            .max_messages(room)
            .expires(HEARTBEAT * 2)
            .messages()
            .await;
        let mut batch = match batch {
            Ok(batch) => batch,
            Err(error) => {
                tracing::warn!(%error, "reading the work queue");
                tokio::time::sleep(HEARTBEAT).await;
                continue;
            }
        };
        let mut slot = Some(first);
        while let Some(message) = batch.next().await {
            match message {
                Ok(message) if *draining.borrow() => {
                    // Taken while the drain began: back to the queue for another worker.
                    let _ = message.ack_with(AckKind::Nak(None)).await;
                }
                Ok(message) => {
                    let permit = match slot.take() {
                        Some(permit) => permit,
                        None => match slots.clone().try_acquire_owned() {
                            Ok(permit) => permit,
                            // Cannot happen (the batch is no larger than the room), but a
                            // message we cannot start goes back at once rather than waiting.
                            Err(_) => {
                                let _ = message.ack_with(AckKind::Nak(None)).await;
                                continue;
                            }
                        },
                    };
                    let context = context.clone();
                    running.spawn(async move {
                        let _permit = permit;
                        run_action(context, host, message).await;
                    });
                }
                Err(error) => tracing::warn!(%error, "reading the work queue"),
            }
        }
    }
}

async fn run_action(context: ActionContext, host: u64, message: jetstream::Message) {
    // Only what the server signed for this host's queue, under its own run id, and not older
    // than a record of its run lasts.
    let command = match signing::open::<CommandMessage>(&message.payload, &message.subject) {
        Ok(command)
            if command.key == context.trust.server
                && command.id == command.body.run
                && command.fresh(COMMAND_MAX_AGE) =>
        {
            command.body
        }
        Ok(command) => {
            tracing::warn!(signer = %command.key, host, "dropping an action not signed by the server, or too old");
            let _ = message.ack_with(AckKind::Term).await;
            return;
        }
        Err(why) => {
            tracing::warn!(host, "dropping an action: {why}");
            let _ = message.ack_with(AckKind::Term).await;
            return;
        }
    };
    let Some(_active) = ActiveRun::enter(&context, &command.run) else {
        // Delivered again while this worker still runs it: the run's own task answers.
        tracing::info!(
            run = command.run,
            "an action delivered again while this worker runs it; its lease is renewed"
        );
        let _ = message.ack_with(AckKind::Progress).await;
        return;
    };
    let output = RunOutput::new(&context, &command.run);
    let client = &context.client;
    // Listening for a cancel before the claim: a caller that gives up after the claim is heard.
    let mut cancel = match client.subscribe(wire::cancel_subject(&command.run)).await {
        Ok(cancel) => cancel,
        Err(error) => {
            // Not acknowledged: delivered again after its lease.
            tracing::warn!(%error, "could not listen for cancels");
            return;
        }
    };
    // Whatever a message on host X's subject says, this worker acts for its own hosts only.
    let claimed = if command.instance.host.id == host {
        claim(&context, &command).await
    } else {
        Claim::Ended(Err(ProviderError::invalid(format!(
            "this worker serves host {host} only, not host {}",
            command.instance.host.id
        ))))
    };
    let result = match claimed {
        Claim::Withdrawn => {
            // Its caller gave it up before anyone started it; nobody waits for an answer.
            let _ = message.ack().await;
            return;
        }
        Claim::Ended(result) => result,
        Claim::CutShort { worker } => Ok(Outcome::failure(
            -1,
            CommandError::new(
                FailureKind::Interrupted,
                format!(
                    "worker {worker} stopped before this action ended; it was not run a second time"
                ),
            ),
        )),
        Claim::Mine => match context
            .trust
            .local_instance(command.instance.clone())
            .and_then(|instance| {
                let checked = command
                    .request
                    .check(&instance)
                    .map_err(|e| ProviderError::invalid(e.to_string()))?;
                Ok((instance, checked))
            }) {
            Err(error) => Err(error),
            Ok((instance, checked)) => {
                context.running.fetch_add(1, Ordering::Relaxed);
                let (lines, forwarder) = forward_lines(output.clone());
                let sink = ConsoleSink::new(move |line: &str| {
                    let _ = lines.send(line.to_owned());
                });
                let heartbeat = heartbeat(output.clone(), &message);
                let running = context.provider.run(&instance, &checked, sink);
                let cancelled = server_cancel(&context, &mut cancel, &command.run);
                let mut stop_now = context.stop_now.clone();
                let result = tokio::select! {
                    result = running => Some(result),
                    () = cancelled => None,
                    () = heartbeat => unreachable!("the heartbeat never ends"),
                    // The worker's drain ran out: the action's process is stopped (its future
                    // dropped), and the end told to the server at once.
                    _ = stop_now.wait_for(|stop| *stop) => Some(Ok(Outcome::failure(
                        -1,
                        CommandError::new(
                            FailureKind::Interrupted,
                            format!(
                                "worker {} stopped before this action ended (its drain time ran out)",
                                context.name
                            ),
                        ),
                    ))),
                };
                context.running.fetch_sub(1, Ordering::Relaxed);
                // Every line is out before the end.
                let _ = forwarder.await;
                match result {
                    Some(result) => result,
                    None => {
                        // The caller went away: the action's future is dropped (its
                        // process stopped); nobody waits for an answer.
                        let _ = message.ack().await;
                        return;
                    }
                }
            }
        },
    };
    // Recorded first: a caller that missed the message below reads it from the bucket.
    let record = context.trust.key.seal(
        &wire::record_subject(&command.run),
        &command.run,
        &RunRecord::Done(&result),
    );
    for attempt in 0..20 {
        match context.results.put(&command.run, record.clone()).await {
            Ok(_) => break,
            Err(error) if attempt == 19 => {
                tracing::warn!(%error, run = command.run, "could not record an action's end")
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(500)).await,
        }
    }
    if let Err(error) = output.send(&Output::Done(result)).await {
        tracing::warn!(%error, "could not publish an action's end");
    }
    let _ = client.flush().await;
    // Acknowledged only once the end is recorded and published.
    if let Err(error) = message.ack().await {
        tracing::warn!(%error, "could not acknowledge an action");
    }
}

/// What the results bucket says of a delivered run.
enum Claim {
    /// Nobody started it: this worker has it now (recorded as started by it).
    Mine,
    /// A worker started it and stopped before its end: it is not run again.
    CutShort { worker: String },
    /// It ended already (its acknowledgement was lost): the same end again.
    Ended(Result<Outcome, ProviderError>),
    /// Its caller took it back before any worker started it.
    Withdrawn,
}

async fn claim(context: &ActionContext, command: &CommandMessage) -> Claim {
    let run = command.run.as_str();
    let started: RunRecord<()> = RunRecord::Started {
        worker: context.name.clone(),
    };
    let sealed = context
        .trust
        .key
        .seal(&wire::record_subject(run), run, &started);
    // `create` succeeds for one worker only: a run is never started twice. Retried while the
    // bucket cannot answer (a cluster electing a leader), up to the message's lease.
    let deadline = tokio::time::Instant::now() + HEARTBEAT * 4;
    loop {
        match context.results.create(run, sealed.clone()).await {
            Ok(_) => return Claim::Mine,
            Err(error) if error.kind() == kv::CreateErrorKind::AlreadyExists => break,
            Err(error) if tokio::time::Instant::now() >= deadline => {
                tracing::warn!(%error, run, "cannot record that this worker starts a run");
                // Running it might run it twice; say so instead.
                return Claim::CutShort {
                    worker: "unknown (the results bucket could not be written)".into(),
                };
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(250)).await,
        }
    }
    let entry = match context.results.entry(run).await {
        Ok(Some(entry)) => entry,
        _ => {
            return Claim::CutShort {
                worker: "unknown (the results bucket could not be read)".into(),
            }
        }
    };
    let opened = signing::open::<RunRecord>(&entry.value, &wire::record_subject(run));
    match opened {
        Ok(record) if record.id == run => {
            let by_server = record.key == context.trust.server;
            let by_worker = command.workers.contains(&record.key);
            match record.body {
                RunRecord::Withdrawn if by_server => return Claim::Withdrawn,
                RunRecord::Done(result) if by_worker => return Claim::Ended(result),
                RunRecord::Started { worker } if by_worker => return Claim::CutShort { worker },
                _ => {}
            }
        }
        _ => {}
    }
    // A record nobody trusted wrote: as if there were none. Replaced only if it is still the
    // same one, so a trusted claim or withdrawal written meanwhile wins.
    tracing::warn!(run, "replacing a run record nobody trusted wrote");
    match context.results.update(run, sealed, entry.revision).await {
        Ok(_) => Claim::Mine,
        Err(_) => Claim::CutShort {
            worker: "unknown (its record changed while this worker claimed it)".into(),
        },
    }
}

/// Waits for a cancel of `run` that the server signed (others are ignored).
async fn server_cancel(context: &ActionContext, cancel: &mut async_nats::Subscriber, run: &str) {
    let subject = wire::cancel_subject(run);
    while let Some(message) = cancel.next().await {
        match signing::open::<()>(&message.payload, &subject) {
            Ok(opened)
                if opened.key == context.trust.server
                    && opened.id == run
                    && opened.fresh(CALL_MAX_AGE) =>
            {
                return
            }
            _ => tracing::warn!(run, "ignoring a cancel the server did not sign"),
        }
    }
    // The subscription ended (the connection closed): never a cancel.
    std::future::pending::<()>().await
}

/// A run's output subject, where each message is signed and numbered in order.
#[derive(Clone)]
struct RunOutput {
    client: Client,
    key: crate::SigningKey,
    subject: String,
    /// The number of the last message; held while a message is numbered and published, so
    /// the lines and the heartbeat reach NATS in the order of their numbers.
    number: Arc<tokio::sync::Mutex<u64>>,
}

impl RunOutput {
    fn new(context: &ActionContext, run: &str) -> Self {
        RunOutput {
            client: context.client.clone(),
            key: context.trust.key.clone(),
            subject: wire::output_subject(run),
            // From the time, so that a later delivery of the run (another worker, or this one
            // restarted) numbers above what the first said.
            number: Arc::new(tokio::sync::Mutex::new(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_micros() as u64)
                    .unwrap_or_default(),
            )),
        }
    }

    async fn send(&self, output: &Output) -> Result<(), async_nats::PublishError> {
        let mut number = self.number.lock().await;
        *number += 1;
        let sealed = self.key.seal(&self.subject, &number.to_string(), output);
        self.client.publish(self.subject.clone(), sealed).await
    }
}

/// Sends console lines, in order, to the run's output subject, those waiting together (up to
/// [`BATCH_BYTES`] a message); ends when the sink is dropped.
fn forward_lines(
    output: RunOutput,
) -> (
    tokio::sync::mpsc::UnboundedSender<String>,
    tokio::task::JoinHandle<()>,
) {
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<String>();
    let task = tokio::spawn(async move {
        while let Some(first) = receiver.recv().await {
            let mut size = first.len();
            let mut batch = vec![first];
            while size < BATCH_BYTES {
                match receiver.try_recv() {
                    Ok(line) => {
                        size += line.len();
                        batch.push(line);
                    }
                    Err(_) => break,
                }
            }
            let _ = output.send(&Output::Lines(batch)).await;
        }
    });
    (sender, task)
}

/// How many bytes of console lines one output message carries at most (and one line more):
/// well under NATS's default 1 MiB message, JSON escapes included.
const BATCH_BYTES: usize = 64 * 1024;

/// Says `Alive` at once and every [`HEARTBEAT`], and keeps the message's lease.
async fn heartbeat(output: RunOutput, message: &jetstream::Message) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    loop {
        tick.tick().await;
        let _ = output.send(&Output::Alive).await;
        let _ = message.ack_with(AckKind::Progress).await;
    }
}
