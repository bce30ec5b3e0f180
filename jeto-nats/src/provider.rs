//! [`NatsProvider`]: the server's side: each call goes to the workers of the instance's host.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use async_nats::{Client, RequestErrorKind};
use async_trait::async_trait;
use futures_util::StreamExt;
use jeto_core::{
    CheckedRequest, CommandError, ConsoleSink, FailureKind, Host, Instance, InstanceSource,
    MachineDetails, MachineSnapshots, Outcome, Provider, ProviderError, Status,
};
use serde::de::DeserializeOwned;

use crate::wire::{self, Call, CommandMessage, Output, Reply};

/// A [`Provider`] whose calls are served by [`crate::Worker`]s over NATS: reads by
/// request-reply, actions through the JetStream work queue with their console streamed back.
///
/// Which host a call is for comes from the instance (`instance.host.id`); a host that no
/// worker serves fails at once as `unavailable`.
#[derive(Debug, Clone)]
pub struct NatsProvider {
    client: Client,
    jetstream: jetstream::Context,
    call_timeout: Duration,
    silence_limit: Duration,
}

impl NatsProvider {
    /// A provider over `client`; makes the command stream when it is not there yet.
    pub async fn connect(client: Client) -> Result<Self, ProviderError> {
        let jetstream = jetstream::new(client.clone());
        command_stream(&jetstream).await?;
        Ok(NatsProvider {
            client,
            jetstream,
            call_timeout: Duration::from_secs(120),
            silence_limit: Duration::from_secs(15),
        })
    }

    /// How long a read may take (default 120 s: a `vagrant status` of a busy box).
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// How long an action may go without a word from its worker before it is taken as
    /// interrupted (default 15 s; workers speak every 2 s).
    pub fn with_silence_limit(mut self, limit: Duration) -> Self {
        self.silence_limit = limit;
        self
    }

    async fn call<T: DeserializeOwned>(&self, host: u64, call: &Call) -> Result<T, ProviderError> {
        let request = self
            .client
            .request(wire::call_subject(host), wire::to_json(call));
        let message = match tokio::time::timeout(self.call_timeout, request).await {
            Err(_) => {
                return Err(ProviderError::Timeout {
                    what: format!("a call to the workers of host {host}"),
                    after: self.call_timeout,
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
}

/// The work-queue stream of actions (made once; later calls find it).
pub(crate) async fn command_stream(
    jetstream: &jetstream::Context,
) -> Result<stream::Stream, ProviderError> {
    jetstream
        .get_or_create_stream(stream::Config {
            name: wire::COMMAND_STREAM.into(),
            subjects: vec!["jeto.host.*.command".into()],
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .map_err(|e| nats_failed("making the command stream", e))
}

fn no_worker(host: u64) -> ProviderError {
    ProviderError::Unavailable {
        message: format!(
            "no worker is online for host {host}: start one on its box with `jeto worker --nats URL --host {host}`"
        ),
        source: None,
    }
}

fn nats_failed(what: &str, error: impl std::error::Error + Send + Sync + 'static) -> ProviderError {
    ProviderError::Unavailable {
        message: format!("{what} failed: NATS: {error}"),
        source: Some(Box::new(error)),
    }
}

/// Tells the worker to stop the run when the caller's future is dropped before its end.
struct CancelOnDrop {
    client: Client,
    run: String,
    armed: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.armed {
            let (client, subject) = (self.client.clone(), wire::cancel_subject(&self.run));
            // Drop cannot wait; the publish is queued on the client's connection.
            tokio::spawn(async move {
                let _ = client.publish(subject, bytes::Bytes::new()).await;
                let _ = client.flush().await;
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
        self.call::<()>(host, &Call::Ping).await?;
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
        self.jetstream
            .publish(wire::command_subject(host), wire::to_json(&message))
            .await
            .map_err(|e| nats_failed("queueing an action", e))?
            .await
            .map_err(|e| nats_failed("queueing an action", e))?;
        let mut cancel = CancelOnDrop {
            client: self.client.clone(),
            run,
            armed: true,
        };
        let mut started = false;
        loop {
            // Before a worker takes it, the action waits in the stream for as long as needed.
            let next = if started {
                match tokio::time::timeout(self.silence_limit, output.next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        cancel.armed = false;
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
                }
            } else {
                output.next().await
            };
            let Some(message) = next else {
                return Err(nats_failed(
                    "following an action",
                    std::io::Error::other("the NATS connection closed"),
                ));
            };
            match serde_json::from_slice::<Output>(&message.payload) {
                Ok(Output::Alive) => started = true,
                Ok(Output::Line(line)) => {
                    started = true;
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
}
