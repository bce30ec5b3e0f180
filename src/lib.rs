//! Jeto: drive Vagrant environments from Rust or over a REST API.
//!
//! A facade over the workspace's crates: [`core`] (domain, Provider trait, service),
//! [`vagrant`] (the Provider that spawns the `vagrant` CLI) and [`http`] (the hyper adapter).
//! The `jeto` binary is the `jeto-server` crate.
//!
//! The service, its REST API and a request, all in-process (swap the in-memory provider for
//! `jeto::vagrant::VagrantProvider` to drive real machines, and hand the service to
//! [`http::serve`] to listen on a socket):
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use http_body_util::{BodyExt, Full};
//! use jeto::core::{access::{TokenConfig, TokenPolicy}, testing::InMemoryProvider, Jeto};
//!
//! let provider = InMemoryProvider::new().with_instance("/srv/shop", &["web", "db"]);
//! let policy = TokenPolicy::new(vec![TokenConfig::admin("ops", "s3cret")]).unwrap();
//! let jeto = Jeto::builder(Arc::new(provider)).policy(Arc::new(policy)).build().await.unwrap();
//! let api = jeto::http::JetoService::new(jeto);
//!
//! let request = http::Request::post("/api/hosts")
//!     .header("x-jeto-key", "s3cret")
//!     .header("content-type", "application/json")
//!     .body(Full::new(bytes::Bytes::from(r#"{"name": "lab", "provider": "memory"}"#)))
//!     .unwrap();
//! let response = api.handle(request).await;
//! assert_eq!(response.status(), 201);
//! assert_eq!(response.headers()["location"], "/api/hosts/1");
//! let body = response.into_body().collect().await.unwrap().to_bytes();
//! assert!(body.starts_with(br#"{"id":1,"name":"lab""#));
//! # });
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

pub use jeto_core as core;
pub use jeto_http as http;
pub use jeto_vagrant as vagrant;

// The README's Rust example runs as a doctest, so the first code a newcomer copies compiles.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExample;
