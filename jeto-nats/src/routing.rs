//! [`HostRouter`]: one provider for the server: hosts served by workers go over NATS, the
//! others run on the server's own box.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

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
    workers: NatsProvider,
    hosts: BTreeSet<u64>,
}

impl HostRouter {
    /// Calls for `hosts` go to `workers`, the rest to `local`.
    pub fn new(
        local: DynProvider,
        workers: NatsProvider,
        hosts: impl IntoIterator<Item = u64>,
    ) -> Self {
        HostRouter {
            local,
            workers,
            hosts: hosts.into_iter().collect(),
        }
    }

    fn for_host(&self, host: u64) -> &dyn Provider {
        if self.hosts.contains(&host) {
            &self.workers
        } else {
            &*self.local
        }
    }
}

#[async_trait]
impl Provider for HostRouter {
    async fn status(&self, instance: &Instance) -> Result<Vec<Status>, ProviderError> {
        self.for_host(instance.host.id).status(instance).await
    }

    async fn run(
        &self,
        instance: &Instance,
        request: &CheckedRequest,
        console: ConsoleSink,
    ) -> Result<Outcome, ProviderError> {
        self.for_host(instance.host.id)
            .run(instance, request, console)
            .await
    }

    async fn ip(
        &self,
        instance: &Instance,
        machine: &str,
    ) -> Result<Option<String>, ProviderError> {
        self.for_host(instance.host.id).ip(instance, machine).await
    }

    async fn prepare(
        &self,
        host: &Host,
        source: &InstanceSource,
        target: &Path,
    ) -> Result<PathBuf, ProviderError> {
        self.for_host(host.id).prepare(host, source, target).await
    }

    async fn machine(
        &self,
        instance: &Instance,
        machine: &str,
    ) -> Result<MachineDetails, ProviderError> {
        self.for_host(instance.host.id)
            .machine(instance, machine)
            .await
    }

    async fn snapshots(&self, instance: &Instance) -> Result<Vec<MachineSnapshots>, ProviderError> {
        self.for_host(instance.host.id).snapshots(instance).await
    }

    async fn boxes(&self, host: &Host, outdated: bool) -> Result<Vec<BoxInfo>, ProviderError> {
        self.for_host(host.id).boxes(host, outdated).await
    }

    async fn workers(&self, host: &Host) -> Result<Vec<HostWorker>, ProviderError> {
        self.for_host(host.id).workers(host).await
    }

    // The server's own box: what the API server's vagrant knows.
    async fn global_status(&self) -> Result<Vec<GlobalMachine>, ProviderError> {
        self.local.global_status().await
    }

    async fn about(&self) -> Result<ToolInfo, ProviderError> {
        self.local.about().await
    }
}
