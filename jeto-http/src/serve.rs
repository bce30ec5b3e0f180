//! Serving a [`crate::JetoService`] (or a router holding one) on a TCP listener with hyper, bounded: HTTP/1.1 only, a cap on
//! open connections, header, idle, body and write timeouts, and graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body::Body;
use jeto_core::Jeto;
use tower_service::Service;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};

use crate::client::ClientAddr;
use crate::connection::{Connections, TimedBody, TrackedBody, TrackedIo};
use crate::limits::ServerLimits;
use crate::tls::ServerTls;

/// Serves `service` on `listener`: any `Clone` tower service over [`TimedBody`] requests, a
/// [`crate::JetoService`] or a router that nests one (like `axum::serve`). Configure it with
/// [`Serve::limits`] and [`Serve::stopping`], then `.await` it (it runs until
/// [`Serve::with_graceful_shutdown`]'s signal, or forever).
///
/// ```no_run
/// # async fn demo(jeto: jeto_core::Jeto) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:7878").await?;
/// let service = jeto_http::JetoService::new(jeto.clone());
/// jeto_http::serve(listener, service)
///     .stopping(jeto)
///     .with_graceful_shutdown(async { let _ = tokio::signal::ctrl_c().await; },
///         std::time::Duration::from_secs(10))
///     .await;
/// # Ok(()) }
/// ```
pub fn serve<S>(listener: TcpListener, service: S) -> Serve<S> {
    Serve {
        listener,
        service,
        limits: ServerLimits::default(),
        jeto: None,
        shutdown: Box::pin(std::future::pending()),
        grace: Duration::from_secs(10),
        drain: Duration::ZERO,
        tls: None,
    }
}

/// A server being configured; `.await` it to run it. See [`serve`].
#[must_use = "a server does nothing until it is awaited"]
pub struct Serve<S> {
    listener: TcpListener,
    service: S,
    limits: ServerLimits,
    jeto: Option<Jeto>,
    shutdown: Pin<Box<dyn Future<Output = ()> + Send>>,
    grace: Duration,
    drain: Duration,
    tls: Option<ServerTls>,
}

