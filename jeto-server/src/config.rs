//! The server's config file (TOML), with embedded defaults: no file is needed to start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jeto_core::access::TokenConfig;
use jeto_core::audit::{DEFAULT_ANONYMOUS_WINDOW, DEFAULT_AUDIT_ENTRIES};
use jeto_core::service::LifecycleConfig;
use jeto_core::webhooks::DeliveryConfig;
use jeto_core::SchedulerConfig;
use jeto_core::{ExpiryAction, Host, JetoConfig, Project};
use jeto_vagrant::VagrantConfig;

use jeto_http::ServerLimits;
use serde::Deserialize;

/// The whole config file. Every key is optional; an unknown key is an error that names it.
///
/// ```
/// let config: jeto_server::config::ServerConfig = toml::from_str(r#"
///     listen = "127.0.0.1:9000"
///     [vagrant]
///     max_concurrent = 4
/// "#).unwrap();
/// assert_eq!(config.listen.port(), 9000);
/// assert_eq!(config.vagrant.max_concurrent, 4);
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where the database (`jeto.sqlite3`) and Jeto-made instance folders live.
    pub data_dir: PathBuf,
    /// Folders inside which non-admin keys may register instance paths.
    pub instance_roots: Vec<PathBuf>,
    /// Default oldest acceptable status, in seconds.
    pub status_max_age_secs: u64,
    /// Commands kept per instance, unfinished ones included.
    pub history_limit: usize,
    /// Commands waiting to run on one instance (429 beyond).
    pub max_queued_per_instance: usize,
    /// Commands waiting to run that one key submitted, all instances together (429 beyond).
    pub max_queued_per_key: usize,
    /// Clients following one command's console at once (429 beyond).
    pub max_followers_per_command: usize,
    /// Clients following consoles at once, in all (429 beyond).
    pub max_followers: usize,
    /// Bytes of console output kept per command (the oldest are dropped).
    pub console_limit_bytes: usize,
    /// Audit entries kept (the oldest are dropped); the counts of requests without a valid
    /// key are kept apart, as many again.
    pub audit_entries: usize,
    /// Seconds over which requests without a valid key are counted into one audit entry per
    /// source, method, route and answer.
    pub audit_anonymous_window_secs: u64,
    /// Reads that run vagrant (status, machine details, snapshots, boxes) a key that is not
    /// admin may have in progress at once (429 beyond).
    pub max_reads_per_key: usize,
    /// Events kept in the event log (`GET /api/events`; the oldest are dropped).
    pub events_kept: usize,
    /// The watcher (the `[watch]` table).
    pub watch: WatchConfig,
    /// Seconds running commands get to finish at SIGTERM (new commands are refused with 503
    /// meanwhile); those still running then are interrupted.
    pub drain_secs: u64,
    /// Seconds in-flight requests and running commands get at shutdown.
    pub shutdown_grace_secs: u64,
    /// Whether the web dashboard is served at `/` (the API is at `/api` either way).
    pub dashboard: bool,
    /// Whether metrics are kept and served at `GET /metrics` (admin and metrics-only keys).
    pub metrics: bool,
    /// Connection limits and timeouts (the `[server]` table).
    pub server: ServerLimits,
    /// How vagrant is run (the `[vagrant]` table).
    pub vagrant: VagrantConfig,
    /// Hosts, upserted into the store at start.
    pub hosts: Vec<Host>,
    /// Projects (sources tenants may create instances from), upserted into the store at start.
    pub projects: Vec<Project>,
    /// Access tokens. With none, an admin key is generated on first start.
    pub tokens: Vec<TokenConfig>,
    /// Webhooks (the `[[webhooks]]` tables), upserted into the store at start by id.
    pub webhooks: Vec<jeto_core::Webhook>,
    /// How webhook deliveries are tried (the `[webhook_delivery]` table).
    pub webhook_delivery: WebhookDeliveryConfig,
    /// Expiries and idle stop (the `[lifecycle]` table).
    pub lifecycle: LifecycleTable,
    /// Hosts served by workers on other boxes, over NATS (the `[nats]` table).
    pub nats: Option<NatsConfig>,
    /// HTTPS (the `[tls]` table); plain HTTP when absent.
    pub tls: Option<TlsConfig>,
    /// Sign-in through an OpenID Connect provider (the `[oidc]` table); access keys only
    /// when absent.
    pub oidc: Option<jeto_http::sign_in::OidcConfig>,
    /// The reverse proxy of domains (the `[proxy]` table); none when absent.
    pub proxy: Option<ProxyTable>,
    /// The file it was read from and its text, for reloads (none when built in code).
    #[serde(skip)]
    pub source: Option<(PathBuf, String)>,
}

