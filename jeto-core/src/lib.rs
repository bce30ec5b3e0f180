//! Jeto's domain and service: drive Vagrant environments ("instances") from Rust.
//!
//! This crate holds the types of the original Jeto API ([`Instance`], [`Status`], [`Host`],
//! [`JetoInfos`]), the [`Provider`] trait that runs machines, and the errors. It does not
//! spawn processes or open sockets: `jeto-vagrant` implements [`Provider`] over the `vagrant`
//! CLI and `jeto-http` serves the REST API.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use jeto_core::{memory::InMemoryProvider, Action, ActionRequest, ConsoleSink, Provider};
//!
//! let provider = InMemoryProvider::new().with_instance("/srv/app", &["default"]);
//! let instance = jeto_core::memory::instance_at(1, "/srv/app");
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
//! Features: `mock` adds mockall's `MockProvider`; `testing` adds [`memory::InMemoryProvider`]
//! and the provider [`conformance`] suite.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod access;
mod action;
pub mod audit;
mod command;
pub mod console;
mod error;
mod host;
mod instance;
mod inventory;
mod jeto_infos;
mod machine;
mod project;
mod provider;
mod provider_error;
mod provider_slots;
mod scheduler;
pub mod service;
mod status_cache;
pub mod store;
pub mod validate;

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod conformance;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod memory;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod store_conformance;

/// Implement [`Provider`] with it: `#[jeto_core::async_trait]` on the impl block.
pub use async_trait::async_trait;

pub use action::{Action, ActionRequest, CheckedRequest};
pub use command::{Command, CommandError, CommandStatus, FailureKind};
pub use error::{BoxError, Error, ErrorKind, Result};
pub use host::{Host, HostParams};
pub use instance::{Instance, InstanceSpec, Status};
pub use inventory::{BoxInfo, GlobalMachine, HostWorker, PluginInfo, ToolInfo};
pub use jeto_infos::{JetoInfos, JETO_JSON};
pub use machine::{ForwardedPort, MachineDetails, MachineSnapshots, SshDetails};
pub use project::Project;
#[cfg(feature = "mock")]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub use provider::MockProvider;
pub use provider::{
    check_vagrant_folder, ConsoleSink, DynProvider, InstanceSource, Outcome, Provider,
};
pub use provider_error::ProviderError;
pub use provider_slots::ProviderSlots;
pub use scheduler::{CommandHandle, ConsoleFollower, SchedulerConfig};
pub use service::{InstanceView, Jeto, JetoConfig};
