//! Jeto's domain and service: drive Vagrant environments ("instances") from Rust.
//!
//! This crate holds the types of the original Jeto API ([`Instance`], [`Status`], [`Host`],
//! [`JetoInfos`]), the [`Provider`] trait that runs machines, and the errors. It does not
//! spawn processes or open sockets: `jeto-vagrant` implements [`Provider`] over the `vagrant`
//! CLI and `jeto-http` serves the REST API.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use jeto_core::testing::{instance_at, InMemoryProvider};
//! use jeto_core::{Action, ActionRequest, ConsoleSink, Provider};
//!
//! let provider = InMemoryProvider::new().with_instance("/srv/app", &["default"]);
//! let instance = instance_at(1, "/srv/app");
//! let start = ActionRequest::new(Action::Start).check(&instance)?;
//! let outcome = provider
//!     .run(&instance, &start, ConsoleSink::new(|l| println!("{l}")))
//!     .await?;
//! assert!(outcome.is_success());
//! assert!(provider.status(&instance).await?[0].is_running());
//! # Ok::<_, jeto_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! The modules follow the layers, lowest first; each imports only from the ones before it:
//!
//! | module | holds |
//! |---|---|
//! | `model` (re-exported here) | [`Instance`], [`Host`], [`Project`], [`Action`], [`ActionRequest`], [`Command`], [`Error`] and the failure kinds, [`validate`] and [`console`] |
//! | `provider` (re-exported here) | the [`Provider`] trait, [`ProviderError`], [`ProviderSlots`] |
//! | [`access`] | who is asking ([`access::Principal`]), the token policy, the [`audit`] entry |
//! | [`store`] | the [`store::Store`] trait, [`store::MemoryStore`], [`store::SqliteStore`] |
//! | `scheduler` | commands queued and run one at a time per instance, the status cache |
//! | [`service`] | [`Jeto`], the service every adapter calls |
//! | [`testing`] | [`testing::InMemoryProvider`], the provider and store conformance suites, `MockProvider` |
//!
//! Features: `mock` adds mockall's `MockProvider`; `testing` the [`testing`] module; `sqlite`
//! the SQLite store; `openapi` `utoipa::ToSchema` on the wire types.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod metrics;
mod model;
mod provider;

pub mod access;
pub mod events;
pub mod store;
pub mod webhooks;

mod scheduler;
pub mod service;

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

/// Implement [`Provider`] with it: `#[jeto_core::async_trait]` on the impl block.
pub use async_trait::async_trait;

pub use access::audit;
pub use model::{console, validate};
pub use model::{
    Action, ActionRequest, BoxError, BoxInfo, CheckedRequest, Command, CommandError, CommandStatus,
    Error, ErrorKind, Event, EventKind, FailureKind, ForwardedPort, GlobalMachine, Host,
    HostParams, HostWorker, Instance, InstanceSpec, JetoInfos, MachineDetails, MachineSnapshots,
    PluginInfo, Project, Result, SshDetails, Status, ToolInfo, UnknownAction, JETO_JSON,
};
pub use model::{
    Delivery, DeliveryOutcome, Domain, DomainAccess, DomainLogin, DomainTls, Expiry, ExpiryAction,
    IdleStop, Quota, QuotaResource, QuotaUsage, Usage, Webhook,
};
#[cfg(feature = "mock")]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub use provider::MockProvider;
pub use provider::{
    check_vagrant_folder, ConsoleSink, DynProvider, InstanceSource, Outcome, Provider,
    ProviderError, ProviderSlots, ReadSlot,
};
pub use scheduler::{CommandHandle, ConsoleFollower, SchedulerConfig};
pub use service::{
    DomainTarget, InstanceChange, InstanceView, Jeto, JetoConfig, ReloadReport, Reloader,
};
