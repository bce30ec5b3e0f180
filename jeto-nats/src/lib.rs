//! Jeto across many hypervisor boxes, over NATS JetStream.
//!
//! [`NatsProvider`] is a [`jeto_core::Provider`] that sends each call to the workers serving the
//! instance's host; a [`Worker`] runs on a hypervisor box and serves those calls with the
//! provider of its own box (a `VagrantProvider` on a real box). jeto-core does not change:
//! the `Provider` trait is the seam.
//!
//! - Reads (status, IP, machine details, snapshots, preparing a folder) are NATS
//!   request-reply on `jeto.host.<id>.call`, with a timeout; with no worker listening NATS
//!   answers at once and the call fails as `unavailable` (503).
//! - Actions travel through the JetStream work-queue stream `JETO_COMMANDS` (subjects
//!   `jeto.host.<id>.command`), so an action sent while its worker restarts is delivered when
//!   it is back. The worker streams the console on `jeto.run.<run>.out` as it is produced,
//!   with a heartbeat, and acknowledges the message only once the action has ended and its
//!   result is published.
//! - A worker that dies mid-action: the caller stops hearing heartbeats and the command ends
//!   `interrupted` with that reason; when the action is delivered again (to a worker that
//!   came back) it is not run a second time: that worker answers that it was interrupted, and
//!   acknowledges it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use jeto_core::memory::InMemoryProvider;
//! use jeto_nats::{NatsProvider, Worker};
//!
//! let client = async_nats::connect("nats://127.0.0.1:4222").await?;
//! // On a hypervisor box: serve host 1 with the box's own provider.
//! let worker = Worker::start(client.clone(), Arc::new(InMemoryProvider::new()), vec![1]).await?;
//! // In the API server: hosts served by workers go through this provider.
//! let provider = NatsProvider::connect(client).await?;
//! # drop((worker, provider)); Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod provider;
mod routing;
mod wire;
mod worker;

pub use provider::NatsProvider;
pub use routing::HostRouter;
pub use worker::Worker;

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
