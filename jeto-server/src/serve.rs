//! `jeto serve`: the composition root of the server.

use std::sync::Arc;
use std::time::Duration;

use jeto_core::access::{Principal, TokenPolicy};
use jeto_core::store::{SqliteStore, Store};
use jeto_core::{DynProvider, Host, Jeto};
use jeto_http::sign_in::SignIn;
use jeto_http::{Dashboard, JetoService, ServerTls, WebhookClient};
use jeto_nats::{HostRouter, NatsProvider, SigningKey, WorkersSlot};
use tower_layer::Layer;

use crate::admin_key::generated_admin;
use crate::config::{NatsConfig, ServerConfig};
use crate::process::{local_vagrant, private_data_dir, stop_signal, wait_for_process_groups};
use crate::reload::ConfigReloader;
use crate::systemd;

/// The config's webhooks into the store, by id: a new one starts at the newest event (it
/// receives what happens from now on), a known one keeps its place in the log and its pause.
async fn configure_webhooks(config: &ServerConfig, store: &dyn Store) -> Result<(), String> {
    let stored = store.webhooks().await.map_err(|e| e.to_string())?;
    let newest = store
        .event_bounds()
        .await
        .ok()
        .flatten()
        .map_or(0, |(_, newest)| newest);
    for webhook in &config.webhooks {
        let mut webhook = webhook.clone();
        match stored.iter().find(|w| w.id == webhook.id) {
            Some(known) => {
                webhook.cursor = known.cursor;
                webhook.paused = known.paused.clone();
            }
            None => webhook.cursor = newest,
        }
        store
            .put_webhook(webhook)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// `jeto serve`: opens the store in the config's data folder, registers its hosts and projects,
/// wires the providers (this box's vagrant, and NATS workers for the hosts `[nats]` names), and
/// serves the API and dashboard until SIGTERM or Ctrl-C, then drains and stops.
///
/// The error is a sentence for the operator, naming the file, key or address at fault.
pub async fn serve(config: ServerConfig) -> Result<(), String> {
    private_data_dir(&config.data_dir)?;
    let store = Arc::new(SqliteStore::open(&config.data_dir).map_err(|e| e.to_string())?);
    config.check_hosts_and_projects()?;
    for host in &config.hosts {
        store
            .put_host(host.clone())
            .await
            .map_err(|e| e.to_string())?;
    }
    for project in &config.projects {
        store
            .put_project(project.clone())
            .await
            .map_err(|e| e.to_string())?;
    }
    configure_webhooks(&config, store.as_ref()).await?;
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
    let tls = match &config.tls {
        Some(tls) => Some(ServerTls::from_files(&tls.cert_file, &tls.key_file)?),
        None => None,
    };
    let mut builder = Jeto::builder(provider)
        .store(store.clone())
        .policy(Arc::new(policy))
        .webhook_sender(Arc::new(WebhookClient::new(Duration::from_secs(
            config.webhook_delivery.attempt_timeout_secs.max(1),
        ))))
        .config(config.jeto_config());
    if let Some((path, text)) = &config.source {
        builder = builder.reloader(Arc::new(ConfigReloader::new(
            path.clone(),
            text,
            store,
            config.data_dir.clone(),
            address,
            tls.clone(),
        )?));
    }
    let jeto = builder.build().await.map_err(|e| e.to_string())?;
    reload_on_sighup(jeto.clone())?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("jeto listening on {scheme}://{address}");
    let stop = stop_signal()?;
    let (stopping, proxies_stop) = tokio::sync::watch::channel(false);
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let proxies = match &config.proxy {
        Some(table) => {
            crate::proxy::start(table, &config.server, &jeto, &proxies_stop, grace).await?
        }
        None => Vec::new(),
    };
    let shutdown = async move {
        stop.await;
        let _ = stopping.send(true);
        systemd::stopping();
    };
    systemd::ready(&format!("serving on {scheme}://{address}"));
    let api = JetoService::new(jeto.clone());
    let sign_in = match &config.oidc {
        Some(oidc) => Some(SignIn::new(oidc.clone(), jeto.clone())?),
        None => None,
    };
    let drain = Duration::from_secs(config.drain_secs);
    // One chain for every service the server may serve (each arm is another type).
    macro_rules! run {
        ($service:expr) => {
            configure(
                jeto_http::serve(listener, $service),
                &config,
                jeto.clone(),
                drain,
                tls,
            )
            .with_graceful_shutdown(shutdown, grace)
            .await
        };
    }
    match (config.dashboard, sign_in) {
        (true, Some(sign_in)) => run!(Dashboard::new(sign_in.layer(api))),
        (false, Some(sign_in)) => run!(sign_in.layer(api)),
        (true, None) => run!(Dashboard::new(api)),
        (false, None) => run!(api),
    }
    for proxy in proxies {
        let _ = proxy.await;
    }
    wait_for_process_groups(records, &config).await;
    tracing::info!("stopped");
    Ok(())
}

/// Reads the config file again at each SIGHUP (as an admin's `POST /api/reload` does); what
/// happened goes to the log.
fn reload_on_sighup(jeto: Jeto) -> Result<(), String> {
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|e| format!("cannot handle SIGHUP: {e}"))?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            systemd::reloading();
            // A reload's outcome is logged by the reload itself.
            if let Err(jeto_core::Error::NotSupported { what }) =
                jeto.reload(&Principal::admin("SIGHUP")).await
            {
                tracing::warn!("SIGHUP: nothing to do: {what}");
            }
            systemd::ready("serving");
        }
    });
    Ok(())
}

/// The server's limits, its drain and its commands' shutdown, whatever service it serves.
fn configure<S>(
    serve: jeto_http::Serve<S>,
    config: &ServerConfig,
    jeto: Jeto,
    drain: Duration,
    tls: Option<ServerTls>,
) -> jeto_http::Serve<S> {
    let serve = serve
        .limits(config.server.clone())
        .stopping(jeto)
        .draining_for(drain);
    match tls {
        Some(tls) => serve.tls(tls),
        None => serve,
    }
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
