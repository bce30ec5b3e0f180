//! `jeto serve`: the Jeto server. With no config it listens on 127.0.0.1:7878, keeps its data
//! in `./jeto-data`, and on first start prints a generated admin key once (only its hash is
//! stored).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use jeto_core::access::{hash_key, TokenConfig, TokenPolicy};
use jeto_core::store::{SqliteStore, Store};
use jeto_core::{DynProvider, Host, Jeto};
use jeto_http::config::ServerConfig;
use jeto_http::{Dashboard, JetoService};
use jeto_nats::{HostRouter, NatsProvider, Worker, WorkerConfig};
use jeto_vagrant::{ProcessRecords, VagrantProvider};

/// Drive Vagrant environments over a REST API.
#[derive(Debug, Parser)]
#[command(name = "jeto", version)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Run the server.
    Serve {
        /// TOML config file (every key optional; see the README).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Address to listen on (overrides the config), e.g. 127.0.0.1:7878 or 127.0.0.1:0.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Data folder (overrides the config).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Print the key_sha256 of a key read from standard input, for a `[[tokens]]` entry.
    HashKey,
    /// Serve hosts' calls and actions on this box, for a server whose `[nats]` names them.
    Worker {
        /// TOML config file: its `[vagrant]` table says how vagrant runs here, `data_dir` where
        /// process records are kept, `[nats]` how to sign in.
        #[arg(long)]
        config: Option<PathBuf>,
        /// NATS URL (overrides the config's `[nats] url`).
        #[arg(long)]
        nats: Option<String>,
        /// A host this worker serves (repeat for several).
        #[arg(long = "host", required = true)]
        hosts: Vec<u64>,
        /// This worker's name in `GET /api/hosts/{id}/workers` (default: the box's host name
        /// and the process id).
        #[arg(long)]
        name: Option<String>,
    },
}

/// The file holding the hash of the generated admin key.
const ADMIN_KEY_FILE: &str = "admin_key.sha256";

/// With no token configured: the admin token of the data folder, generated on first start.
fn generated_admin(data_dir: &Path, listen: std::net::SocketAddr) -> Result<TokenConfig, String> {
    let path = data_dir.join(ADMIN_KEY_FILE);
    let hash = match std::fs::read_to_string(&path) {
        Ok(hash) => hash.trim().to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            getrandom::getrandom(&mut bytes).map_err(|e| format!("cannot generate a key: {e}"))?;
            let key: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let hash = hash_key(&key);
            jeto_core::store::write_atomically(&path, hash.as_bytes())
                .map_err(|e| e.to_string())?;
            println!("No token is configured, so an admin key was generated. It is shown only this once; only its hash is kept in {}.", path.display());
            println!("admin key: {key}");
            println!("try: curl -H 'X-JETO-KEY: {key}' http://{listen}/api/instances");
            hash
        }
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    Ok(TokenConfig {
        name: "admin".into(),
        key_sha256: hash,
        admin: true,
        hosts: Default::default(),
        instances: Default::default(),
        projects: Default::default(),
        actions: None,
    })
}

