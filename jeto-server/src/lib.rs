//! The `jeto` server: its config file, and the wiring of the libraries into the two programs
//! the binary runs (the composition root; the adapters below depend only on `jeto-core`).
//!
//! - [`serve`]: the API server (`jeto serve`): [`jeto_core::store::SqliteStore`] in the data
//!   folder, [`jeto_vagrant::VagrantProvider`] for this box's hosts, [`jeto_nats::NatsProvider`]
//!   for the hosts workers serve, [`jeto_http::JetoService`] and its dashboard on a socket.
//! - [`work`]: a worker (`jeto worker`) serving some hosts' calls over NATS.
//! - [`config::ServerConfig`]: the TOML file both read; every key has a default.
//!
//! ```no_run
//! # async fn demo() -> Result<(), String> {
//! let config: jeto_server::config::ServerConfig = toml::from_str(r#"
//!     listen = "127.0.0.1:0"
//!     data_dir = "/var/lib/jeto"
//! "#).map_err(|e| e.to_string())?;
//! jeto_server::serve(config).await
//! # }
//! ```

mod admin_key;
mod backup;
pub mod config;
mod process;
mod proxy;
mod reload;
mod serve;
mod systemd;
mod worker;

pub use backup::{backup, restore};
pub use process::raise_open_files_limit;
pub use serve::serve;
pub use worker::work;
