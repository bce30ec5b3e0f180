//! [`Metrics`]: what Jeto counts and measures, for `GET /metrics` in the Prometheus text or
//! OpenMetrics form, in one explicit registry (no global state).
//!
//! Names follow Prometheus conventions (`jeto_` prefix, base units, `_total` counters), and no
//! label takes an unbounded set of values: routes are patterns, actions and outcomes are
//! Jeto's own names, hosts are the hosts an admin made, machine states are Vagrant's names
//! (any other is `other`); never an instance id, a path or a key.

mod text;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

use crate::EventKind;

/// Commands whose start is remembered for their duration at once (more are not timed).
const MAX_TIMED: usize = 10_000;

/// Vagrant's state names kept as they are in `jeto_machines`; any other counts as `other`.
const KNOWN_STATES: [&str; 17] = [
    "running",
    "poweroff",
    "stopped",
    "shutoff",
    "not_created",
    "saved",
    "aborted",
    "paused",
    "suspended",
    "preparing",
    "inaccessible",
    "gurumeditation",
    "frozen",
    "halted",
    "unknown",
    "crashed",
    "host_state_unknown",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: &'static str,
    method: &'static str,
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommandLabels {
    action: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerbLabels {
    verb: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HostLabels {
    host: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

/// The fleet as it is at a scrape: what the gauges show.
#[derive(Debug, Default, Clone)]
#[non_exhaustive]
pub struct FleetGauges {
    /// Commands queued, not started.
    pub queued: usize,
    /// Provider slots in use.
    pub slots_in_use: usize,
    /// Instances per host id.
    pub instances: HashMap<u64, usize>,
    /// Machines per Vagrant state name (as last read).
    pub machines: HashMap<String, usize>,
    /// Workers online per host id (hosts served over NATS).
    pub workers_online: HashMap<u64, usize>,
}

/// Jeto's metrics. Cloning shares them.
///
/// ```
/// let metrics = jeto_core::metrics::Metrics::new();
/// metrics.http_request("/api/instances", "GET", 200, 0.002);
/// let text = metrics.prometheus_text();
/// assert!(text.contains(r#"jeto_http_requests_total{route="/api/instances",method="GET",class="2xx"} 1"#));
/// ```
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

struct Inner {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_seconds: Family<HttpLabels, Histogram>,
    commands: Family<CommandLabels, Counter>,
    command_seconds: Family<CommandLabels, Histogram>,
    provider_seconds: Family<VerbLabels, Histogram>,
    store_seconds: Family<OperationLabels, Histogram>,
    events: Counter,
    webhook_deliveries: Family<OutcomeLabels, Counter>,
    queued: Gauge,
    slots_in_use: Gauge,
    instances: Family<HostLabels, Gauge>,
    machines: Family<StateLabels, Gauge>,
    workers_online: Family<HostLabels, Gauge>,
    /// When each running command started (for its duration).
    started: Mutex<HashMap<u64, Instant>>,
}

/// Buckets of HTTP answers: 0.5 ms to about 2 min.
fn http_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 4.0, 10))
}

/// Buckets of commands: 0.25 s to about 1 h.
fn command_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.25, 2.0, 14))
}

/// Buckets of provider calls: 50 ms to about 7 min.
fn provider_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.05, 2.0, 14))
}

