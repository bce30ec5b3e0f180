//! `jeto`: the Jeto server (`serve`), a worker for other boxes (`worker`), `backup` and
//! `restore`, `keygen` and `hash-key`.
//! With no config, `jeto serve` listens on 127.0.0.1:7878, keeps its data in `./jeto-data`,
//! and on first start prints a generated admin key once (only its hash is stored).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use jeto_core::access::hash_key;
use jeto_server::config::ServerConfig;
use jeto_server::{raise_open_files_limit, serve, work};

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
        /// TOML config file (every key optional; see docs/configuration.md).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Address to listen on (overrides the config), e.g. 127.0.0.1:7878 or 127.0.0.1:0.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Data folder (overrides the config).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Write a consistent backup of the server's data folder (database, managed instance
    /// folders, generated keys) to a new .tar.gz, while the server runs.
    Backup {
        /// The server's config file (for its data_dir).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data folder (overrides the config).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The backup file to write (must not exist).
        #[arg(long)]
        to: PathBuf,
    },
    /// Restore a backup into a new or empty data folder; managed instances move along.
    Restore {
        /// The backup file (from `jeto backup`).
        #[arg(long)]
        from: PathBuf,
        /// The data folder to restore into (new or empty).
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Print the key_sha256 of a key read from standard input, for a `[[tokens]]` entry.
    HashKey,
    /// Make a NATS signing key: writes its seed to a new file (readable by you only) and
    /// prints its public key, for the other side's config (`server_key` or
    /// `[[nats.workers]] key`).
    Keygen {
        /// Where to write the seed (`[nats] signing_seed_file`); never overwritten.
        #[arg(long)]
        seed_file: PathBuf,
    },
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
        Commands::Backup {
            config,
            data_dir,
            to,
        } => config
            .as_deref()
            .map(ServerConfig::load)
            .unwrap_or_else(|| Ok(ServerConfig::default()))
            .and_then(|config| {
                let data_dir = data_dir.unwrap_or(config.data_dir);
                jeto_server::backup(&data_dir, &to).map(|done| println!("{done}"))
            }),
        Commands::Restore { from, data_dir } => tokio::runtime::Runtime::new()
            .map_err(|e| e.to_string())
            .and_then(|rt| rt.block_on(jeto_server::restore(&from, &data_dir)))
            .map(|done| println!("{done}")),
        Commands::HashKey => {
            let mut key = String::new();
            std::io::stdin()
                .read_line(&mut key)
                .map_err(|e| e.to_string())
                .map(|_| {
                    println!("{}", hash_key(key.trim_end_matches(['\n', '\r'])));
                })
        }
        Commands::Keygen { seed_file } => {
            let key = jeto_nats::SigningKey::generate();
            jeto_server::config::write_seed(&seed_file, &key).map(|()| {
                println!("{}", key.public_key());
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