/// The `[watch]` table: every instance's state read on its own, so changes made outside Jeto
/// show without anyone asking (and as events).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WatchConfig {
    /// Seconds between two rounds (0: off). Default 60.
    pub interval_secs: u64,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig { interval_secs: 60 }
    }
}

/// The `[lifecycle]` table: machines that stop on their own.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifecycleTable {
    /// Seconds between two looks at expiries and idleness (0: never). Default 30.
    pub check_interval_secs: u64,
    /// Seconds before an expiry its warning event is given. Default 3600.
    pub expiry_warning_secs: u64,
    /// The furthest an expiry may be set from now by keys that are not admin, in seconds.
    /// Default 30 days.
    pub max_expiry_secs: u64,
    /// The expiry of new instances whose creation names none, in seconds (0: none).
    pub default_expiry_secs: u64,
    /// What a default expiry does: `halt` (default) or `destroy`.
    pub default_on_expiry: ExpiryAction,
    /// Running machines with no Jeto command for this many seconds are halted (0: never).
    pub idle_stop_secs: u64,
}

impl Default for LifecycleTable {
    fn default() -> Self {
        let core = LifecycleConfig::default();
        LifecycleTable {
            check_interval_secs: core.check_interval.as_secs(),
            expiry_warning_secs: core.expiry_warning.as_secs(),
            max_expiry_secs: core.max_expiry.as_secs(),
            default_expiry_secs: 0,
            default_on_expiry: ExpiryAction::Halt,
            idle_stop_secs: 0,
        }
    }
}

impl LifecycleTable {
    /// The core's settings.
    pub fn lifecycle_config(&self) -> LifecycleConfig {
        let secs = |s: u64| (s > 0).then(|| Duration::from_secs(s));
        let mut config = LifecycleConfig::default();
        config.check_interval = Duration::from_secs(self.check_interval_secs);
        config.expiry_warning = Duration::from_secs(self.expiry_warning_secs);
        config.max_expiry = Duration::from_secs(self.max_expiry_secs);
        config.default_expiry = secs(self.default_expiry_secs);
        config.default_action = self.default_on_expiry;
        config.idle_stop = secs(self.idle_stop_secs);
        config
    }
}

/// The `[webhook_delivery]` table: how webhook deliveries are tried.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookDeliveryConfig {
    /// Milliseconds before the second attempt; each later one waits twice as long, with
    /// jitter. Default 1000.
    pub first_retry_ms: u64,
    /// The longest wait between two attempts, in seconds. Default 300.
    pub max_retry_wait_secs: u64,
    /// Seconds an event is tried before it is recorded failed and the endpoint paused.
    /// Default 3600.
    pub retry_for_secs: u64,
    /// Seconds one attempt may take (connecting, sending, the answer). Default 10.
    pub attempt_timeout_secs: u64,
    /// Deliveries in flight at once, all endpoints together. Default 8.
    pub max_in_flight: usize,
    /// Delivery records kept per endpoint. Default 1000.
    pub deliveries_kept: usize,
    /// Endpoints at most. Default 100.
    pub max_webhooks: usize,
}

impl Default for WebhookDeliveryConfig {
    fn default() -> Self {
        let core = DeliveryConfig::default();
        WebhookDeliveryConfig {
            first_retry_ms: core.first_retry.as_millis() as u64,
            max_retry_wait_secs: core.max_retry_wait.as_secs(),
            retry_for_secs: core.retry_for.as_secs(),
            attempt_timeout_secs: 10,
            max_in_flight: core.max_in_flight,
            deliveries_kept: core.deliveries_kept,
            max_webhooks: core.max_webhooks,
        }
    }
}

