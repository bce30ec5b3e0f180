//! `jeto serve`: the composition root of the server.

use std::sync::Arc;
use std::time::Duration;

use jeto_core::access::TokenPolicy;
use jeto_core::store::{SqliteStore, Store};
use jeto_core::{DynProvider, Host, Jeto};
use jeto_http::sign_in::SignIn;
use jeto_http::{Dashboard, JetoService};
use jeto_nats::{HostRouter, NatsProvider, SigningKey, WorkersSlot};
use tower_layer::Layer;

use crate::admin_key::generated_admin;
use crate::config::{NatsConfig, ServerConfig};
use crate::process::{local_vagrant, private_data_dir, stop_signal, wait_for_process_groups};

/// `jeto serve`: opens the store in the config's data folder, registers its hosts and projects,
/// wires the providers (this box's vagrant, and NATS workers for the hosts `[nats]` names), and
/// serves the API and dashboard until SIGTERM or Ctrl-C, then drains and stops.
///
/// The error is a sentence for the operator, naming the file, key or address at fault.
pub async fn serve(config: ServerConfig) -> Result<(), String> {
    private_data_dir(&config.data_dir)?;
    let store = Arc::new(SqliteStore::open(&config.data_dir).map_err(|e| e.to_string())?);
    for host in &config.hosts {
        if host.id == 0 {
            return Err(format!(
                "host {:?} in the config needs an id (tokens grant hosts by id)",
                host.name
            ));
        }
        store
            .put_host(host.clone())
            .await
            .map_err(|e| e.to_string())?;
    }
    for project in &config.projects {
        if project.id == 0 {
            return Err(format!(
                "project {:?} in the config needs an id (tokens grant projects by id)",
                project.name
            ));
        }
        project
            .validate()
            .map_err(|e| format!("project {:?} in the config: {e}", project.name))?;
        store
            .put_project(project.clone())
            .await
            .map_err(|e| e.to_string())?;
    }
    if store.hosts().await.map_err(|e| e.to_string())?.is_empty() {
        store
            .put_host(Host {
                id: 1,
                ..Host::new("local", "virtualbox")
            })
            .await
            .map_err(|e| e.to_string())?;
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let tokens = if config.tokens.is_empty() {
        vec![generated_admin(&config.data_dir, address)?]
    } else {
        config.tokens.clone()
    };
    let policy = TokenPolicy::new(tokens).map_err(|e| e.to_string())?;
    let (vagrant, records) = local_vagrant(&config)?;
    let local: DynProvider = Arc::new(vagrant);
    // Hosts served by workers on other boxes go over NATS; the others run here.
    // NATS may be down when the server starts: local hosts and the dashboard work at once, and
    // the workers' hosts answer 503 until a connection is made (retried in the background).
    let provider: DynProvider = match &config.nats {
        Some(nats) => {
            // Wrong keys are a config error, found at start rather than at each retry.
            let key = nats.signing_key(&config.data_dir)?;
            nats.trusted_workers()?;
            println!(
                "jeto's NATS signing key: {} (each worker's [nats] server_key)",
                key.public_key()
            );
            let (router, slot) = HostRouter::pending(local, nats.hosts.iter().copied());
            // One try before serving, so that with NATS up the workers' hosts are served from
            // the first request on; the retries go on in the background.
            if let Err(error) = connect_workers(nats, &key, &slot).await {
                tracing::warn!(url = %nats.url, %error, "NATS is not reachable; the hosts its workers serve answer 503 until it is");
                tokio::spawn(keep_connecting(nats.clone(), key, slot));
            }
            Arc::new(router)
        }
        None => local,
    };
    let jeto = Jeto::builder(provider)
        .store(store)
        .policy(Arc::new(policy))
        .config(config.jeto_config())
        .build()
        .await
        .map_err(|e| e.to_string())?;
    println!("jeto listening on http://{address}");
    let shutdown = stop_signal()?;
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let api = JetoService::new(jeto.clone());
    let sign_in = match &config.oidc {
        Some(oidc) => Some(SignIn::new(oidc.clone(), jeto.clone())?),
        None => None,
    };
    let limits = config.server.clone();
    match (config.dashboard, sign_in) {
        (true, Some(sign_in)) => {
            jeto_http::serve(listener, Dashboard::new(sign_in.layer(api)))
                .limits(limits)
                .stopping(jeto)
                .with_graceful_shutdown(shutdown, grace)
                .await
        }
        (false, Some(sign_in)) => {
            jeto_http::serve(listener, sign_in.layer(api))
                .limits(limits)
                .stopping(jeto)
                .with_graceful_shutdown(shutdown, grace)
                .await
        }
        (true, None) => {
            jeto_http::serve(listener, Dashboard::new(api))
                .limits(limits)
                .stopping(jeto)
                .with_graceful_shutdown(shutdown, grace)
                .await
        }
        (false, None) => {
            jeto_http::serve(listener, api)
                .limits(limits)
                .stopping(jeto)
                .with_graceful_shutdown(shutdown, grace)
                .await
        }
    }
    wait_for_process_groups(records, &config).await;
    tracing::info!("stopped");
    Ok(())
}

/// Connects to NATS, sets up its stream and buckets, and gives the router its workers.
async fn connect_workers(
    nats: &NatsConfig,
    key: &SigningKey,
    slot: &WorkersSlot,
) -> Result<(), String> {
    let client = nats.connect().await?;
    let workers =
        NatsProvider::connect_with(client, &nats.setup(), key.clone(), nats.trusted_workers()?)
            .await
            .map_err(|e| e.to_string())?;
    slot.fill(
        workers
            .with_call_timeout(Duration::from_secs(nats.call_timeout_secs))
            .with_silence_limit(Duration::from_secs(nats.silence_limit_secs)),
    );
    tracing::info!(url = %nats.url, hosts = ?nats.hosts, "hosts served by workers over NATS");
    Ok(())
}

/// [`connect_workers`] again and again (1 s, doubling up to 30 s) until it succeeds. A wrong
/// setting (a missing seed file) is logged at each try like an unreachable server.
async fn keep_connecting(nats: NatsConfig, key: SigningKey, slot: WorkersSlot) {
    let mut wait = Duration::from_secs(1);
    loop {
        tokio::time::sleep(wait).await;
        match connect_workers(&nats, &key, &slot).await {
            Ok(()) => return,
            Err(error) => {
                wait = (wait * 2).min(Duration::from_secs(30));
                tracing::warn!(url = %nats.url, %error, retry_in_secs = wait.as_secs(), "NATS is still not reachable");
            }
        }
    }
}
