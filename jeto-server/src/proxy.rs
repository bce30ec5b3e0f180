//! The `[proxy]` listeners: domains served over HTTP and HTTPS beside the API, stopped with it.

use std::time::Duration;

use jeto_core::Jeto;
use jeto_http::{ProxyConfig, ProxyService, ServerLimits};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::ProxyTable;

/// Binds and serves the proxy's listeners; each ends (gracefully, within `grace`) once
/// `stop` says so.
pub(crate) async fn start(
    table: &ProxyTable,
    server: &ServerLimits,
    jeto: &Jeto,
    stop: &watch::Receiver<bool>,
    grace: Duration,
) -> Result<Vec<JoinHandle<()>>, String> {
    let mut limits = server.clone();
    limits.max_connections = table.max_connections.max(1);
    let config = |https: bool| {
        let mut config = ProxyConfig::default();
        config.connect_timeout = Duration::from_secs(table.connect_timeout_secs.max(1));
        config.response_timeout = Duration::from_secs(table.response_timeout_secs.max(1));
        config.max_body_bytes = table.max_body_bytes;
        config.https = https;
        config
    };
    let fallback = match (&table.cert_file, &table.key_file) {
        (Some(cert), Some(key)) => Some((cert.as_path(), key.as_path())),
        (None, None) => None,
        _ => return Err("[proxy] cert_file and key_file go together".into()),
    };
    let mut served = Vec::new();
    for (address, https) in [(table.listen, false), (table.tls_listen, true)] {
        let Some(address) = address else { continue };
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|e| format!("[proxy] cannot listen on {address}: {e}"))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        let mut serve = jeto_http::serve(listener, ProxyService::new(jeto.clone(), config(https)))
            .limits(limits.clone());
        if https {
            serve = serve.tls(jeto_http::domain_tls(jeto.clone(), fallback)?);
        }
        let mut stop = stop.clone();
        let serve = serve.with_graceful_shutdown(
            async move {
                let _ = stop.wait_for(|stopping| *stopping).await;
            },
            grace,
        );
        let scheme = if https { "https" } else { "http" };
        println!("jeto proxy listening on {scheme}://{address}");
        served.push(tokio::spawn(async move { serve.await }));
    }
    Ok(served)
}