impl WebhookDeliveryConfig {
    /// The core's settings.
    pub fn delivery_config(&self) -> DeliveryConfig {
        let mut config = DeliveryConfig::default();
        config.first_retry = Duration::from_millis(self.first_retry_ms.max(1));
        config.max_retry_wait = Duration::from_secs(self.max_retry_wait_secs.max(1));
        config.retry_for = Duration::from_secs(self.retry_for_secs);
        config.max_in_flight = self.max_in_flight.max(1);
        config.deliveries_kept = self.deliveries_kept.max(1);
        config.max_webhooks = self.max_webhooks;
        config
    }
}

/// The `[proxy]` table: Jeto's reverse proxy, serving domains (`/api/domains`) on listeners
/// of their own.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProxyTable {
    /// Where plain HTTP is served (`0.0.0.0:80`); none when absent.
    pub listen: Option<std::net::SocketAddr>,
    /// Where HTTPS is served (`0.0.0.0:443`), with each domain's certificate by SNI, else the
    /// one in `cert_file`; none when absent.
    pub tls_listen: Option<std::net::SocketAddr>,
    /// The certificate chain (PEM) for domains that have none of their own (a wildcard).
    pub cert_file: Option<PathBuf>,
    /// Its private key (PEM).
    pub key_file: Option<PathBuf>,
    /// Seconds connecting to a machine may take. Default 5.
    pub connect_timeout_secs: u64,
    /// Seconds a machine may take to send its answer's headers (then bodies stream). Default 60.
    pub response_timeout_secs: u64,
    /// Request bodies larger than this are refused with 413 (a domain may say otherwise).
    /// Default 10 MiB.
    pub max_body_bytes: u64,
    /// Open connections at most, per listener; more are answered 503. Default 1024.
    pub max_connections: usize,
    /// Names no domain may take (the API's own names). `localhost` always is.
    pub reserved_names: Vec<String>,
}

impl ProxyTable {
    /// Where visitors reach a domain (`{name}` for its name): HTTPS when served, else HTTP;
    /// the port shown unless it is the scheme's own.
    fn domain_url(&self) -> Option<String> {
        let (scheme, address, usual) = match (self.tls_listen, self.listen) {
            (Some(address), _) => ("https", address, 443),
            (None, Some(address)) => ("http", address, 80),
            (None, None) => return None,
        };
        Some(match address.port() {
            // Not known before the listener is bound: no link rather than a wrong one.
            0 => return None,
            port if port == usual => format!("{scheme}://{{name}}/"),
            port => format!("{scheme}://{{name}}:{port}/"),
        })
    }
}

impl Default for ProxyTable {
    fn default() -> Self {
        ProxyTable {
            listen: None,
            tls_listen: None,
            cert_file: None,
            key_file: None,
            connect_timeout_secs: 5,
            response_timeout_secs: 60,
            max_body_bytes: 10 * 1024 * 1024,
            max_connections: 1024,
            reserved_names: Vec::new(),
        }
    }
}

/// The `[tls]` table: the server's certificate chain and key, PEM files read at start and
/// again at each reload (SIGHUP), so a renewed certificate needs no restart.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain (PEM), the server's own first.
    pub cert_file: PathBuf,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1); keep it readable by the service only.
    pub key_file: PathBuf,
}

