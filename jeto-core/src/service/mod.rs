//! [`Jeto`]: the service that the HTTP adapter and embedders call. One `Clone` handle over the
//! instance store, the access policy, the provider, the status cache and the command scheduler.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

mod catalog;
mod create;
mod domains;
mod edit;
mod events;
mod inventory;
mod lifecycle;
mod machines;
mod metrics;
mod people;
mod quotas;
mod readiness;
mod reads;
mod recovery;
mod reload;
mod watch;
mod webhooks;
mod worker_presence;

use serde::{Deserialize, Serialize};

pub use create::CreateInstance;
pub use domains::DomainTarget;
pub use edit::InstanceChange;
pub use lifecycle::{ExpiryChange, LifecycleConfig};
pub use people::NewKey;
pub use readiness::{Condition, HostReadiness, Readiness};
pub use reload::{ReloadReport, Reloader};
use time::OffsetDateTime;
pub use webhooks::MAX_DELIVERIES_SHOWN;

use crate::access::audit::{AnonymousTally, DEFAULT_ANONYMOUS_WINDOW, DEFAULT_AUDIT_ENTRIES};
use crate::access::{AccessPolicy, Permission, Principal, TokenPolicy};
use crate::events::EventLog;
use crate::metrics::Metrics;
use crate::scheduler::{
    CommandHandle, CommandScheduler, SchedulerConfig, StatusCache, StatusSnapshot,
};
use crate::store::{blocking, InstanceRecord, MemoryStore, Page, Store};
use crate::webhooks::{DeliveryConfig, WebhookDeliveries, WebhookSender};
use crate::{
    Action, ActionRequest, Command, DynProvider, Error, Host, Instance, JetoInfos, ProviderSlots,
    Result,
};

/// Settings of the service.
#[derive(Debug, Clone)]
pub struct JetoConfig {
    /// How old a status may be before a read refreshes it, when the caller does not say.
    pub status_max_age: Duration,
    /// Folders inside which non-admin keys may register instance paths.
    pub instance_roots: Vec<PathBuf>,
    /// Where Jeto-made instance folders live; `None` makes none.
    pub data_dir: Option<PathBuf>,
    /// Scheduler limits.
    pub scheduler: SchedulerConfig,
    /// Audit entries kept in the store (the oldest are dropped); entries of requests without
    /// a valid key are kept apart, as many again, so they can never evict the others.
    pub audit_entries: usize,
    /// How long requests without a valid key are counted before their counts are written.
    pub audit_anonymous_window: Duration,
    /// Reads that run the provider (status, machine details, snapshots, boxes) a key that is
    /// not admin may have in progress at once; more are refused with 429.
    pub max_reads_per_key: usize,
    /// Events kept in the event log (the oldest are dropped).
    pub events_kept: usize,
    /// How often every instance's state is read on its own (`None`: never; then states are
    /// read when asked).
    pub watch_interval: Option<Duration>,
    /// Whether metrics are kept (for `GET /metrics`).
    pub metrics: bool,
    /// How webhook deliveries are tried.
    pub webhooks: DeliveryConfig,
    /// Expiries and idle stop.
    pub lifecycle: LifecycleConfig,
    /// Names no domain may take (the API's own host names), compared without case.
    pub reserved_domains: Vec<String>,
    /// Where visitors reach a domain, `{name}` standing for its name
    /// (`https://{name}/`); `None` when no proxy serves domains.
    pub domain_url: Option<String>,
}

impl Default for JetoConfig {
    fn default() -> Self {
        JetoConfig {
            status_max_age: Duration::from_secs(10),
            instance_roots: Vec::new(),
            data_dir: None,
            scheduler: SchedulerConfig::default(),
            audit_entries: DEFAULT_AUDIT_ENTRIES,
            audit_anonymous_window: DEFAULT_ANONYMOUS_WINDOW,
            max_reads_per_key: 8,
            events_kept: crate::events::DEFAULT_KEEP,
            watch_interval: None,
            metrics: true,
            webhooks: DeliveryConfig::default(),
            lifecycle: LifecycleConfig::default(),
            reserved_domains: Vec::new(),
            domain_url: None,
        }
    }
}

