//! [`ProxyService`]: Jeto's reverse proxy for domains. A request is routed by its host name to
//! the domain of that name, checked against the domain's access list, and passed to the
//! machine's address as Jeto last read it (never an address from the request), streaming both
//! ways; WebSocket upgrades pass through. Serve it with [`crate::serve`] (which bounds
//! connections and header and body read times) on a listener of its own.
//!
//! ```no_run
//! # async fn demo(jeto: jeto_core::Jeto) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:80").await?;
//! let proxy = jeto_http::ProxyService::new(jeto, jeto_http::ProxyConfig::default());
//! jeto_http::serve(listener, proxy).await;
//! # Ok(()) }
//! ```

mod access;
mod certificates;
mod forward;
mod headers;
mod pages;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use jeto_core::{DomainTarget, Jeto};

pub(crate) use certificates::check as check_certificate;
pub use certificates::domain_tls;

use crate::TimedBody;

/// The body of the proxy's answers: the machine's, streamed, or a page of its own.
pub type ProxyBody = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// Bounds of the proxy (connections and header read times are [`crate::ServerLimits`]').
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProxyConfig {
    /// How long connecting to a machine may take.
    pub connect_timeout: Duration,
    /// How long a machine may take to answer with its headers (bodies then stream freely).
    pub response_timeout: Duration,
    /// Request bodies larger than this are refused (413), unless the domain says otherwise.
    pub max_body_bytes: u64,
    /// Whether this listener serves HTTPS (for `X-Forwarded-Proto`).
    pub https: bool,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(60),
            max_body_bytes: 10 * 1024 * 1024,
            https: false,
        }
    }
}

/// The reverse proxy of domains, as a tower service (see the module docs).
#[derive(Clone)]
pub struct ProxyService {
    jeto: Jeto,
    config: Arc<ProxyConfig>,
    client: Client<HttpConnector, ProxyBody>,
}

impl std::fmt::Debug for ProxyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyService")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ProxyService {
    /// A proxy of `jeto`'s domains.
    pub fn new(jeto: Jeto, config: ProxyConfig) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.connect_timeout));
        connector.set_nodelay(true);
        connector.enforce_http(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        ProxyService {
            jeto,
            config: Arc::new(config),
            client,
        }
    }

    /// Answers one request.
    pub async fn handle(&self, request: Request<TimedBody>) -> Response<ProxyBody> {
        let Some(host) = forward::host_of(&request) else {
            return pages::page(
                StatusCode::BAD_REQUEST,
                "No host name",
                "The request names no host: nothing is served without one.",
            );
        };
        let domain = match self.jeto.domain_for_host(&host).await {
            Ok(Some(domain)) => domain,
            Ok(None) => {
                return pages::page(
                    StatusCode::NOT_FOUND,
                    "No such site",
                    "No site is served at this name.",
                )
            }
            Err(error) => {
                tracing::error!(%error, "could not read the domains");
                return pages::page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Unavailable",
                    "The domains cannot be read now; try again shortly.",
                );
            }
        };
        let mut request = request;
        if let Err(refused) = access::check(&self.jeto, &domain, request.headers_mut()).await {
            return refused;
        }
        let target = match self.jeto.domain_target(&domain).await {
            Ok(DomainTarget::Ready(address)) => address,
            Ok(DomainTarget::NotRunning { instance, .. })
                if self.jeto.start_for_visit(&domain).await =>
            {
                let mut starting = pages::page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Starting",
                    &format!(
                        "Instance {instance}: machine {} is starting for this visit; this page reloads in 10 s.",
                        domain.machine
                    ),
                );
                let headers = starting.headers_mut();
                headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("10"));
                headers.insert("refresh", http::HeaderValue::from_static("10"));
                return starting;
            }
            Ok(DomainTarget::NotRunning { instance, state }) => {
                return pages::page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Not running",
                    &format!(
                        "Instance {instance}: machine {} is not running ({state}). Start it, then reload this page.",
                        domain.machine
                    ),
                )
            }
            Ok(DomainTarget::NoAddress { instance }) => {
                return pages::page(
                    StatusCode::BAD_GATEWAY,
                    "No address",
                    &format!(
                        "Instance {instance}: machine {} runs, but Jeto read no address for it.",
                        domain.machine
                    ),
                )
            }
            Ok(DomainTarget::Gone) | Ok(_) => {
                return pages::page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "No instance",
                    "The instance of this site is gone.",
                )
            }
            Err(error) => {
                tracing::warn!(domain = %domain.name, %error, "could not read the machine's address");
                return pages::page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Unavailable",
                    "The machine's state cannot be read now; try again shortly.",
                );
            }
        };
        let max_body = domain.max_body_bytes.unwrap_or(self.config.max_body_bytes);
        forward::forward(self, request, &host, target, max_body).await
    }
}

impl tower_service::Service<Request<TimedBody>> for ProxyService {
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<TimedBody>) -> Self::Future {
        let proxy = self.clone();
        Box::pin(async move { Ok(proxy.handle(request).await) })
    }
}