/// The `[nats]` table: where the NATS servers are, how to sign in, which hosts are served by
/// workers (`jeto worker`; the other hosts run on this server's box), and the limits of both
/// sides.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsConfig {
    /// `nats://HOST:PORT`; for a cluster, several, comma separated.
    pub url: String,
    /// Hosts whose instances live on worker boxes.
    pub hosts: Vec<u64>,
    /// NATS user name, with `password`.
    pub user: Option<String>,
    /// NATS password; never logged or shown.
    pub password: Option<String>,
    /// A file holding this side's NATS nkey seed (`SU...`), instead of user and password;
    /// the seed is never logged or shown.
    pub nkey_seed_file: Option<PathBuf>,
    /// TLS to NATS: the CA (PEM) that signed the NATS servers' certificates. Set, the
    /// connection must be TLS (`nats://` URLs are upgraded; `tls://` works too).
    pub tls_ca_file: Option<PathBuf>,
    /// A client certificate (PEM) for NATS servers that verify clients, with `tls_key_file`.
    pub tls_cert_file: Option<PathBuf>,
    /// The client certificate's key (PEM).
    pub tls_key_file: Option<PathBuf>,
    /// Copies of Jeto's JetStream stream and buckets (3 on a 3-node cluster). Default 1.
    pub replicas: usize,
    /// How long a read (status, IP, details) may take on a worker. Default 120 s.
    pub call_timeout_secs: u64,
    /// How long a running action may go without a word from its worker before it ends
    /// `interrupted` (workers speak every 2 s). Default 15 s.
    pub silence_limit_secs: u64,
    /// A worker: reads it answers at once per host. Default 32.
    pub worker_max_calls: usize,
    /// A worker: actions it runs at once per host (more wait in the queue). Default 32.
    pub worker_max_actions: usize,
    /// A file holding this side's signing seed (`SU...`): the server signs every call and
    /// action with it, a worker its answers, output and records. Default:
    /// `<data_dir>/nats-signing.seed`, made on first start (readable by this user only). Not
    /// the NATS sign-in seed (`nkey_seed_file`): NATS never sees this one.
    pub signing_seed_file: Option<PathBuf>,
    /// A worker: the server's public signing key (`U...`, printed by the server at start).
    /// A worker acts only on what this key signed.
    pub server_key: Option<String>,
    /// The server: the workers it believes, each a public signing key (printed by `jeto
    /// worker` at start) with the hosts it may serve.
    pub workers: Vec<TrustedWorkerConfig>,
}

/// One `[[nats.workers]]` entry: a worker's public signing key and the hosts it may serve.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedWorkerConfig {
    /// Its public signing key (`U...`).
    pub key: String,
    /// The hosts whose calls, actions and presence the server takes from it.
    pub hosts: Vec<u64>,
}

impl Default for NatsConfig {
    fn default() -> Self {
        NatsConfig {
            url: String::new(),
            hosts: Vec::new(),
            user: None,
            password: None,
            nkey_seed_file: None,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            replicas: 1,
            call_timeout_secs: 120,
            silence_limit_secs: 15,
            worker_max_calls: 32,
            worker_max_actions: 32,
            signing_seed_file: None,
            server_key: None,
            workers: Vec::new(),
        }
    }
}

impl std::fmt::Debug for NatsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsConfig")
            .field("url", &self.url)
            .field("hosts", &self.hosts)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("nkey_seed_file", &self.nkey_seed_file)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_cert_file", &self.tls_cert_file)
            .field("replicas", &self.replicas)
            .field("call_timeout_secs", &self.call_timeout_secs)
            .field("silence_limit_secs", &self.silence_limit_secs)
            .field("worker_max_calls", &self.worker_max_calls)
            .field("worker_max_actions", &self.worker_max_actions)
            .field("signing_seed_file", &self.signing_seed_file)
            .field("server_key", &self.server_key)
            .field("workers", &self.workers)
            .finish()
    }
}

