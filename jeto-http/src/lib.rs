//! The REST API of Jeto over hyper 1.x, and the `jeto` server.
//!
//! [`JetoService`] is a `Clone` tower `Service` over a [`jeto_core::Jeto`], generic over the
//! request body and infallible (every error is a JSON response); [`serve`] runs it on a TCP
//! listener with graceful shutdown. Routes: see [`routes::ROUTES`] and `GET /api/openapi.json`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use jeto_core::{access::{TokenConfig, TokenPolicy}, Jeto};
//! use jeto_vagrant::{VagrantConfig, VagrantProvider};
//!
//! let policy = TokenPolicy::new(vec![TokenConfig::admin("admin", "secret")])?;
//! let jeto = Jeto::builder(Arc::new(VagrantProvider::new(VagrantConfig::default())))
//!     .policy(Arc::new(policy))
//!     .build().await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:7878").await?;
//! jeto_http::serve(listener, jeto_http::JetoService::new(jeto.clone()))
//!     .stopping(jeto)
//!     .with_graceful_shutdown(async { let _ = tokio::signal::ctrl_c().await; },
//!         std::time::Duration::from_secs(10))
//!     .await;
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod answers;
pub mod auth;
mod body;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod config;
mod connection;
mod dashboard;
mod error;
mod handlers;
mod list_cache;
pub mod openapi;
mod query;
mod response;
mod routes;
mod serve;
mod service;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use body::{read_json, ApiBody, MAX_BODY};
pub use connection::{BodyReadTimeout, TimedBody};
pub use dashboard::Dashboard;
pub use error::{status_of, ApiError};
pub(crate) use list_cache::ListCache;
pub use query::Query;
pub use serve::{serve, Serve, ServerLimits};
pub use service::JetoService;
