//! `GET /metrics`: the gauges set to the fleet as it is, then everything encoded.

use std::collections::HashMap;

use super::Jeto;
use crate::access::Principal;
use crate::metrics::{FleetGauges, Metrics};
use crate::{Error, Result};

impl Jeto {
    /// The service's metrics, when it keeps them (`JetoConfig::metrics`): adapters count
    /// what they see there too (HTTP requests, webhook deliveries).
    pub fn metrics(&self) -> Option<&Metrics> {
        self.inner.events.metrics()
    }

    /// The metrics as text (OpenMetrics when `openmetrics`, else the Prometheus text form),
    /// for admins and metrics-only keys. Reading them costs no provider call: states are the
    /// last known, workers those the provider knows from their heartbeats.
    pub async fn metrics_text(&self, who: &Principal, openmetrics: bool) -> Result<String> {
        if !(who.admin || who.metrics_only) {
            return Err(Error::Forbidden {
                action: "read the metrics (admin keys and metrics-only keys may)".into(),
            });
        }
        let Some(metrics) = self.metrics() else {
            return Err(Error::NotSupported {
                what: "metrics (this server keeps none: [metrics] enabled = false)".into(),
            });
        };
        let mut fleet = FleetGauges {
            queued: self.inner.scheduler.queued(),
            slots_in_use: self.inner.slots.in_use(),
            ..FleetGauges::default()
        };
        let instances = self.inner.store.instances().await?;
        for record in &instances {
            *fleet.instances.entry(record.host_id).or_default() += 1;
            for machine in self.inner.status.last_known(record.id).statuses {
                *fleet.machines.entry(machine.status).or_default() += 1;
            }
        }
        let mut workers: HashMap<u64, usize> = HashMap::new();
        for host in self.inner.store.hosts().await? {
            fleet.instances.entry(host.id).or_default();
            if let Ok(online) = self.inner.provider.workers(&host).await {
                workers.insert(host.id, online.iter().filter(|w| w.online).count());
            }
        }
        fleet.workers_online = workers;
        metrics.set_fleet(&fleet);
        Ok(if openmetrics {
            metrics.openmetrics_text()
        } else {
            metrics.prometheus_text()
        })
    }
}