impl NatsConfig {
    /// A client signed in as configured, knowing every server of `url`.
    pub async fn connect(&self) -> Result<async_nats::Client, String> {
        let options = match (&self.user, &self.password, &self.nkey_seed_file) {
            (Some(user), Some(password), None) => {
                async_nats::ConnectOptions::with_user_and_password(user.clone(), password.clone())
            }
            (None, None, Some(file)) => {
                let seed = std::fs::read_to_string(file).map_err(|e| {
                    format!("cannot read the nkey seed file {}: {e}", file.display())
                })?;
                async_nats::ConnectOptions::with_nkey(seed.trim().to_owned())
            }
            (None, None, None) => async_nats::ConnectOptions::new(),
            (Some(_), None, _) | (None, Some(_), _) => {
                return Err("[nats] needs both user and password, or neither".into())
            }
            _ => return Err("[nats] takes user and password, or nkey_seed_file, not both".into()),
        };
        let options = match &self.tls_ca_file {
            Some(ca) if !ca.is_file() => {
                return Err(format!("[nats] tls_ca_file {}: no such file", ca.display()))
            }
            Some(ca) => options.require_tls(true).add_root_certificates(ca.clone()),
            None => options,
        };
        let options = match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(cert), Some(key)) => options.add_client_certificate(cert.clone(), key.clone()),
            (None, None) => options,
            _ => return Err("[nats] needs both tls_cert_file and tls_key_file, or neither".into()),
        };
        let urls: Vec<&str> = self
            .url
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .collect();
        options
            .connect(urls)
            .await
            .map_err(|e| format!("cannot reach NATS at {}: {e}", self.url))
    }

    /// How Jeto's stream and buckets are made.
    pub fn setup(&self) -> jeto_nats::JetStreamSetup {
        jeto_nats::JetStreamSetup::replicas(self.replicas)
    }

    /// This side's signing key: from `signing_seed_file`, or from `<data_dir>/nats-signing.seed`,
    /// made (readable by this user only) when it is not there yet.
    pub fn signing_key(&self, data_dir: &Path) -> Result<jeto_nats::SigningKey, String> {
        let (file, explicit) = match &self.signing_seed_file {
            Some(file) => (file.clone(), true),
            None => (data_dir.join("nats-signing.seed"), false),
        };
        match std::fs::read_to_string(&file) {
            Ok(seed) => jeto_nats::SigningKey::from_seed(&seed)
                .map_err(|e| format!("signing seed file {}: {e}", file.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                let key = jeto_nats::SigningKey::generate();
                write_seed(&file, &key)?;
                tracing::info!(file = %file.display(), "made a new NATS signing key");
                Ok(key)
            }
            Err(e) => Err(format!(
                "cannot read the signing seed file {}: {e}",
                file.display()
            )),
        }
    }

    /// The server's trusted workers, from `[[nats.workers]]`.
    pub fn trusted_workers(&self) -> Result<jeto_nats::TrustedWorkers, String> {
        if !self.hosts.is_empty() && self.workers.is_empty() {
            return Err("[nats] names hosts served by workers, but no worker is trusted: add a [[nats.workers]] entry (key = the worker's public signing key, printed by `jeto worker` at start; hosts = the hosts it serves)".into());
        }
        let mut trusted = jeto_nats::TrustedWorkers::default();
        for worker in &self.workers {
            trusted = trusted
                .with(&worker.key, worker.hosts.iter().copied())
                .map_err(|e| format!("[[nats.workers]]: {e}"))?;
        }
        Ok(trusted)
    }
}

/// Writes `key`'s seed to a new file readable by this user only (never over an existing one).
pub fn write_seed(file: &Path, key: &jeto_nats::SigningKey) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .and_then(|mut f| writeln!(f, "{}", key.seed()))
        .map_err(|e| format!("cannot write the signing seed file {}: {e}", file.display()))
}

impl Default for ServerConfig {
    fn default() -> Self {
        let scheduler = SchedulerConfig::default();
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 7878)),
            data_dir: PathBuf::from("jeto-data"),
            instance_roots: Vec::new(),
            status_max_age_secs: 10,
            history_limit: scheduler.history_limit,
            max_queued_per_instance: scheduler.max_queued_per_instance,
            max_queued_per_key: scheduler.max_queued_per_key,
            max_followers_per_command: scheduler.max_followers_per_command,
            max_followers: scheduler.max_followers,
            console_limit_bytes: scheduler.console_limit,
            audit_entries: DEFAULT_AUDIT_ENTRIES,
            audit_anonymous_window_secs: DEFAULT_ANONYMOUS_WINDOW.as_secs(),
            max_reads_per_key: JetoConfig::default().max_reads_per_key,
            events_kept: jeto_core::events::DEFAULT_KEEP,
            watch: WatchConfig::default(),
            drain_secs: 30,
            shutdown_grace_secs: 10,
            dashboard: true,
            metrics: true,
            server: ServerLimits::default(),
            vagrant: VagrantConfig::default(),
            hosts: Vec::new(),
            projects: Vec::new(),
            tokens: Vec::new(),
            webhooks: Vec::new(),
            webhook_delivery: WebhookDeliveryConfig::default(),
            lifecycle: LifecycleTable::default(),
            nats: None,
            oidc: None,
            proxy: None,
            tls: None,
            source: None,
        }
    }
}

