//! Jeto: drive Vagrant environments from Rust or over a REST API.
//!
//! A facade over the workspace's crates: [`core`] (domain, Provider trait, service),
//! [`vagrant`] (the Provider that spawns the `vagrant` CLI) and [`http`] (the hyper adapter
//! and the `jeto` server).

pub use jeto_core as core;
pub use jeto_http as http;
pub use jeto_vagrant as vagrant;
