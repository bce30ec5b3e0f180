//! [`NatsProvider`]: the server's side: each call goes to the workers of the instance's host.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use async_nats::{Client, RequestErrorKind};
use async_trait::async_trait;
use futures_util::StreamExt;
use jeto_core::{
    BoxInfo, CheckedRequest, CommandError, ConsoleSink, FailureKind, Host, HostWorker, Instance,
    InstanceSource, MachineDetails, MachineSnapshots, Outcome, Provider, ProviderError, Status,
};
use serde::de::DeserializeOwned;

use crate::presence::PresenceBoard;
use crate::streams::{JetStreamSetup, COMMAND_STREAM, PRESENCE_TTL, RESULTS_BUCKET};
use crate::wire::{self, Call, CommandMessage, Output, Reply, RunRecord};

/// A [`Provider`] whose calls are served by [`crate::Worker`]s over NATS: reads by
/// request-reply, actions through the JetStream work queue with their console streamed back.
///
/// Which host a call is for comes from the instance (`instance.host.id`); a host with no
/// worker online fails at once as `unavailable`.
#[derive(Debug, Clone)]
pub struct NatsProvider {
    client: Client,
    jetstream: jetstream::Context,
    results: kv::Store,
    board: PresenceBoard,
    call_timeout: Duration,
    silence_limit: Duration,
}

/// How long a publish to the command stream is retried (a cluster electing a new leader).
const PUBLISH_PATIENCE: Duration = Duration::from_secs(30);
/// How long a ping (is any worker of the host listening?) may take.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

impl NatsProvider {
    /// A provider over `client`, with one copy of each stream ([`NatsProvider::connect_with`]
    /// for a cluster); makes the stream and buckets when they are not there yet.
    pub async fn connect(client: Client) -> Result<Self, ProviderError> {
        NatsProvider::connect_with(client, &JetStreamSetup::default()).await
    }