/// An instance as shown to a caller: the seed's fields plus when its status was read.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceView {
    /// The instance, with its last known status.
    #[serde(flatten)]
    pub instance: Instance,
    /// When the status was read; `null` if never.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub status_checked_at: Option<OffsetDateTime>,
    /// Why the last status read failed, if it did.
    #[serde(default)]
    pub status_error: Option<String>,
    /// When idle stop will halt its running machines if nothing happens, and why (only in
    /// the answer about one instance, with `[lifecycle] idle_stop_secs` set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_stop: Option<crate::IdleStop>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    /// Replaced whole by a reload; read at every request.
    policy: std::sync::RwLock<Arc<dyn AccessPolicy>>,
    reloader: Option<Arc<dyn Reloader>>,
    provider: DynProvider,
    status: Arc<StatusCache>,
    scheduler: CommandScheduler,
    slots: ProviderSlots,
    config: JetoConfig,
    /// Requests without a valid key, counted per window rather than written one by one.
    anonymous: std::sync::Mutex<AnonymousTally>,
    /// Reads in progress per key, and reads of one thing at once sharing one call.
    reads: reads::ReadsPerKey,
    machine_reads: reads::SharedReads<(u64, String), crate::MachineDetails>,
    snapshot_reads: reads::SharedReads<u64, Vec<crate::MachineSnapshots>>,
    box_reads: reads::SharedReads<(u64, bool), Vec<crate::BoxInfo>>,
    /// What happened, for `GET /api/events`.
    events: EventLog,
    /// One permit per event follower (`max_followers`).
    event_followers: Arc<tokio::sync::Semaphore>,
    /// Set once the service shuts down: open streams end.
    stopped: tokio::sync::watch::Sender<bool>,
    /// The webhook delivery tasks (none without a sender).
    webhooks: Option<WebhookDeliveries>,
    /// Activity kept up by hand (idle stop).
    activity: lifecycle::Activity,
    /// One change of an instance's expiry at a time.
    expiry_writes: tokio::sync::Mutex<()>,
    /// One quota check (and what it allows) at a time.
    quota_gate: tokio::sync::Mutex<()>,
    /// Creations checked against quotas, not stored yet.
    preparing: quotas::Preparing,
    next_reservation: std::sync::atomic::AtomicU64,
    /// Domains by name, for the proxy.
    domains: domains::DomainIndex,
}

/// The Jeto service: instances, hosts, access checks and commands, over one [`Provider`].
///
/// Every method takes the [`Principal`] it acts for; [`Jeto::authenticate`] turns a key into
/// one, and embedders that do their own authentication can use [`Principal::admin`].
///
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use jeto_core::{testing::InMemoryProvider, Action, ActionRequest, Jeto, access::Principal};
/// use jeto_core::{service::CreateInstance, Host};
///
/// let provider = InMemoryProvider::new().with_instance("/srv/app", &["web"]);
/// let jeto = Jeto::builder(Arc::new(provider)).build().await?;
/// let admin = Principal::admin("me");
/// let host = jeto.create_host(&admin, Host::new("local", "memory")).await?;
/// let created = jeto.create_instance(&admin, CreateInstance {
///     name: "app".into(), host: host.id, path: Some("/srv/app".into()), ..Default::default()
/// }).await?;
/// let (command, instance) = jeto.run(&admin, created.instance.id, ActionRequest::new(Action::Start)).await?;
/// assert_eq!(command.status.as_str(), "succeeded");
/// assert_eq!(instance.instance.status[0].status, "running");
/// # Ok::<_, jeto_core::Error>(())
/// # }).unwrap();
/// ```
///
/// [`Provider`]: crate::Provider
#[derive(Debug, Clone)]
pub struct Jeto {
    inner: Arc<Inner>,
}

/// Builds a [`Jeto`]; see [`Jeto::builder`].
#[derive(Debug)]
pub struct JetoBuilder {
    provider: DynProvider,
    store: Option<Arc<dyn Store>>,
    policy: Option<Arc<dyn AccessPolicy>>,
    reloader: Option<Arc<dyn Reloader>>,
    webhook_sender: Option<Arc<dyn WebhookSender>>,
    config: JetoConfig,
}

impl JetoBuilder {
    /// What sends webhook deliveries (default: none; the webhook routes then answer 409).
    /// `jeto_http::WebhookClient` is one over HTTP.
    pub fn webhook_sender(mut self, sender: Arc<dyn WebhookSender>) -> Self {
        self.webhook_sender = Some(sender);
        self
    }

