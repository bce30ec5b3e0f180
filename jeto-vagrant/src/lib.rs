//! A [`jeto_core::Provider`] that drives the real `vagrant` CLI.
//!
//! [`VagrantProvider`] spawns one `vagrant --machine-readable ...` process per call in the
//! instance folder, passes arguments as argv (never through a shell), streams the console as
//! it is printed, parses [`machine_readable`] output (with Vagrant's `error-exit` class and
//! message), and kills the whole process group on timeout or cancellation.
//!
//! ```no_run
//! # async fn demo(instance: jeto_core::Instance) -> jeto_core::Result<()> {
//! use jeto_core::Provider;
//! use jeto_vagrant::{VagrantConfig, VagrantProvider};
//!
//! let vagrant = VagrantProvider::new(VagrantConfig::default());
//! for machine in vagrant.status(&instance).await? {
//!     println!("{}: {}", machine.name, machine.status);
//! }
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod archive;
mod config;
mod error;
mod fast_states;
#[cfg(feature = "fixture")]
#[cfg_attr(docsrs, doc(cfg(feature = "fixture")))]
pub mod fixture;
mod folder_queue;
pub mod folder_safety;
pub mod git;
mod inventory;
pub mod machine_info;
pub mod machine_readable;
mod process_records;
mod provider;
pub mod runner;

pub use config::VagrantConfig;
pub use error::{Error, Result};
pub use process_records::ProcessRecords;
pub use provider::VagrantProvider;
pub use runner::{ProcessEnd, ProcessRunner, ProcessSpec, TokioProcessRunner};