async fn serve(config: ServerConfig) -> Result<(), String> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        format!(
            "cannot create the data folder {}: {e}",
            config.data_dir.display()
        )
    })?;
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
    let provider: DynProvider = match &config.nats {
        Some(nats) => {
            let workers = NatsProvider::connect_with(nats.connect().await?, &nats.setup())
                .await
                .map_err(|e| e.to_string())?
                .with_call_timeout(Duration::from_secs(nats.call_timeout_secs))
                .with_silence_limit(Duration::from_secs(nats.silence_limit_secs));
            tracing::info!(url = %nats.url, hosts = ?nats.hosts, "hosts served by workers over NATS");
            Arc::new(HostRouter::new(local, workers, nats.hosts.iter().copied()))
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
    if config.dashboard {
        jeto_http::serve(listener, Dashboard::new(api))
            .limits(config.server.clone())
            .stopping(jeto)
            .with_graceful_shutdown(shutdown, grace)
            .await;
    } else {
        jeto_http::serve(listener, api)
            .limits(config.server.clone())
            .stopping(jeto)
            .with_graceful_shutdown(shutdown, grace)
            .await;
    }
    wait_for_process_groups(records, &config).await;
    tracing::info!("stopped");
    Ok(())
}

/// This box's vagrant, with its process records: before anything runs, the groups a server
/// or worker killed outright left running are killed.
fn local_vagrant(config: &ServerConfig) -> Result<(VagrantProvider, Arc<ProcessRecords>), String> {
    let dir = config.data_dir.join("processes");
    let (records, killed) =
        ProcessRecords::open(&dir, Duration::from_secs(config.vagrant.kill_grace_secs))
            .map_err(|e| format!("cannot use {}: {e}", dir.display()))?;
    if killed > 0 {
        tracing::warn!(
            killed,
            "killed process groups left running by an earlier run"
        );
    }
    let records = Arc::new(records);
    let vagrant = VagrantProvider::new(config.vagrant.clone()).with_records(records.clone());
    Ok((vagrant, records))
}

/// Completes on Ctrl-C or SIGTERM.
fn stop_signal() -> Result<impl std::future::Future<Output = ()>, String> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
    Ok(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    })
}

/// Stopped actions have their process groups killed on other threads: wait for them, so none
/// outlives the process (what is left, the next start kills).
async fn wait_for_process_groups(records: Arc<ProcessRecords>, config: &ServerConfig) {
    let grace = Duration::from_secs(config.vagrant.kill_grace_secs + 1);
    let left = tokio::task::spawn_blocking(move || records.wait_until_none(grace))
        .await
        .unwrap_or(0);
    if left > 0 {
        tracing::warn!(
            left,
            "process groups still dying at exit; the next start kills them"
        );
    }
}

/// `jeto worker`: serves `hosts` with this box's vagrant until SIGTERM or Ctrl-C.
async fn work(
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

/// Raises the soft limit on open files to the hard one: connections and vagrant processes
/// both need descriptors, and the connection cap is held below the limit.
fn raise_open_files_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            if let Err(error) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::warn!(%error, soft, hard, "could not raise the open-files limit");
            }
        }
    }
}

fn main() -> ExitCode {
    // Request logs are written by a background thread, off the request path; the guard
    // flushes them at exit.
    let (writer, _flush_on_exit) = tracing_appender::non_blocking(std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(writer)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    raise_open_files_limit();
    let result = match cli.command {
        Commands::HashKey => {
            let mut key = String::new();
            std::io::stdin()
                .read_line(&mut key)
                .map_err(|e| e.to_string())
                .map(|_| {
                    println!("{}", hash_key(key.trim_end_matches(['\n', '\r'])));
                })
        }
        Commands::Worker {
            config,
            nats,
            hosts,
            name,
        } => config
            .as_deref()
            .map(ServerConfig::load)
            .unwrap_or_else(|| Ok(ServerConfig::default()))
            .and_then(|config| {
                tokio::runtime::Runtime::new()
                    .map_err(|e| e.to_string())
                    .and_then(|rt| rt.block_on(work(config, nats, hosts, name)))
            }),
        Commands::Serve {
            config,
            listen,
            data_dir,
        } => {
            let loaded = match &config {
                Some(path) => ServerConfig::load(path),
                None => Ok(ServerConfig::default()),
            };
            match loaded {
                Ok(mut config) => {
                    config.listen = listen.unwrap_or(config.listen);
                    config.data_dir = data_dir.unwrap_or(config.data_dir);
                    tokio::runtime::Runtime::new()
                        .map_err(|e| e.to_string())
                        .and_then(|rt| rt.block_on(serve(config)))
                }
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("jeto: {message}");
            ExitCode::FAILURE
        }
    }
}