    /// What reads the configuration again at `POST /api/reload` (default: none; the call
    /// then answers 409).
    pub fn reloader(mut self, reloader: Arc<dyn Reloader>) -> Self {
        self.reloader = Some(reloader);
        self
    }

    /// Where instances and commands are kept (default: in memory).
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Who may do what (default: no key is accepted).
    pub fn policy(mut self, policy: Arc<dyn AccessPolicy>) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Settings (default: [`JetoConfig::default`]).
    pub fn config(mut self, config: JetoConfig) -> Self {
        self.config = config;
        self
    }

    /// Makes the service, after cleaning what a previous run left unfinished in the store and
    /// the data folder (see docs/limits.md, crash recovery).
    pub async fn build(self) -> Result<Jeto> {
        let store = self.store.unwrap_or_else(|| Arc::new(MemoryStore::new()));
        let slots = ProviderSlots::new(self.config.scheduler.max_concurrent);
        let metrics = self.config.metrics.then(Metrics::new);
        let events = EventLog::start(store.clone(), self.config.events_kept.max(1), metrics).await;
        let status = Arc::new(StatusCache::new(
            self.provider.clone(),
            slots.clone(),
            events.clone(),
        ));
        let scheduler = CommandScheduler::new(
            self.provider.clone(),
            status.clone(),
            slots.clone(),
            store.clone(),
            self.config.scheduler.clone(),
            events.clone(),
        );
        let event_followers = Arc::new(tokio::sync::Semaphore::new(
            self.config.scheduler.max_followers.max(1),
        ));
        let interrupted = scheduler.recover().await?;
        let policy = match self.policy {
            Some(policy) => policy,
            None => Arc::new(TokenPolicy::new(Vec::new())?),
        };
        let webhooks = match self.webhook_sender {
            Some(sender) => Some(
                WebhookDeliveries::start(events.clone(), sender, self.config.webhooks.clone())
                    .await?,
            ),
            None => None,
        };
        let jeto = Jeto {
            inner: Arc::new(Inner {
                store,
                policy: std::sync::RwLock::new(policy),
                reloader: self.reloader,
                provider: self.provider,
                status,
                scheduler,
                slots,
                anonymous: std::sync::Mutex::new(AnonymousTally::new(
                    self.config.audit_anonymous_window,
                )),
                reads: Default::default(),
                machine_reads: Default::default(),
                snapshot_reads: Default::default(),
                box_reads: Default::default(),
                events,
                event_followers,
                stopped: tokio::sync::watch::channel(false).0,
                webhooks,
                activity: Default::default(),
                expiry_writes: Default::default(),
                quota_gate: Default::default(),
                preparing: Default::default(),
                next_reservation: Default::default(),
                domains: Default::default(),
                config: self.config,
            }),
        };
        jeto.recover(&interrupted).await?;
        if let Some(interval) = jeto.inner.config.watch_interval.filter(|i| !i.is_zero()) {
            jeto.start_watcher(interval);
        }
        jeto.start_presence_watch();
        jeto.start_lifecycle();
        Ok(jeto)
    }
}

