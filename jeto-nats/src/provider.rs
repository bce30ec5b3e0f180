//! [`NatsProvider`]: the server's side: each call goes to the workers of the instance's host.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use async_nats::Client;
use async_trait::async_trait;
use futures_util::StreamExt;
use jeto_core::{
    BoxInfo, CheckedRequest, CommandError, ConsoleSink, FailureKind, Host, HostWorker, Instance,
    InstanceSource, MachineDetails, MachineSnapshots, Outcome, Provider, ProviderError, Status,
};
use serde::de::DeserializeOwned;

use crate::presence::PresenceBoard;
use crate::signing::{self, SigningKey, TrustedWorkers};
use crate::streams::{JetStreamSetup, COMMAND_STREAM, PRESENCE_TTL, RESULTS_BUCKET};
use crate::wire::{self, Call, CommandMessage, Output, Reply, RunRecord};

/// A [`Provider`] whose calls are served by [`crate::Worker`]s over NATS: reads by
/// request-reply, actions through the JetStream work queue with their console streamed back.
///
/// Which host a call is for comes from the instance (`instance.host.id`); a host with no
/// worker online fails at once as `unavailable`.
///
/// Everything it sends is signed with its [`SigningKey`], and it believes only what a worker
/// of [`TrustedWorkers`] signed for the host (see the crate's docs): NATS itself need not be
/// trusted. Host params never leave the server; each worker exports its own.
#[derive(Debug, Clone)]
pub struct NatsProvider {
    client: Client,
    jetstream: jetstream::Context,
    results: kv::Store,
    board: PresenceBoard,
    call_timeout: Duration,
    silence_limit: Duration,
    key: SigningKey,
    workers: TrustedWorkers,
    /// When the NATS connection was first seen down (none while it is up).
    down_since: std::sync::Arc<std::sync::Mutex<Option<tokio::time::Instant>>>,
}

/// How long a publish to the command stream is retried (a cluster electing a new leader).
const PUBLISH_PATIENCE: Duration = Duration::from_secs(30);
/// How long a call waits for a dropped NATS connection to come back before the host counts as
/// down (a cluster's client moves to another node well within it).
const RECONNECT_GRACE: Duration = Duration::from_millis(1000);
/// How long a ping (is any worker of the host listening?) may take.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

impl NatsProvider {
    /// A provider over `client` signing with `key` and believing `workers`, with one copy of
    /// each stream ([`NatsProvider::connect_with`] for a cluster); makes the stream and buckets
    /// when they are not there yet.
    pub async fn connect(
        client: Client,
        key: SigningKey,
        workers: TrustedWorkers,
    ) -> Result<Self, ProviderError> {
        NatsProvider::connect_with(client, &JetStreamSetup::default(), key, workers).await
    }

    /// [`NatsProvider::connect`], making the stream and buckets as `setup` says.
    pub async fn connect_with(
        client: Client,
        setup: &JetStreamSetup,
        key: SigningKey,
        workers: TrustedWorkers,
    ) -> Result<Self, ProviderError> {
        let jetstream = jetstream::new(client.clone());
        setup.command_stream(&jetstream).await?;
        let results = setup.results(&jetstream).await?;
        let board = PresenceBoard::watch(setup.presence(&jetstream).await?, workers.clone());
        Ok(NatsProvider {
            client,
            jetstream,
            results,
            board,
            call_timeout: Duration::from_secs(120),
            silence_limit: Duration::from_secs(15),
            key,
            workers,
            down_since: Default::default(),
        })
    }

    /// How long a read may take (default 120 s: a `vagrant status` of a busy box).
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// How long a running action may go without a word from its worker before it is taken
    /// as interrupted (default 15 s; workers speak every 2 s).
    pub fn with_silence_limit(mut self, limit: Duration) -> Self {
        self.silence_limit = limit;
        self
    }

    async fn call<T: DeserializeOwned>(&self, host: u64, call: &Call) -> Result<T, ProviderError> {
        self.call_within(host, call, self.call_timeout).await
    }

