//! The REST API of Jeto over hyper 1.x.
//!
//! [`JetoService`] is a `Clone` tower `Service` over a [`jeto_core::Jeto`], generic over the
//! request body and infallible (every error is a JSON response); [`Dashboard`] serves the web
//! page in front of it; [`serve`] runs either on a TCP listener with limits and graceful
//! shutdown. Routes: `GET /api/openapi.json`. This crate knows no provider: the `jeto-server`
//! crate wires `jeto-vagrant` and `jeto-nats` under it; below, the in-memory test provider
//! stands in.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use jeto_core::{access::{TokenConfig, TokenPolicy}, testing::InMemoryProvider, Jeto};
//!
//! let policy = TokenPolicy::new(vec![TokenConfig::admin("admin", "secret")])?;
//! let jeto = Jeto::builder(Arc::new(InMemoryProvider::new()))
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
mod client;
mod connection;
mod dashboard;
mod error;
mod handlers;
mod json_request;
mod limits;
mod links;
mod list_cache;
pub mod openapi;
mod proxy;
mod query;
mod response;
mod routes;
mod serve;
mod service;
pub mod sign_in;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod tls;
mod webhook_client;

pub use body::ApiBody;
pub use client::ClientAddr;
pub use connection::{BodyReadTimeout, TimedBody};
pub use dashboard::Dashboard;
pub use error::{status_of, ApiError};
pub use json_request::{read_json, MAX_BODY};
pub use limits::ServerLimits;
pub(crate) use list_cache::ListCache;
pub use proxy::{domain_tls, ProxyBody, ProxyConfig, ProxyService};
pub use query::Query;
pub use serve::{serve, Serve};
pub use service::JetoService;
pub use tls::ServerTls;
pub use webhook_client::WebhookClient;