impl Jeto {
    /// Starts building a service over `provider`.
    pub fn builder(provider: DynProvider) -> JetoBuilder {
        JetoBuilder {
            provider,
            store: None,
            policy: None,
            reloader: None,
            webhook_sender: None,
            config: JetoConfig::default(),
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &JetoConfig {
        &self.inner.config
    }

    /// A value that changes whenever anything [`instances`](Jeto::instances) shows may have
    /// changed (the store or any status), so its results can be cached.
    pub fn view_version(&self) -> (u64, u64) {
        (self.inner.store.version(), self.inner.status.version())
    }

    async fn record(&self, who: &Principal, id: u64) -> Result<InstanceRecord> {
        match self.inner.store.instance(id).await? {
            Some(record) if who.can_view(record.id, record.host_id) => Ok(record),
            _ => Err(Error::InstanceNotFound { id }),
        }
    }

    /// Host `id` with its params unredacted (for the provider), when `who` may use it.
    async fn usable_host(&self, who: &Principal, id: u64) -> Result<Host> {
        self.inner
            .store
            .hosts()
            .await?
            .into_iter()
            .find(|h| h.id == id && who.can_use_host(h.id))
            .ok_or(Error::HostNotFound { id })
    }

    async fn host_of(&self, record: &InstanceRecord) -> Result<Host> {
        self.inner
            .store
            .hosts()
            .await?
            .into_iter()
            .find(|h| h.id == record.host_id)
            .ok_or_else(|| {
                Error::storage(
                    format!("instance {} refers to host {}", record.id, record.host_id),
                    "that host is not in the store",
                )
            })
    }

    fn instance_of(&self, record: InstanceRecord, host: Host) -> Instance {
        Instance::new(record.id, record.spec, host)
    }

    /// Re-reads `jeto.json` of an instance, storing it when it changed (on a blocking
    /// thread: both touch the disk).
    async fn refresh_infos(&self, record: &mut InstanceRecord) -> Result<()> {
        let infos = load_infos(&record.spec.path).await?;
        if infos != record.spec.jeto_infos {
            record.spec.jeto_infos = infos;
            self.inner.store.update_instance(record.clone()).await?;
        }
        Ok(())
    }

    /// Stores a new instance, reading its `jeto.json` first.
    async fn insert(&self, mut new: InstanceRecord) -> Result<InstanceRecord> {
        new.spec.jeto_infos = load_infos(&new.spec.path).await?;
        let record = self.inner.store.insert_instance(new).await?;
        self.instance_created(&record);
        Ok(record)
    }

    fn view(
        &self,
        who: &Principal,
        mut instance: Instance,
        snapshot: StatusSnapshot,
    ) -> InstanceView {
        if !who.admin {
            instance.host = instance.host.redacted();
        }
        instance.status = snapshot.statuses;
        InstanceView {
            instance,
            status_checked_at: snapshot.checked_at,
            status_error: snapshot.error,
            idle_stop: None,
        }
    }

    /// The instances `who` may see, with their last known status; with `refresh`, every
    /// status is read again (in batches per host), which needs the `status` grant.
    pub async fn instances(&self, who: &Principal, refresh: bool) -> Result<Vec<InstanceView>> {
        if refresh && !may_read_statuses(who) {
            return Err(fresh_reads_forbidden());
        }
        let _reading = refresh
            .then(|| {
                self.inner
                    .reads
                    .enter(who, self.inner.config.max_reads_per_key)
            })
            .transpose()?;
        let hosts = self.inner.store.hosts().await?;
        let visible: Vec<Instance> = self
            .inner
            .store
            .instances()
            .await?
            .into_iter()
            .filter(|r| who.can_view(r.id, r.host_id))
            .filter_map(|r| {
                let host = hosts.iter().find(|h| h.id == r.host_id)?.clone();
                Some(self.instance_of(r, host))
            })
            .collect();
        if refresh {
            // An instance a command works on is read alone (its read waits for Vagrant's
            // lock on the machine); the others in batches.
            let (busy, idle): (Vec<Instance>, Vec<Instance>) = visible
                .iter()
                .cloned()
                .partition(|i| self.inner.scheduler.is_busy(i.id));
            let alone = futures_util::future::join_all(
                busy.iter()
                    .map(|i| self.inner.status.get(i, Duration::ZERO)),
            );
            tokio::join!(alone, self.read_states(idle));
        }
        Ok(visible
            .into_iter()
            .map(|instance| {
                let snapshot = self.inner.status.last_known(instance.id);
                self.view(who, instance, snapshot)
            })
            .collect())
    }

    /// One instance with a status at most `max_age` old (the configured default when `None`;
    /// zero forces a read), and `jeto.json` read again.
    ///
    /// Reading a status runs the provider, so it takes the `status` grant: without it, a given
    /// `max_age` is refused and the last known status is shown as it is.
    pub async fn instance(
        &self,
        who: &Principal,
        id: u64,
        max_age: Option<Duration>,
    ) -> Result<InstanceView> {
        let mut record = self.record(who, id).await?;
        let mut instance = self.instance_of(record.clone(), self.host_of(&record).await?);
        let before = self.inner.status.last_known(id).checked_at;
        let snapshot = match (may_read_statuses(who), max_age) {
            (true, max_age) => {
                let _reading = self
                    .inner
                    .reads
                    .enter(who, self.inner.config.max_reads_per_key)?;
                let max_age = max_age.unwrap_or(self.inner.config.status_max_age);
                self.inner.status.get(&instance, max_age).await
            }
            (false, Some(_)) => return Err(fresh_reads_forbidden()),
            (false, None) => self.inner.status.last_known(id),
        };
        // jeto.json is read again along with the status, so a cached answer does no I/O.
        if snapshot.checked_at != before {
            match self.refresh_infos(&mut record).await {
                Ok(()) => instance.spec.jeto_infos = record.spec.jeto_infos,
                Err(error) => {
                    tracing::warn!(instance = id, %error, "keeping the last good jeto.json")
                }
            }
        }
        let mut view = self.view(who, instance, snapshot);
        if let Some(idle) = self.inner.config.lifecycle.idle_stop {
            view.idle_stop = self.idle_stop(id, idle).await;
        }
        Ok(view)
    }

    /// Queues an action on an instance and returns once it is recorded (the `async` form).
    pub async fn submit(
        &self,
        who: &Principal,
        id: u64,
        request: ActionRequest,
    ) -> Result<CommandHandle> {
        let mut record = self.record(who, id).await?;
        who.check(
            record.id,
            record.host_id,
            Permission::Action(request.action),
        )?;
        if request.action == Action::RunScript {
            self.refresh_infos(&mut record).await?;
        }
        let instance = self.instance_of(record.clone(), self.host_of(&record).await?);
        request.check(&instance)?;
        if let Some(machine) = &request.machine {
            let known = self.inner.status.last_known(id).statuses;
            if !known.is_empty() && !known.iter().any(|s| &s.name == machine) {
                let names: Vec<_> = known.iter().map(|s| s.name.as_str()).collect();
                return Err(Error::MachineNotFound {
                    instance_id: id,
                    machine: machine.clone(),
                    known: names.join(", "),
                });
            }
        }
        let _quota = self.check_command(&record, &request).await?;
        tracing::info!(instance = id, principal = %who.name, action = %request.action, machine = ?request.machine, "command submitted");
        self.inner
            .scheduler
            .submit(instance, request, &who.name)
            .await
    }

    /// Runs an action and waits for it (the sync form): the finished command and the instance
    /// with its status afterwards. A failed run is an `Ok` command with a failed status.
    pub async fn run(
        &self,
        who: &Principal,
        id: u64,
        request: ActionRequest,
    ) -> Result<(Command, InstanceView)> {
        let handle = self.submit(who, id, request).await?;
        let command = handle.wait().await;
        let view = match self.instance(who, id, None).await {
            Err(Error::InstanceNotFound { .. }) => {
                // Deleted while the command waited (a failed creation, a DELETE).
                return Err(Error::Conflict {
                    message: format!(
                        "command {} ended {}{}; instance {id} was deleted meanwhile",
                        command.id,
                        command.status.as_str(),
                        command
                            .error
                            .as_ref()
                            .map(|e| format!(" ({e})"))
                            .unwrap_or_default()
                    ),
                });
            }
            other => other?,
        };
        Ok((command, view))
    }

    /// Destroys every machine of an instance (`vagrant destroy --force`), then forgets the
    /// instance and removes a folder Jeto made. From the moment it is called the instance
    /// accepts no new command (commands queued before run first).
    ///
    /// When destroy fails the instance stays and the failed command says why, unless `force`
    /// is set: then the instance is forgotten anyway (its machines may be left running). A
    /// folder that no longer exists has nothing to destroy, and is not a failure.
    pub async fn delete_instance(&self, who: &Principal, id: u64, force: bool) -> Result<Command> {
        let record = self.record(who, id).await?;
        who.check(
            record.id,
            record.host_id,
            Permission::Action(Action::Destroy),
        )?;
        let instance = self.instance_of(record.clone(), self.host_of(&record).await?);
        self.inner.scheduler.close(id)?;
        let command = if Path::new(&record.spec.path).is_dir() {
            match self
                .inner
                .scheduler
                .destroy_closed(instance, &who.name)
                .await
            {
                Ok(command) => command,
                Err(error) => {
                    self.inner.scheduler.reopen(id);
                    return Err(error);
                }
            }
        } else {
            self.inner
                .scheduler
                .skipped(
                    id,
                    Action::Destroy,
                    &who.name,
                    &format!("{} no longer exists: nothing to destroy", record.spec.path),
                )
                .await?
        };
        if command.status != crate::CommandStatus::Succeeded && !force {
            self.inner.scheduler.reopen(id);
            return Ok(command);
        }
        if command.status != crate::CommandStatus::Succeeded {
            tracing::warn!(instance = id, principal = %who.name, "destroy failed; forgetting the instance anyway (force)");
        }
        self.forget_instance(id, record.managed_folder.then(|| record.spec.path.clone()))
            .await?;
        tracing::info!(instance = id, principal = %who.name, "instance deleted");
        Ok(command)
    }

    /// Removes an instance from the store, the status cache and the scheduler (waking
    /// everyone waiting on its commands), and removes `folder` (one Jeto made).
    async fn forget_instance(&self, id: u64, folder: Option<String>) -> Result<()> {
        if let Some(record) = self.inner.store.remove_instance(id).await? {
            self.instance_event(id, record.host_id, crate::EventKind::InstanceDeleted);
        }
        // Its names must not serve whatever gets its address next.
        if let Err(error) = self.remove_domains_of(id).await {
            tracing::warn!(instance = id, %error, "could not remove the instance's domains");
        }
        self.inner.status.remove(id);
        self.inner.scheduler.forget(id);
        if let Some(folder) = folder {
            blocking(move || {
                match std::fs::remove_dir_all(&folder) {
                    Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                        tracing::warn!(instance = id, path = %folder, %error, "could not remove the instance folder");
                    }
                    _ => {}
                }
                Ok(())
            })
            .await?;
        }
        Ok(())
    }

    /// A page of the commands of an instance, newest first, without their consoles.
    pub async fn commands(&self, who: &Principal, id: u64, page: Page) -> Result<Vec<Command>> {
        self.record(who, id).await?;
        self.inner.scheduler.commands(id, page).await
    }

    /// One command of an instance, with its console.
    pub async fn command(
        &self,
        who: &Principal,
        id: u64,
        command_id: u64,
    ) -> Result<CommandHandle> {
        self.record(who, id).await?;
        self.inner.scheduler.command(id, command_id).await
    }

    /// Cancels a queued or running command (needs the permission of its action).
    pub async fn cancel(&self, who: &Principal, id: u64, command_id: u64) -> Result<Command> {
        let record = self.record(who, id).await?;
        let action = self
            .inner
            .scheduler
            .command(id, command_id)
            .await?
            .snapshot()
            .action;
        who.check(record.id, record.host_id, Permission::Action(action))?;
        self.inner.scheduler.cancel(id, command_id).await
    }

    /// The first step of a graceful stop: refuses new commands (503 `shutting_down`), ends
    /// queued ones `interrupted`, and lets running ones finish, waiting at most `deadline`.
    /// The number still running then (which [`Jeto::shutdown`] interrupts).
    pub async fn drain(&self, deadline: Duration) -> usize {
        self.inner.scheduler.drain(deadline).await
    }

    /// Resolves once the service shuts down (after its drain): endless streams (events) end
    /// then, so connections close within the grace period.
    pub async fn stopped(&self) {
        let mut stopped = self.inner.stopped.subscribe();
        let _ = stopped.wait_for(|stopped| *stopped).await;
    }

    /// Whether it is draining or shut down (accepting no commands).
    pub fn is_draining(&self) -> bool {
        self.inner.scheduler.is_draining()
    }

    /// Stops accepting commands, stops running ones (recorded `interrupted`), waiting at most
    /// `deadline`.
    pub async fn shutdown(&self, deadline: Duration) {
        self.inner.stopped.send_replace(true);
        if let Some(webhooks) = &self.inner.webhooks {
            webhooks.stop();
        }
        self.inner.scheduler.shutdown(deadline).await;
        self.flush_anonymous_audit().await;
    }
}

/// Reads an instance's `jeto.json` on a blocking thread.
async fn load_infos(path: &str) -> Result<JetoInfos> {
    let path = PathBuf::from(path);
    blocking(move || JetoInfos::load(&path)).await
}

/// Fresh status reads run the provider: only keys granted `status` may cause them.
fn may_read_statuses(who: &Principal) -> bool {
    who.is_granted(Permission::Action(Action::Status))
}

fn fresh_reads_forbidden() -> Error {
    Error::Forbidden {
        action: "read statuses afresh (max_age and refresh=true need the status grant)".into(),
    }
}
