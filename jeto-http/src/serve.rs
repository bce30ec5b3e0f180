//! Serving a [`JetoService`] on a TCP listener with hyper-util, with graceful shutdown.

use std::future::Future;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::JetoService;

/// Serves `service` on `listener` until `shutdown` completes; then stops accepting, stops the
/// running commands (recorded `interrupted`) and lets in-flight requests finish for at most
/// `grace`.
///
/// ```no_run
/// # async fn demo(jeto: jeto_core::Jeto) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:7878").await?;
/// jeto_http::serve(listener, jeto_http::JetoService::new(jeto), async {
///     let _ = tokio::signal::ctrl_c().await;
/// }, std::time::Duration::from_secs(10)).await;
/// # Ok(()) }
/// ```
pub async fn serve(
    listener: TcpListener,
    service: JetoService,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: wait a little and go on.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let connection = builder.serve_connection_with_upgrades(
                    TokioIo::new(stream),
                    TowerToHyperService::new(service.clone()),
                );
                let connection = graceful.watch(connection.into_owned());
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::debug!(%peer, %error, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down: no new connections; stopping running commands");
    service.jeto().shutdown(grace).await;
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open at the end of the grace period");
    }
}