impl<S> std::fmt::Debug for Serve<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serve")
            .field("listener", &self.listener)
            .field("limits", &self.limits)
            .field("grace", &self.grace)
            .field("drain", &self.drain)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl<S> Serve<S> {
    /// These limits instead of the defaults.
    pub fn limits(mut self, limits: ServerLimits) -> Self {
        self.limits = limits;
        self
    }

    /// At shutdown, stop `jeto`'s running commands (recorded `interrupted`) before draining
    /// connections, so console followers end instead of waiting out the grace period.
    pub fn stopping(mut self, jeto: Jeto) -> Self {
        self.jeto = Some(jeto);
        self
    }

    /// Serves HTTPS with `tls` (the handshake is bounded by the header read timeout).
    pub fn tls(mut self, tls: ServerTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// At the shutdown signal, first drain for at most `drain` (with [`Serve::stopping`]):
    /// requests are still served, but new commands are refused (503 `shutting_down`, with
    /// `Retry-After`) while running ones finish; then the shutdown proper. None by default.
    pub fn draining_for(mut self, drain: Duration) -> Self {
        self.drain = drain;
        self
    }

    /// Stop when `signal` completes: no new connections, then the running commands of
    /// [`Serve::stopping`]'s service stop, and in-flight requests get at most `grace` to finish.
    pub fn with_graceful_shutdown(
        mut self,
        signal: impl Future<Output = ()> + Send + 'static,
        grace: Duration,
    ) -> Self {
        self.shutdown = Box::pin(signal);
        self.grace = grace;
        self
    }
}

impl<S, B> std::future::IntoFuture for Serve<S>
where
    S: Service<http::Request<TimedBody>, Response = http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Output = ();
    type IntoFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

impl<S> Serve<S> {
    /// The accept loop, then the shutdown (see [`Serve::with_graceful_shutdown`]).
    async fn run<B>(self)
    where
        S: Service<http::Request<TimedBody>, Response = http::Response<B>, Error = Infallible>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let Serve {
            listener,
            service,
            limits,
            jeto,
            mut shutdown,
            grace,
            drain,
            tls,
        } = self;
        let acceptor = tls.as_ref().map(ServerTls::acceptor);
        let mut draining: Option<Pin<Box<dyn Future<Output = ()> + Send>>> = None;
        let max = limits.effective_max_connections();
        tracing::info!(max_connections = max, "accepting connections");
        let limits = Arc::new(limits);
        let connections = Arc::new(Connections::default());
        let graceful = GracefulShutdown::new();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut builder = http1::Builder::new();
        builder.keep_alive(true);
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(accepted) => accepted,
                        Err(error) => {
                            out_of_files(&error, &connections).await;
                            continue;
                        }
                    };
                    if connections.len() >= max && !connections.evict_idlest() {
                        // Over TLS, a plain answer would be noise: closing says it.
                        if acceptor.is_none() {
                            refuse(stream, max);
                        }
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    let (id, activity) = connections.add();
                    let service = service.clone();
                    let body_timeout = Duration::from_secs(limits.body_read_timeout_secs);
                    let serving = {
                        let activity = activity.clone();
                        let limits = limits.clone();
                        service_fn(move |request: http::Request<hyper::body::Incoming>| {
                            let in_flight = activity.begin();
                            let mut service = service.clone();
                            let client = ClientAddr::behind(peer, request.headers(), &limits.trusted_proxies);
                            async move {
                                let mut request = request.map(|body| TimedBody::new(body, body_timeout));
                                request.extensions_mut().insert(client);
                                let response = service.call(request).await?;
                                Ok::<_, Infallible>(response.map(|body| TrackedBody::new(body, in_flight)))
                            }
                        })
                    };
                    let io = TrackedIo::new(stream, activity.clone());
                    let watcher = graceful.watcher();
                    let stop = stop_rx.clone();
                    let builder = builder.clone();
                    let acceptor = acceptor.clone();
                    let (connections, limits) = (connections.clone(), limits.clone());
                    tokio::spawn(async move {
                        let handshake = Duration::from_secs(limits.header_read_timeout_secs);
                        let served = async {
                            match acceptor {
                                None => {
                                    let connection = builder.serve_connection(TokioIo::new(io), serving).with_upgrades();
                                    until_stopped(connection, stop, watcher).await
                                }
                                Some(acceptor) => {
                                    match tokio::time::timeout(handshake, acceptor.accept(io)).await {
                                        Ok(Ok(stream)) => {
                                            let connection = builder.serve_connection(TokioIo::new(stream), serving).with_upgrades();
                                            until_stopped(connection, stop, watcher).await
                                        }
                                        Ok(Err(error)) => {
                                            tracing::debug!(%error, "TLS handshake failed");
                                            Ok(())
                                        }
                                        Err(_) => {
                                            tracing::debug!("TLS handshake timed out");
                                            Ok(())
                                        }
                                    }
                                }
                            }
                        };
                        tokio::select! {
                            result = served => {
                                if let Err(error) = result {
                                    tracing::debug!(%error, "connection ended with an error");
                                }
                            }
                            reason = activity.watchdog(&limits) => {
                                tracing::debug!(reason, "connection closed");
                            }
                        }
                        connections.remove(id);
                    });
                }
                () = &mut shutdown, if draining.is_none() => {
                    let Some(jeto) = jeto.clone().filter(|_| !drain.is_zero()) else { break };
                    // Requests go on being served while the running commands finish.
                    draining = Some(Box::pin(async move {
                        let left = jeto.drain(drain).await;
                        if left > 0 {
                            tracing::warn!(left, "commands still running at the end of the drain are interrupted");
                        }
                    }));
                }
                () = async { draining.as_mut().expect("guarded").await }, if draining.is_some() => break,
            }
        }
        drop(listener);
        tracing::info!("shutting down: no new connections; stopping running commands");
        if let Some(jeto) = jeto {
            jeto.shutdown(grace).await;
        }
        let _ = stop_tx.send(true);
        if tokio::time::timeout(grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("some connections were still open at the end of the grace period");
        }
    }
}

/// Serves `connection` (upgrades allowed: a WebSocket through the proxy) until it ends,
/// shutting it down gracefully once `stop` says so. Holding `_watcher` makes the server's
/// graceful shutdown wait for it (hyper-util's own watch takes no upgradeable connection).
async fn until_stopped<I, S, B>(
    connection: hyper::server::conn::http1::UpgradeableConnection<I, S>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    _watcher: hyper_util::server::graceful::Watcher,
) -> hyper::Result<()>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => return result,
        _ = stop.wait_for(|stopping| *stopping) => {}
    }
    connection.as_mut().graceful_shutdown();
    connection.await
}

/// After a failed accept: out of file descriptors, close the idlest connection and pause a
/// little, so the loop never spins; other errors concern one connection only.
async fn out_of_files(error: &std::io::Error, connections: &Connections) {
    let errno = error.raw_os_error();
    if errno == Some(nix::errno::Errno::EMFILE as i32)
        || errno == Some(nix::errno::Errno::ENFILE as i32)
    {
        let evicted = connections.evict_idlest();
        tracing::warn!(%error, evicted, "out of file descriptors; raise the open-files limit or lower max_connections");
        tokio::time::sleep(Duration::from_millis(if evicted { 10 } else { 100 })).await;
    } else {
        tracing::debug!(%error, "accept failed");
    }
}

/// Answers a connection there is no room for with a 503, without reading it.
fn refuse(stream: TcpStream, max: usize) {
    let body = format!(
        r#"{{"error":{{"code":"too_many_connections","message":"the server already has {max} connections open, all busy (max_connections); retry shortly"}}}}"#
    );
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    // A fresh socket's send buffer takes this at once; if not, closing is answer enough.
    let _ = stream.try_write(answer.as_bytes());
}
