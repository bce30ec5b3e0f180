//! [`HostRouter`]: one provider for the server: hosts served by workers go over NATS, the
//! others run on the server's own box. NATS may come later than the server: until a
//! [`NatsProvider`] is given ([`WorkersSlot::fill`]), the workers' hosts answer `unavailable`
//! (503) and every other host works.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use jeto_core::{
    BoxInfo, CheckedRequest, ConsoleSink, DynProvider, GlobalMachine, Host, HostWorker, Instance,
    InstanceSource, MachineDetails, MachineSnapshots, Outcome, Provider, ProviderError, Status,
    ToolInfo,
};

use crate::NatsProvider;

/// Sends the calls of `hosts` to their workers and every other call to `local`.
#[derive(Debug, Clone)]
pub struct HostRouter {
    local: DynProvider,
    workers: WorkersSlot,
    hosts: BTreeSet<u64>,
}

/// Where a [`HostRouter`] finds the [`NatsProvider`] of its workers' hosts, once there is one.
#[derive(Debug, Clone, Default)]
pub struct WorkersSlot(Arc<OnceLock<NatsProvider>>);

impl WorkersSlot {
    /// Gives the router its workers' provider (the first one given stays).
    pub fn fill(&self, workers: NatsProvider) {
        let _ = self.0.set(workers);
    }

    /// Whether a provider was given.
    pub fn is_filled(&self) -> bool {
        self.0.get().is_some()
    }
}

impl HostRouter {
    /// Calls for `hosts` go to `workers`, the rest to `local`.
    pub fn new(
        local: DynProvider,
        workers: NatsProvider,
        hosts: impl IntoIterator<Item = u64>,
    ) -> Self {
        let (router, slot) = HostRouter::pending(local, hosts);
        slot.fill(workers);
        router
    }

    /// A router whose workers' provider comes later, through the returned slot (when NATS is
    /// reachable); meanwhile calls for `hosts` fail as unavailable.
    pub fn pending(
        local: DynProvider,
        hosts: impl IntoIterator<Item = u64>,
    ) -> (Self, WorkersSlot) {
        let slot = WorkersSlot::default();
        let router = HostRouter {
            local,
            workers: slot.clone(),
            hosts: hosts.into_iter().collect(),
        };
        (router, slot)
    }

    fn for_host(&self, host: u64) -> Result<&dyn Provider, ProviderError> {
        if !self.hosts.contains(&host) {
            return Ok(&*self.local);
        }
        match self.workers.0.get() {
            Some(workers) => Ok(workers),
            None => Err(ProviderError::Unavailable {
                message: format!(
                    "host {host} is served by workers over NATS, and NATS has not been reachable since the server started; the server keeps trying (see its log)"
                ),
                source: None,
            }),
        }
    }
}

#[async_trait]
impl Provider for HostRouter {
    async fn status(&self, instance: &Instance) -> Result<Vec<Status>, ProviderError> {
        self.for_host(instance.host.id)?.status(instance).await
    }

    /// One host's instances (as the watcher batches them) go to that host's provider whole;
    /// a mixed list is split by host, answers kept in order.
    async fn statuses(&self, instances: &[Instance]) -> Vec<Result<Vec<Status>, ProviderError>> {
        let Some(first) = instances.first() else {
            return Vec::new();
        };
        if instances.iter().all(|i| i.host.id == first.host.id) {
            if let Ok(provider) = self.for_host(first.host.id) {
                return provider.statuses(instances).await;
            }
        }
        // Mixed hosts, or a host not served now: each on its own, each with its error.
        let mut answers = Vec::with_capacity(instances.len());
        for instance in instances {
            answers.push(self.status(instance).await);
        }
        answers
    }

    async fn run(
        &self,
        instance: &Instance,
        request: &CheckedRequest,
        console: ConsoleSink,
    ) -> Result<Outcome, ProviderError> {
        self.for_host(instance.host.id)?
            .run(instance, request, console)
            .await
    }

    async fn ip(
        &self,
        instance: &Instance,
        machine: &str,
    ) -> Result<Option<String>, ProviderError> {
        self.for_host(instance.host.id)?.ip(instance, machine).await
    }

    async fn prepare(
        &self,
        host: &Host,
        source: &InstanceSource,
        target: &Path,
    ) -> Result<PathBuf, ProviderError> {
        self.for_host(host.id)?.prepare(host, source, target).await
    }

    async fn machine(
        &self,
        instance: &Instance,
        machine: &str,
    ) -> Result<MachineDetails, ProviderError> {
        self.for_host(instance.host.id)?
            .machine(instance, machine)
            .await
    }

    async fn snapshots(&self, instance: &Instance) -> Result<Vec<MachineSnapshots>, ProviderError> {
        self.for_host(instance.host.id)?.snapshots(instance).await
    }

    async fn boxes(&self, host: &Host, outdated: bool) -> Result<Vec<BoxInfo>, ProviderError> {
        self.for_host(host.id)?.boxes(host, outdated).await
    }

    async fn workers(&self, host: &Host) -> Result<Vec<HostWorker>, ProviderError> {
        self.for_host(host.id)?.workers(host).await
    }

    // The server's own box: what the API server's vagrant knows.
    async fn global_status(&self) -> Result<Vec<GlobalMachine>, ProviderError> {
        self.local.global_status().await
    }

    async fn about(&self) -> Result<ToolInfo, ProviderError> {
        self.local.about().await
    }
}