    /// A provider over `client`, making the stream and buckets as `setup` says.
    pub async fn connect_with(
        client: Client,
        setup: &JetStreamSetup,
    ) -> Result<Self, ProviderError> {
        let jetstream = jetstream::new(client.clone());
        setup.command_stream(&jetstream).await?;
        let results = setup.results(&jetstream).await?;
        let board = PresenceBoard::watch(setup.presence(&jetstream).await?);
        Ok(NatsProvider {
            client,
            jetstream,
            results,
            board,
            call_timeout: Duration::from_secs(120),
            silence_limit: Duration::from_secs(15),
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
        let request = self
            .client
            .request(wire::call_subject(host), wire::to_json(call));
        let message = match tokio::time::timeout(timeout, request).await {
            Err(_) => {
                return Err(ProviderError::Timeout {
                    what: format!("a call to the workers of host {host}"),
                    after: timeout,
                })
            }
            Ok(Err(error)) if error.kind() == RequestErrorKind::NoResponders => {
                return Err(no_worker(host))
            }
            Ok(Err(error)) => return Err(nats_failed("a call to a worker", error)),
            Ok(Ok(message)) => message,
        };
        let reply: Reply = serde_json::from_slice(&message.payload)
            .map_err(|e| ProviderError::other("reading a worker's answer", e))?;
        serde_json::from_value(reply?)
            .map_err(|e| ProviderError::other("reading a worker's answer", e))
    }

    /// Whether a worker of `host` is online: heard from lately, or answering right now.
    async fn worker_online(&self, host: u64) -> bool {
        self.board.online(host)
            || self
                .call_within::<()>(host, &Call::Ping, PING_TIMEOUT)
                .await
                .is_ok()
    }

    /// Stores the action in the stream; retried (same message id, so never twice) while
    /// the cluster cannot take it. Its sequence in the stream.
    async fn enqueue(&self, host: u64, message: &CommandMessage) -> Result<u64, ProviderError> {
        let deadline = tokio::time::Instant::now() + PUBLISH_PATIENCE;
        loop {
            let publish = jetstream::context::Publish::build()
                .payload(wire::to_json(message))
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

    /// The end a worker recorded for `run`, when it did.
    async fn recorded_end(&self, run: &str) -> Option<Result<Outcome, ProviderError>> {
        let value = self.results.get(run).await.ok()??;
        match serde_json::from_slice(&value).ok()? {
            RunRecord::Done(result) => Some(result),
            RunRecord::Started { .. } | RunRecord::Withdrawn => None,
        }
    }

    /// Whether the run's record says `withdrawn` (read while its caller still waits for it).
    async fn withdrawn_by_another(&self, run: &str) -> bool {
        let Ok(Some(value)) = self.results.get(run).await else {
            return false;
        };
        matches!(
            serde_json::from_slice::<RunRecord<serde_json::Value>>(&value),
            Ok(RunRecord::Withdrawn)
        )
    }

    /// Takes a queued run back: marked `withdrawn` with a create, so a worker that has not
    /// claimed it never will, and removed from the stream. False when a worker claimed it
    /// first.
    async fn withdraw(&self, run: &str, sequence: u64) -> bool {
        let record: RunRecord<()> = RunRecord::Withdrawn;
        if self
            .results
            .create(run, wire::to_json(&record))
            .await
            .is_err()
        {
            return false;
        }
        if let Ok(stream) = self.jetstream.get_stream(COMMAND_STREAM).await {
            let _ = stream.delete_message(sequence).await;
        }
        true
    }

    /// Gives a run up: withdrawn while queued, or stopped by its worker once claimed.
    async fn give_up(&self, run: &str, sequence: u64) {
        if !self.withdraw(run, sequence).await {
            let _ = self
                .client
                .publish(wire::cancel_subject(run), bytes::Bytes::new())
                .await;
            let _ = self.client.flush().await;
        }
    }
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
    sequence: u64,
    armed: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.armed {
            let (provider, run, sequence) =
                (self.provider.clone(), self.run.clone(), self.sequence);
            // Drop cannot wait.
            tokio::spawn(async move {
                provider.give_up(&run, sequence).await;
            });
        }
    }
}

#[async_trait]
impl Provider for NatsProvider {
    async fn status(&self, instance: &Instance) -> Result<Vec<Status>, ProviderError> {
        let call = Call::Status {
            instance: instance.clone(),
        };
        self.call(instance.host.id, &call).await
    }

    async fn run(
        &self,
        instance: &Instance,
        request: &CheckedRequest,
        console: ConsoleSink,
    ) -> Result<Outcome, ProviderError> {
        let host = instance.host.id;
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
            instance: instance.clone(),
            request: (**request).clone(),
        };
        // Stored in the stream (acknowledged by JetStream) before we wait for it.
        let sequence = self.enqueue(host, &message).await?;
        let mut cancel = CancelOnDrop {
            provider: self.clone(),
            run: run.clone(),
            sequence,
            armed: true,
        };
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
                        if let Some(result) = self.recorded_end(&run).await {
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
                    // Only this call withdraws its run, and it returns when it does: a
                    // `withdrawn` record found while it still waits was written by someone
                    // else, and no worker will take the run any more. End it, don't hang.
                    if !started && self.withdrawn_by_another(&run).await {
                        cancel.armed = false;
                        return Ok(Outcome::failure(
                            -1,
                            CommandError::new(
                                FailureKind::Failed,
                                format!(
                                    "the action was not run: its record in {RESULTS_BUCKET} says withdrawn, which this server did not write (check who may write to NATS)"
                                ),
                            ),
                        ));
                    }
                    // While queued, it waits for as long as a worker of its host is online.
                    if !started && !self.worker_online(host).await {
                        if let Some(result) = self.recorded_end(&run).await {
                            cancel.armed = false;
                            return result;
                        }
                        if !self.withdraw(&run, sequence).await {
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
            match serde_json::from_slice::<Output>(&message.payload) {
                Ok(Output::Alive) => {
                    started = true;
                    last_word = tokio::time::Instant::now();
                }
                Ok(Output::Line(line)) => {
                    started = true;
                    last_word = tokio::time::Instant::now();
                    console.line(&line);
                }
                Ok(Output::Done(result)) => {
                    cancel.armed = false;
                    return result;
                }
                Err(error) => tracing::warn!(%error, "unreadable output from a worker"),
            }
        }
    }

    async fn ip(
        &self,
        instance: &Instance,
        machine: &str,
    ) -> Result<Option<String>, ProviderError> {
        let call = Call::Ip {
            instance: instance.clone(),
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
            host: host.clone(),
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
            instance: instance.clone(),
            machine: machine.to_owned(),
        };
        self.call(instance.host.id, &call).await
    }

    async fn snapshots(&self, instance: &Instance) -> Result<Vec<MachineSnapshots>, ProviderError> {
        let call = Call::Snapshots {
            instance: instance.clone(),
        };
        self.call(instance.host.id, &call).await
    }

    async fn boxes(&self, host: &Host, outdated: bool) -> Result<Vec<BoxInfo>, ProviderError> {
        let call = Call::Boxes {
            host: host.clone(),
            outdated,
        };
        self.call(host.id, &call).await
    }

    async fn workers(&self, host: &Host) -> Result<Vec<HostWorker>, ProviderError> {
        Ok(self.board.workers(host.id))
    }
}