impl ServerConfig {
    /// Reads a config file; errors name the file and the offending key. The file is read
    /// again at SIGHUP.
    pub fn load(path: &Path) -> Result<ServerConfig, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
        let mut config: ServerConfig =
            toml::from_str(&text).map_err(|e| format!("config file {}: {e}", path.display()))?;
        config.source = Some((path.to_path_buf(), text));
        Ok(config)
    }

    /// Checks the hosts and projects: ids given (grants name them), projects valid.
    pub(crate) fn check_hosts_and_projects(&self) -> Result<(), String> {
        for host in &self.hosts {
            if host.id == 0 {
                return Err(format!(
                    "host {:?} in the config needs an id (tokens grant hosts by id)",
                    host.name
                ));
            }
        }
        for project in &self.projects {
            if project.id == 0 {
                return Err(format!(
                    "project {:?} in the config needs an id (tokens grant projects by id)",
                    project.name
                ));
            }
            project
                .validate()
                .map_err(|e| format!("project {:?} in the config: {e}", project.name))?;
        }
        for webhook in &self.webhooks {
            if webhook.id == 0 || webhook.secret.is_empty() {
                return Err(format!(
                    "webhook {:?} in the config needs an id and a secret (secret = \"whsec_...\": the receiver checks signatures with it)",
                    webhook.url
                ));
            }
            webhook
                .validate()
                .map_err(|e| format!("webhook {:?} in the config: {e}", webhook.url))?;
        }
        Ok(())
    }

    /// The service's settings.
    pub fn jeto_config(&self) -> JetoConfig {
        JetoConfig {
            status_max_age: Duration::from_secs(self.status_max_age_secs),
            instance_roots: self.instance_roots.clone(),
            data_dir: Some(self.data_dir.clone()),
            scheduler: self.scheduler_config(),
            audit_entries: self.audit_entries.max(1),
            audit_anonymous_window: Duration::from_secs(self.audit_anonymous_window_secs),
            max_reads_per_key: self.max_reads_per_key.max(1),
            events_kept: self.events_kept.max(1),
            watch_interval: (self.watch.interval_secs > 0)
                .then(|| Duration::from_secs(self.watch.interval_secs)),
            metrics: self.metrics,
            webhooks: self.webhook_delivery.delivery_config(),
            lifecycle: self.lifecycle.lifecycle_config(),
            reserved_domains: self.reserved_domains(),
            domain_url: self.proxy.as_ref().and_then(ProxyTable::domain_url),
        }
    }

    /// Names no domain may take: the proxy's `reserved_names`, and the API's own host when
    /// it listens on a name.
    fn reserved_domains(&self) -> Vec<String> {
        let mut names = vec!["localhost".to_owned()];
        if let Some(proxy) = &self.proxy {
            names.extend(proxy.reserved_names.iter().map(|n| n.to_ascii_lowercase()));
        }
        names
    }

    fn scheduler_config(&self) -> SchedulerConfig {
        SchedulerConfig {
            max_concurrent: self.vagrant.max_concurrent.max(1),
            history_limit: self.history_limit.max(1),
            console_limit: self.console_limit_bytes,
            max_queued_per_instance: self.max_queued_per_instance.max(1),
            max_queued_per_key: self.max_queued_per_key.max(1),
            max_followers_per_command: self.max_followers_per_command.max(1),
            max_followers: self.max_followers.max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_named() {
        let err = toml::from_str::<ServerConfig>("lisen = \"127.0.0.1:1\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `lisen`"), "{err}");
        let err = toml::from_str::<ServerConfig>("[vagrant]\nbinnary = \"x\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `binnary`"), "{err}");
    }

    #[test]
    fn the_design_example_parses() {
        let config: ServerConfig = toml::from_str(
            r#"
listen = "127.0.0.1:7878"
data_dir = "jeto-data"
instance_roots = ["/srv/vagrant"]
status_max_age_secs = 10

[vagrant]
binary = "vagrant"
max_concurrent = 2
status_timeout_secs = 120
command_timeout_secs = 1800
env = { VAGRANT_CHECKPOINT_DISABLE = "1" }

[[hosts]]
id = 1
name = "local"
provider = "virtualbox"
params = { SOME_KEY = "value" }

[[tokens]]
name = "admin"
key_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
admin = true

[[tokens]]
name = "ci"
key_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
hosts = [1]
instances = [7]
actions = ["status", "start", "stop", "runScript"]
"#,
        )
        .unwrap();
        assert_eq!(config.tokens.len(), 2);
        assert_eq!(config.hosts[0].params.get("SOME_KEY"), Some("value"));
        assert_eq!(config.jeto_config().scheduler.max_concurrent, 2);
    }
}