    async fn call_within<T: DeserializeOwned>(
        &self,
        host: u64,
        call: &Call,
        timeout: Duration,
    ) -> Result<T, ProviderError> {
        self.reconnected().await?;
        let subject = wire::call_subject(host);
        let inbox = self.client.new_inbox();
        let nonce = inbox.rsplit('.').next().unwrap_or_default().to_owned();
        // Answers come to an inbox of this call's own, and only a trusted worker's answer
        // signed for it counts: a faster forged one is dropped, not taken.
        let mut answers = self
            .client
            .subscribe(inbox.clone())
            .await
            .map_err(|e| nats_failed("listening for a worker's answer", e))?;
        self.client
            .publish_with_reply(
                subject,
                inbox.clone(),
                self.key.seal(&wire::call_subject(host), &nonce, call),
            )
            .await
            .map_err(|e| nats_failed("a call to a worker", e))?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let message = match tokio::time::timeout_at(deadline, answers.next()).await {
                Err(_) => {
                    return Err(ProviderError::Timeout {
                        what: format!("a call to the workers of host {host}"),
                        after: timeout,
                    })
                }
                Ok(None) => {
                    return Err(nats_failed(
                        "a call to a worker",
                        std::io::Error::other("the NATS connection closed"),
                    ))
                }
                Ok(Some(message)) => message,
            };
            if message.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
                return Err(no_worker(host));
            }
            match signing::open::<Reply>(&message.payload, &inbox) {
                Ok(opened) if opened.id == nonce && self.workers.serves(&opened.key, host) => {
                    return serde_json::from_value(opened.body?)
                        .map_err(|e| ProviderError::other("reading a worker's answer", e));
                }
                Ok(opened) => tracing::warn!(
                    signer = %opened.key,
                    host,
                    "dropping an answer not signed by a worker trusted for the host (see [[nats.workers]])"
                ),
                Err(why) => tracing::warn!(host, "dropping an answer: {why}"),
            }
        }
    }

    /// `Ok` while the connection to NATS is up; else the hosts its workers serve are down at
    /// once (no call or action would reach them, and a worker's last beat may look fresh).
    fn connected(&self) -> Result<(), ProviderError> {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => Ok(()),
            state => Err(ProviderError::Unavailable {
                message: format!(
                    "NATS is not reachable ({state}): the hosts its workers serve answer again once the connection is back"
                ),
                source: None,
            }),
        }
    }

    /// [`connected`](Self::connected), allowing the client [`RECONNECT_GRACE`] to get back:
    /// a cluster node going away is a reconnect to another within that, not an outage.
    /// The grace counts from when the connection was first seen down, so the calls of one
    /// request (a read, a ping, the action) do not each wait it out.
    async fn reconnected(&self) -> Result<(), ProviderError> {
        let since = {
            let mut down = self.down_since.lock().unwrap_or_else(|e| e.into_inner());
            if self.connected().is_ok() {
                *down = None;
                return Ok(());
            }
            *down.get_or_insert_with(tokio::time::Instant::now)
        };
        loop {
            match self.connected() {
                Ok(()) => {
                    *self.down_since.lock().unwrap_or_else(|e| e.into_inner()) = None;
                    return Ok(());
                }
                Err(_) if since.elapsed() < RECONNECT_GRACE => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(down) => return Err(down),
            }
        }
    }

    /// Whether a worker of `host` takes new actions: heard from lately, or answering right
    /// now; a host whose workers all said they drain has none, without asking.
    async fn worker_online(&self, host: u64) -> bool {
        if self.board.online(host) {
            return true;
        }
        if self.board.draining(host) {
            return false;
        }
        self.call_within::<()>(host, &Call::Ping, PING_TIMEOUT)
            .await
            .is_ok()
    }

    /// Stores the action in the stream; retried (same message id, so never twice) while
    /// the cluster cannot take it. Its sequence in the stream.
    async fn enqueue(&self, host: u64, message: &CommandMessage) -> Result<u64, ProviderError> {
        let deadline = tokio::time::Instant::now() + PUBLISH_PATIENCE;
        loop {
            let publish = jetstream::context::Publish::build()
                .payload(
                    self.key
                        .seal(&wire::command_subject(host), &message.run, message),
                )
                .message_id(&message.run);
            let attempt = async {
                self.jetstream
                    .send_publish(wire::command_subject(host), publish)
                    .await
                    .map_err(|e| nats_failed("queueing an action", e))?
                    .await
                    .map_err(|e| nats_failed("queueing an action", e))
            };
            match attempt.await {
                Ok(ack) => return Ok(ack.sequence),
                Err(error) if tokio::time::Instant::now() >= deadline => return Err(error),
                Err(error) => {
                    tracing::debug!(%error, "queueing an action: retrying");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
    }

    /// The record of `run` in the results bucket and its revision, when one is there and was
    /// signed by who may write it: `withdrawn` by this server, the rest by a worker trusted
    /// for `host`. `Err(revision)` for a record nobody trusted wrote (it counts as absent).
    async fn record(
        &self,
        run: &str,
        host: u64,
    ) -> Option<Result<RunRecord<serde_json::Value>, u64>> {
        let entry = self.results.entry(run).await.ok()??;
        if entry.operation != kv::Operation::Put {
            return None;
        }
        let opened =
            signing::open::<RunRecord<serde_json::Value>>(&entry.value, &wire::record_subject(run));
        Some(match opened {
            Ok(opened) if opened.id == run => {
                let trusted = match opened.body {
                    RunRecord::Withdrawn => opened.key == self.key.public_key(),
                    _ => self.workers.serves(&opened.key, host),
                };
                if trusted {
                    Ok(opened.body)
                } else {
                    tracing::warn!(run, signer = %opened.key, "ignoring a run record signed by an untrusted key");
                    Err(entry.revision)
                }
            }
            _ => {
                tracing::warn!(run, "ignoring an unsigned run record in {RESULTS_BUCKET}");
                Err(entry.revision)
            }
        })
    }

    /// The end a trusted worker recorded for `run`, when it did.
    async fn recorded_end(&self, run: &str, host: u64) -> Option<Result<Outcome, ProviderError>> {
        match self.record(run, host).await? {
            Ok(RunRecord::Done(result)) => serde_json::from_value(result).ok(),
            _ => None,
        }
    }

    /// Takes a queued run back: marked `withdrawn` (signed) with a create, or over a record
    /// nobody trusted wrote, so a worker that has not claimed it never will, and removed from
    /// the stream. False when a worker claimed it first.
    async fn withdraw(&self, run: &str, host: u64, sequence: u64) -> bool {
        let record: RunRecord<()> = RunRecord::Withdrawn;
        let sealed = self.key.seal(&wire::record_subject(run), run, &record);
        let written = match self.results.create(run, sealed.clone()).await {
            Ok(_) => true,
            Err(_) => match self.record(run, host).await {
                Some(Err(revision)) => self.results.update(run, sealed, revision).await.is_ok(),
                _ => false,
            },
        };
        if !written {
            return false;
        }
        if let Ok(stream) = self.jetstream.get_stream(COMMAND_STREAM).await {
            let _ = stream.delete_message(sequence).await;
        }
        true
    }

    /// Gives a run up: withdrawn while queued, or stopped by its worker once claimed.
    async fn give_up(&self, run: &str, host: u64, sequence: u64) {
        if !self.withdraw(run, host, sequence).await {
            let subject = wire::cancel_subject(run);
            let cancel = self.key.seal(&subject, run, &());
            let _ = self.client.publish(subject, cancel).await;
            let _ = self.client.flush().await;
        }
    }
}

/// `instance` as it travels: without its host's params (secrets the workers hold themselves).
fn outbound(instance: &Instance) -> Instance {
    let mut instance = instance.clone();
    instance.host = outbound_host(&instance.host);
    instance
}

/// `host` without its params.
fn outbound_host(host: &Host) -> Host {
    let mut host = host.clone();
    host.params = jeto_core::HostParams::default();
    host
}

fn no_worker(host: u64) -> ProviderError {
    ProviderError::Unavailable {
        message: format!(
            "no worker is online for host {host}: start one on its box with `jeto worker --nats URL --host {host}`"
        ),
        source: None,
    }
}

pub(crate) fn nats_failed(
    what: &str,
    error: impl std::error::Error + Send + Sync + 'static,
) -> ProviderError {
    ProviderError::Unavailable {
        message: format!("{what} failed: NATS: {error}"),
        source: Some(Box::new(error)),
    }
}

/// Takes the run back when the caller's future is dropped before its end: still queued, no
/// worker will run it; running, its worker stops it.
struct CancelOnDrop {
    provider: NatsProvider,
    run: String,
    host: u64,
    sequence: u64,
    armed: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.armed {
            let (provider, run, host, sequence) = (
                self.provider.clone(),
                self.run.clone(),
                self.host,
                self.sequence,
            );
            // Drop cannot wait.
            tokio::spawn(async move {
                provider.give_up(&run, host, sequence).await;
            });
        }
    }
}

#[async_trait]
impl Provider for NatsProvider {
    async fn status(&self, instance: &Instance) -> Result<Vec<Status>, ProviderError> {
        let call = Call::Status {
            instance: outbound(instance),
        };
        self.call(instance.host.id, &call).await
    }

    async fn statuses(&self, instances: &[Instance]) -> Vec<Result<Vec<Status>, ProviderError>> {
        let mut answers = Vec::with_capacity(instances.len());
        for chunk in instances.chunk_by(|a, b| a.host.id == b.host.id) {
            for batch in chunk.chunks(wire::STATUSES_MAX) {
                let call = Call::Statuses {
                    instances: batch.iter().map(outbound).collect(),
                };
                let read: Result<Vec<Result<Vec<Status>, ProviderError>>, _> =
                    self.call(batch[0].host.id, &call).await;
                match read {
                    Ok(read) if read.len() == batch.len() => answers.extend(read),
                    Ok(read) => answers.extend(batch.iter().map(|_| {
                        Err(ProviderError::other(
                            format!("reading states on host {}", batch[0].host.id),
                            format!("{} answers for {} instances", read.len(), batch.len()),
                        ))
                    })),
                    // The same failure for each instance of the batch (it crossed as JSON).
                    Err(error) => {
                        let copy = serde_json::to_value(&error).ok();
                        let copies: Vec<ProviderError> = batch[1..]
                            .iter()
                            .map(|_| {
                                copy.clone()
                                    .and_then(|c| serde_json::from_value(c).ok())
                                    .unwrap_or_else(|| {
                                        ProviderError::other("reading states", error.to_string())
                                    })
                            })
                            .collect();
                        answers.push(Err(error));
                        answers.extend(copies.into_iter().map(Err));
                    }
                }
            }
        }
        answers
    }

    async fn run(
        &self,
        instance: &Instance,
        request: &CheckedRequest,
        console: ConsoleSink,
    ) -> Result<Outcome, ProviderError> {
        let host = instance.host.id;
        self.reconnected().await?;
        // Fail fast when nobody would take it, rather than queue for nobody.
        if !self.worker_online(host).await {
            return Err(no_worker(host));
        }
        let run = self
            .client
            .new_inbox()
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_owned();
        let mut output = self
            .client
            .subscribe(wire::output_subject(&run))
            .await
            .map_err(|e| nats_failed("listening for an action's output", e))?;
        let message = CommandMessage {
            run: run.clone(),
            instance: outbound(instance),
            request: (**request).clone(),
            workers: self.workers.keys_for(host),
        };
        // Stored in the stream (acknowledged by JetStream) before we wait for it.
        let sequence = self.enqueue(host, &message).await?;
        let mut cancel = CancelOnDrop {
            provider: self.clone(),
            run: run.clone(),
            host,
            sequence,
            armed: true,
        };
        let out = wire::output_subject(&run);
        // The worker that claimed the run (the first trusted one to speak of it) and the number
        // of its last message: later messages must be its own, and newer.
        let mut claimer: Option<String> = None;
        let mut last_number: Option<u64> = None;
        let mut started = false;
        let mut last_word = tokio::time::Instant::now();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let next = tokio::select! {
                next = output.next() => next,
                _ = tick.tick() => {
                    if started && last_word.elapsed() >= self.silence_limit {
                        cancel.armed = false;
                        // Its end may have been recorded while its messages were lost.
                        if let Some(result) = self.recorded_end(&run, host).await {
                            return result;
                        }
                        return Ok(Outcome::failure(
                            -1,
                            CommandError::new(
                                FailureKind::Interrupted,
                                format!(
                                    "the worker of host {host} stopped answering for {}s mid-action; the action may have done part of its work, and will not be run again",
                                    self.silence_limit.as_secs()
                                ),
                            ),
                        ));
                    }
                    // While queued, it waits for as long as a worker of its host is online.
                    if !started && !self.worker_online(host).await {
                        if let Some(result) = self.recorded_end(&run, host).await {
                            cancel.armed = false;
                            return result;
                        }
                        if !self.withdraw(&run, host, sequence).await {
                            // A worker claimed it at this very moment: follow it after all,
                            // under the silence limit from now.
                            started = true;
                            last_word = tokio::time::Instant::now();
                            continue;
                        }
                        cancel.armed = false;
                        return Err(ProviderError::Unavailable {
                            message: format!(
                                "no worker of host {host} took the action and none is online any more (none heard from for {}s); it was withdrawn from the queue",
                                PRESENCE_TTL.as_secs()
                            ),
                            source: None,
                        });
                    }
                    continue;
                }
            };
            let Some(message) = next else {
                return Err(nats_failed(
                    "following an action",
                    std::io::Error::other("the NATS connection closed"),
                ));
            };
            let output = match signing::open::<Output>(&message.payload, &out) {
                Ok(opened) => opened,
                Err(why) => {
                    tracing::warn!(run, "dropping output: {why}");
                    continue;
                }
            };
            let number = output.id.parse::<u64>().ok();
            let from_claimer = match &claimer {
                Some(claimer) => *claimer == output.key,
                None => self.workers.serves(&output.key, host),
            };
            if !from_claimer || number.is_none() || number <= last_number {
                tracing::warn!(run, signer = %output.key, number = ?number, last = ?last_number, "dropping output not from the run's worker, or replayed");
                continue;
            }
            claimer = Some(output.key);
            last_number = number;
            match output.body {
                Output::Alive => {
                    started = true;
                    last_word = tokio::time::Instant::now();
                }
                Output::Lines(lines) => {
                    started = true;
                    last_word = tokio::time::Instant::now();
                    for line in &lines {
                        console.line(line);
                    }
                }
                Output::Done(result) => {
                    cancel.armed = false;
                    return result;
                }
            }
        }
    }

    async fn ip(
        &self,
        instance: &Instance,
        machine: &str,
    ) -> Result<Option<String>, ProviderError> {
        let call = Call::Ip {
            instance: outbound(instance),
            machine: machine.to_owned(),
        };
        self.call(instance.host.id, &call).await
    }

    async fn prepare(
        &self,
        host: &Host,
        source: &InstanceSource,
        target: &Path,
    ) -> Result<PathBuf, ProviderError> {
        // The folder is made (or checked) on the box of the host's workers.
        let call = Call::Prepare {
            host: outbound_host(host),
            source: source.clone(),
            target: target.to_owned(),
        };
        self.call(host.id, &call).await
    }

    async fn machine(
        &self,
        instance: &Instance,
        machine: &str,
    ) -> Result<MachineDetails, ProviderError> {
        let call = Call::Machine {
            instance: outbound(instance),
            machine: machine.to_owned(),
        };
        self.call(instance.host.id, &call).await
    }

    async fn snapshots(&self, instance: &Instance) -> Result<Vec<MachineSnapshots>, ProviderError> {
        let call = Call::Snapshots {
            instance: outbound(instance),
        };
        self.call(instance.host.id, &call).await
    }

    async fn boxes(&self, host: &Host, outdated: bool) -> Result<Vec<BoxInfo>, ProviderError> {
        let call = Call::Boxes {
            host: outbound_host(host),
            outdated,
        };
        self.call(host.id, &call).await
    }

    async fn workers(&self, host: &Host) -> Result<Vec<HostWorker>, ProviderError> {
        self.connected()?;
        Ok(self.board.workers(host.id))
    }
}
