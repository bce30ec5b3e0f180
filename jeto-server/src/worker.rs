//! `jeto worker`: this box's vagrant, serving some hosts' calls for a server over NATS.

use std::sync::Arc;

use jeto_nats::{Worker, WorkerConfig};

use crate::config::ServerConfig;
use crate::process::{local_vagrant, stop_signal, wait_for_process_groups};

/// `jeto worker`: serves `hosts` with this box's vagrant until SIGTERM or Ctrl-C. `url` and
/// `name` override the config's `[nats] url` and the default name (host name and process id).
pub async fn work(
    mut config: ServerConfig,
    url: Option<String>,
    hosts: Vec<u64>,
    name: Option<String>,
) -> Result<(), String> {
    let mut nats = config.nats.take().unwrap_or_default();
    if let Some(url) = url {
        nats.url = url;
    }
    if nats.url.is_empty() {
        return Err("a worker needs a NATS URL: --nats nats://HOST:4222 or [nats] url".into());
    }
    let (vagrant, records) = local_vagrant(&config)?;
    let name = name.unwrap_or_else(|| {
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "worker".into());
        format!("{host}-{}", std::process::id())
    });
    let mut worker_config = WorkerConfig::named(&name);
    worker_config.max_calls = nats.worker_max_calls;
    worker_config.max_actions = nats.worker_max_actions;
    worker_config.setup = nats.setup();
    let name = worker_config.name.clone();
    let worker = Worker::start_with(
        nats.connect().await?,
        Arc::new(vagrant),
        hosts.clone(),
        worker_config,
    )
    .await
    .map_err(|e| e.to_string())?;
    println!(
        "jeto worker {name} serving hosts {hosts:?} over {}",
        nats.url
    );
    stop_signal()?.await;
    // Running actions stop with the worker; their messages are delivered again and answered
    // "interrupted" by the next worker.
    worker.stop().await;
    wait_for_process_groups(records, &config).await;
    Ok(())
}
