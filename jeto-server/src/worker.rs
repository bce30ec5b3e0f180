//! `jeto worker`: this box's vagrant, serving some hosts' calls for a server over NATS.

use std::sync::Arc;

use jeto_nats::{Worker, WorkerConfig, WorkerTrust};

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
    let Some(server_key) = nats.server_key.as_deref() else {
        return Err("a worker obeys only its server: set [nats] server_key to the server's public signing key (the server prints it at start)".into());
    };
    let key = nats.signing_key(&config.data_dir)?;
    // Its own folders: the instance roots of its config, and its data folder's `instances`.
    let mut roots = config.instance_roots.clone();
    roots.push(config.data_dir.join("instances"));
    let mut trust = WorkerTrust::new(key, server_key, roots).map_err(|e| e.to_string())?;
    for host in config.hosts.iter().filter(|h| hosts.contains(&h.id)) {
        trust = trust.with_host_params(host.id, host.params.clone());
    }
    let public_key = trust.public_key();
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
        trust,
        worker_config,
    )
    .await
    .map_err(|e| e.to_string())?;
    println!(
        "jeto worker {name} serving hosts {hosts:?} over {}, signing key {public_key}",
        nats.url
    );
    crate::systemd::ready(&format!("serving hosts {hosts:?}"));
    stop_signal()?.await;
    crate::systemd::stopping();
    // Running actions finish within the drain; those still running then end `interrupted`,
    // recorded and told to the server.
    worker
        .drain(std::time::Duration::from_secs(config.drain_secs))
        .await;
    wait_for_process_groups(records, &config).await;
    Ok(())
}
