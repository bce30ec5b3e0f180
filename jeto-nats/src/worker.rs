//! [`Worker`]: a hypervisor box's side: serves the calls and actions of its hosts with the
//! box's own provider.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, AckKind};
use async_nats::Client;
use futures_util::StreamExt;
use jeto_core::{CommandError, ConsoleSink, DynProvider, FailureKind, Outcome, ProviderError};

use crate::provider::command_stream;
use crate::wire::{self, Call, CommandMessage, Output, Reply};

/// How often a worker says it is still on an action (and extends its message's lease).
const HEARTBEAT: Duration = Duration::from_secs(2);
/// Reads one worker answers at once per host; more wait (NATS keeps them, the caller's
/// timeout bounds the wait).
const MAX_CALLS: usize = 32;
/// Actions one worker runs at once per host; more stay in the stream for other workers.
const MAX_ACTIONS: i64 = 32;

/// Serves hosts' calls and actions with a provider; stops when dropped.
#[derive(Debug)]
pub struct Worker {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Worker {
    /// Starts serving `hosts` with `provider`: their reads at once, their actions from the
    /// work queue (one durable consumer per host, shared by all the host's workers).
    pub async fn start(
        client: Client,
        provider: DynProvider,
        hosts: Vec<u64>,
    ) -> Result<Worker, ProviderError> {
        let jetstream = jetstream::new(client.clone());
        let stream = command_stream(&jetstream).await?;
        let mut tasks = Vec::new();
        for host in hosts {
            let calls = client
                .queue_subscribe(wire::call_subject(host), "jeto-workers".into())
                .await
                .map_err(|e| {
                    ProviderError::other(format!("listening for host {host}'s calls"), e)
                })?;
            tasks.push(tokio::spawn(serve_calls(
                client.clone(),
                provider.clone(),
                host,
                calls,
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
                        max_ack_pending: MAX_ACTIONS,
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| ProviderError::other(format!("following host {host}'s actions"), e))?;
            let messages = consumer
                .messages()
                .await
                .map_err(|e| ProviderError::other(format!("following host {host}'s actions"), e))?;
            tasks.push(tokio::spawn(serve_actions(
                client.clone(),
                provider.clone(),
                messages,
            )));
        }
        // Subscriptions are live once the server has them.
        client
            .flush()
            .await
            .map_err(|e| ProviderError::other("reaching NATS", e))?;
        Ok(Worker { tasks })
    }
}

async fn serve_calls(
    client: Client,
    provider: DynProvider,
    host: u64,
    mut calls: async_nats::Subscriber,
) {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CALLS));
    while let Some(message) = calls.next().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let (client, provider) = (client.clone(), provider.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let Some(reply_to) = message.reply else {
                return;
            };
            let reply: Reply = match serde_json::from_slice::<Call>(&message.payload) {
                Ok(call) => answer(&*provider, host, call).await,
                Err(e) => Err(ProviderError::invalid(format!("unreadable call: {e}"))),
            };
            if let Err(error) = client.publish(reply_to, wire::to_json(&reply)).await {
                tracing::warn!(%error, "could not answer a call");
            }
        });
    }
}

async fn answer(provider: &dyn jeto_core::Provider, host: u64, call: Call) -> Reply {
    match call {
        Call::Ping => Ok(serde_json::Value::Null),
        Call::Status { instance } if instance.host.id == host => {
            provider.status(&instance).await.map(json)
        }
        Call::Ip { instance, machine } if instance.host.id == host => {
            provider.ip(&instance, &machine).await.map(json)
        }
        Call::Machine { instance, machine } if instance.host.id == host => {
            provider.machine(&instance, &machine).await.map(json)
        }
        Call::Snapshots { instance } if instance.host.id == host => {
            provider.snapshots(&instance).await.map(json)
        }
        Call::Prepare {
            host: target_host,
            source,
            target,
        } if target_host.id == host => provider
            .prepare(&target_host, &source, &target)
            .await
            .map(json),
        _ => Err(ProviderError::invalid(format!(
            "this worker serves host {host} only"
        ))),
    }
}

/// An answer as JSON (the wire types always serialise).
fn json<T: serde::Serialize>(value: T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

async fn serve_actions(client: Client, provider: DynProvider, mut messages: pull::Stream) {
    // Owned here, so stopping the worker stops its running actions too.
    let mut running = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            message = messages.next() => match message {
                Some(Ok(message)) => {
                    running.spawn(run_action(client.clone(), provider.clone(), message));
                }
                Some(Err(error)) => tracing::warn!(%error, "reading the work queue"),
                None => break,
            },
            Some(_) = running.join_next() => {}
        }
    }
}

async fn run_action(client: Client, provider: DynProvider, message: jetstream::Message) {
    let command: CommandMessage = match serde_json::from_slice(&message.payload) {
        Ok(command) => command,
        Err(error) => {
            tracing::warn!(%error, "dropping an unreadable action");
            let _ = message.ack_with(AckKind::Term).await;
            return;
        }
    };
    let out = wire::output_subject(&command.run);
    let delivered = message.info().map(|i| i.delivered).unwrap_or(1);
    let result = if delivered > 1 {
        // Delivered again: a worker took it before and stopped without finishing it.
        Ok(Outcome::failure(
            -1,
            CommandError::new(
                FailureKind::Interrupted,
                "the worker running this action stopped before it ended; it was not run a second time",
            ),
        ))
    } else {
        match command.request.check(&command.instance) {
            Err(error) => Err(ProviderError::invalid(error.to_string())),
            Ok(checked) => {
                let mut cancel = match client.subscribe(wire::cancel_subject(&command.run)).await {
                    Ok(cancel) => cancel,
                    Err(error) => {
                        tracing::warn!(%error, "could not listen for cancels");
                        return;
                    }
                };
                let (lines, forwarder) = forward_lines(client.clone(), out.clone());
                let sink = ConsoleSink::new(move |line: &str| {
                    let _ = lines.send(Output::Line(line.to_owned()));
                });
                let heartbeat = heartbeat(client.clone(), out.clone(), &message);
                let running = provider.run(&command.instance, &checked, sink);
                let result = tokio::select! {
                    result = running => Some(result),
                    _ = cancel.next() => None,
                    () = heartbeat => unreachable!("the heartbeat never ends"),
                };
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
        }
    };
    let done = wire::to_json(&Output::Done(result));
    if let Err(error) = client.publish(out, done).await {
        tracing::warn!(%error, "could not publish an action's end");
    }
    let _ = client.flush().await;
    // Acknowledged only once the end is published.
    if let Err(error) = message.ack().await {
        tracing::warn!(%error, "could not acknowledge an action");
    }
}

/// Sends console lines, in order, to the run's output subject; ends when the sink is dropped.
fn forward_lines(
    client: Client,
    subject: String,
) -> (
    tokio::sync::mpsc::UnboundedSender<Output>,
    tokio::task::JoinHandle<()>,
) {
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<Output>();
    let task = tokio::spawn(async move {
        while let Some(output) = receiver.recv().await {
            let _ = client
                .publish(subject.clone(), wire::to_json(&output))
                .await;
        }
    });
    (sender, task)
}

/// Says `Alive` at once and every [`HEARTBEAT`], and keeps the message's lease.
async fn heartbeat(client: Client, subject: String, message: &jetstream::Message) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    loop {
        tick.tick().await;
        let _ = client
            .publish(subject.clone(), wire::to_json(&Output::Alive))
            .await;
        let _ = message.ack_with(AckKind::Progress).await;
    }
}
