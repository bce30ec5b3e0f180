//! Jeto across many hypervisor boxes, over NATS JetStream.
//!
//! [`NatsProvider`] is a [`jeto_core::Provider`] that sends each call to the workers serving the
//! instance's host; a [`Worker`] runs on a hypervisor box and serves those calls with the
//! provider of its own box (a `VagrantProvider` on a real box). jeto-core does not change:
//! the `Provider` trait is the seam.
//!
//! - Reads (status, IP, machine details, snapshots, boxes, preparing a folder) are NATS
//!   request-reply on `jeto.host.<id>.call`, with a timeout; with no worker listening NATS
//!   answers at once and the call fails as `unavailable` (503).
//! - Workers announce themselves every 2 s in the key-value bucket `jeto_workers` (gone after
//!   10 s); the provider watches it ([`NatsProvider`]'s `workers` lists a host's workers).
//! - Actions travel through the JetStream work-queue stream `JETO_COMMANDS` (subjects
//!   `jeto.host.<id>.command`), so an action sent while its worker restarts is delivered when
//!   it is back; if no worker of the host is online any more, the caller withdraws it. The
//!   worker claims the run in the bucket `jeto_results` (a create only one worker wins),
//!   streams the console on `jeto.run.<run>.out` as it is produced with a heartbeat, records
//!   the end in `jeto_results`, publishes it, and only then acknowledges the message.
//! - A worker that dies mid-action: the caller stops hearing heartbeats and the command ends
//!   `interrupted` with that reason; when the action is delivered again, the worker finds it
//!   claimed, answers that it was interrupted, and acknowledges it: never run twice.
//! - On a cluster ([`JetStreamSetup::replicas`]), publishes are retried with the run as the
//!   message id while a new leader is elected, and an end whose message was lost is read from
//!   `jeto_results`.
//! - NATS is not trusted: everything is signed end to end ([`SigningKey`], ed25519 as NATS
//!   nkeys). A worker acts only on what the server's key signed, fresh and not replayed, and
//!   applies its own box's rules ([`WorkerTrust`]); the server believes only answers, output,
//!   records and beats signed by a worker key it trusts for the host ([`TrustedWorkers`]), and
//!   of a run, only the worker that claimed it. Host params never travel.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use jeto_core::testing::InMemoryProvider;
//! use jeto_nats::{NatsProvider, SigningKey, TrustedWorkers, Worker, WorkerTrust};
//!
//! let (server_key, worker_key) = (SigningKey::generate(), SigningKey::generate());
//! let client = async_nats::connect("nats://127.0.0.1:4222").await?;
//! // On a hypervisor box: serve host 1 with the box's own provider, for this server only.
//! let trust = WorkerTrust::new(worker_key.clone(), &server_key.public_key(), vec!["/srv".into()])?;
//! let worker = Worker::start(client.clone(), Arc::new(InMemoryProvider::new()), vec![1], trust).await?;
//! // In the API server: hosts served by workers go through this provider.
//! let workers = TrustedWorkers::default().with(&worker_key.public_key(), [1])?;
//! let provider = NatsProvider::connect(client, server_key, workers).await?;
//! # drop((worker, provider)); Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod presence;
mod provider;
mod routing;
mod signing;
mod streams;
mod wire;
mod worker;
mod worker_trust;

pub use provider::NatsProvider;
pub use routing::{HostRouter, WorkersSlot};
pub use signing::{SigningKey, TrustedWorkers};
pub use streams::JetStreamSetup;
pub use worker::{Worker, WorkerConfig};
pub use worker_trust::WorkerTrust;

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