/// Buckets of store operations: 0.1 ms to about 26 s.
fn store_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 4.0, 10))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric at zero, in a registry of its own.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("jeto");
        let http_requests = Family::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route pattern, method and status class",
            http_requests.clone(),
        );
        let http_seconds = Family::new_with_constructor(http_buckets as fn() -> Histogram);
        registry.register_with_unit(
            "http_request_duration",
            "Time to answer an HTTP request (to its headers for streams)",
            Unit::Seconds,
            http_seconds.clone(),
        );
        let commands = Family::default();
        registry.register(
            "commands",
            "Commands ended, by action and outcome",
            commands.clone(),
        );
        let command_seconds = Family::new_with_constructor(command_buckets as fn() -> Histogram);
        registry.register_with_unit(
            "command_duration",
            "How long commands ran, from start to end, by action and outcome",
            Unit::Seconds,
            command_seconds.clone(),
        );
        let provider_seconds = Family::new_with_constructor(provider_buckets as fn() -> Histogram);
        registry.register_with_unit(
            "provider_call_duration",
            "Time in provider calls (vagrant processes, hypervisor listings, worker calls) by verb",
            Unit::Seconds,
            provider_seconds.clone(),
        );
        let store_seconds = Family::new_with_constructor(store_buckets as fn() -> Histogram);
        registry.register_with_unit(
            "store_operation_duration",
            "Time in store operations, by operation",
            Unit::Seconds,
            store_seconds.clone(),
        );
        let events = Counter::default();
        registry.register(
            "events_written",
            "Events written to the event log",
            events.clone(),
        );
        let webhook_deliveries = Family::default();
        registry.register(
            "webhook_deliveries",
            "Webhook delivery attempts, by outcome",
            webhook_deliveries.clone(),
        );
        let queued = Gauge::default();
        registry.register(
            "commands_queued",
            "Commands queued, not started",
            queued.clone(),
        );
        let slots_in_use = Gauge::default();
        registry.register(
            "provider_slots_in_use",
            "Provider slots ([vagrant] max_concurrent) in use",
            slots_in_use.clone(),
        );
        let instances = Family::default();
        registry.register("instances", "Instances, by host id", instances.clone());
        let machines = Family::default();
        registry.register(
            "machines",
            "Machines, by state as last read",
            machines.clone(),
        );
        let workers_online = Family::default();
        registry.register(
            "workers_online",
            "Workers online, by host id (hosts served over NATS)",
            workers_online.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry,
                http_requests,
                http_seconds,
                commands,
                command_seconds,
                provider_seconds,
                store_seconds,
                events,
                webhook_deliveries,
                queued,
                slots_in_use,
                instances,
                machines,
                workers_online,
                started: Mutex::default(),
            }),
        }
    }

    /// Counts an HTTP answer: `route` is the matched pattern (never the path as sent).
    pub fn http_request(
        &self,
        route: &'static str,
        method: &'static str,
        status: u16,
        seconds: f64,
    ) {
        let class = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        let labels = HttpLabels {
            route,
            method,
            class,
        };
        self.inner.http_requests.get_or_create(&labels).inc();
        self.inner
            .http_seconds
            .get_or_create(&labels)
            .observe(seconds);
    }

    /// Times a provider call (`verb`: the action's name, `status`, `statuses`, ...).
    pub fn provider_call(&self, verb: &'static str, seconds: f64) {
        let labels = VerbLabels { verb };
        self.inner
            .provider_seconds
            .get_or_create(&labels)
            .observe(seconds);
    }

    /// Times a store operation.
    pub fn store_operation(&self, operation: &'static str, seconds: f64) {
        let labels = OperationLabels { operation };
        self.inner
            .store_seconds
            .get_or_create(&labels)
            .observe(seconds);
    }

    /// Runs a store operation, timed when there are metrics.
    pub async fn timed<T>(
        metrics: Option<&Metrics>,
        operation: &'static str,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        let started = Instant::now();
        let done = work.await;
        if let Some(metrics) = metrics {
            metrics.store_operation(operation, started.elapsed().as_secs_f64());
        }
        done
    }

    /// Counts a webhook delivery attempt (`delivered`, `failed`, `retrying`, ...).
    pub fn webhook_delivery(&self, outcome: &'static str) {
        let labels = OutcomeLabels { outcome };
        self.inner.webhook_deliveries.get_or_create(&labels).inc();
    }

    /// Counts an event written to the log.
    pub(crate) fn event_written(&self) {
        self.inner.events.inc();
    }

    /// Counts and times commands from their events, as they are emitted.
    pub(crate) fn event_emitted(&self, kind: &EventKind) {
        let mut started = self.inner.started.lock().unwrap_or_else(|e| e.into_inner());
        match kind {
            EventKind::CommandStarted { command, .. } if started.len() < MAX_TIMED => {
                started.insert(*command, Instant::now());
            }
            EventKind::CommandEnded {
                command,
                action,
                status,
            } => {
                let labels = CommandLabels {
                    action: action.as_str(),
                    outcome: status.as_str(),
                };
                self.inner.commands.get_or_create(&labels).inc();
                if let Some(at) = started.remove(command) {
                    let seconds = at.elapsed().as_secs_f64();
                    self.inner
                        .command_seconds
                        .get_or_create(&labels)
                        .observe(seconds);
                }
            }
            _ => {}
        }
    }

    /// Sets the gauges to the fleet as it is now.
    pub fn set_fleet(&self, fleet: &FleetGauges) {
        let inner = &self.inner;
        inner.queued.set(fleet.queued as i64);
        inner.slots_in_use.set(fleet.slots_in_use as i64);
        inner.instances.clear();
        for (host, count) in &fleet.instances {
            let labels = HostLabels {
                host: host.to_string(),
            };
            inner.instances.get_or_create(&labels).set(*count as i64);
        }
        inner.machines.clear();
        for (state, count) in &fleet.machines {
            let state = KNOWN_STATES
                .iter()
                .find(|known| **known == state.as_str())
                .copied()
                .unwrap_or("other");
            let labels = StateLabels { state };
            inner.machines.get_or_create(&labels).inc_by(*count as i64);
        }
        inner.workers_online.clear();
        for (host, count) in &fleet.workers_online {
            let labels = HostLabels {
                host: host.to_string(),
            };
            inner
                .workers_online
                .get_or_create(&labels)
                .set(*count as i64);
        }
    }

    /// The metrics in the OpenMetrics text form (`application/openmetrics-text;
    /// version=1.0.0`), as a Prometheus server asks for them.
    pub fn openmetrics_text(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.inner.registry)
            .expect("writing to a String does not fail");
        text
    }

    /// The metrics in the Prometheus text form (`text/plain; version=0.0.4`), for clients that
    /// do not ask for OpenMetrics (`promtool check metrics`, `curl`).
    pub fn prometheus_text(&self) -> String {
        text::prometheus_from_openmetrics(&self.openmetrics_text())
    }
}
