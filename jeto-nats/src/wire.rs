//! What travels over NATS: subjects, and the JSON of calls, commands and their output.

use std::path::PathBuf;

use jeto_core::{ActionRequest, Host, Instance, InstanceSource, Outcome, ProviderError};
use serde::{Deserialize, Serialize};

/// Request-reply calls for the workers of `host`.
pub(crate) fn call_subject(host: u64) -> String {
    format!("jeto.host.{host}.call")
}

/// Actions for the workers of `host` (in the command stream).
pub(crate) fn command_subject(host: u64) -> String {
    format!("jeto.host.{host}.command")
}

/// The console, heartbeats and result of one run.
pub(crate) fn output_subject(run: &str) -> String {
    format!("jeto.run.{run}.out")
}

/// Asks the worker to stop one run (its caller went away).
pub(crate) fn cancel_subject(run: &str) -> String {
    format!("jeto.run.{run}.cancel")
}

/// What a run's record in the results bucket is signed for.
pub(crate) fn record_subject(run: &str) -> String {
    format!("{}.{run}", crate::streams::RESULTS_BUCKET)
}

/// What a worker's beat in the presence bucket is signed for.
pub(crate) fn beat_subject(worker: &str) -> String {
    format!("{}.{worker}", crate::streams::PRESENCE_BUCKET)
}

/// A call answered at once.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub(crate) enum Call {
    /// Is a worker there? (Answered with `null`.)
    Ping,
    Status {
        instance: Instance,
    },
    /// The states of many instances of the host, read together (one answer per instance).
    Statuses {
        instances: Vec<Instance>,
    },
    Ip {
        instance: Instance,
        machine: String,
    },
    Machine {
        instance: Instance,
        machine: String,
    },
    Snapshots {
        instance: Instance,
    },
    Boxes {
        host: Host,
        outdated: bool,
    },
    Prepare {
        host: Host,
        source: InstanceSource,
        target: PathBuf,
    },
}

/// The most instances in one [`Call::Statuses`] (a call stays far below NATS's payload limit).
pub(crate) const STATUSES_MAX: usize = 50;

/// The answer to a [`Call`]: the value as JSON, or what failed.
pub(crate) type Reply = Result<serde_json::Value, ProviderError>;

/// An action for a worker, through the work-queue stream.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CommandMessage {
    /// Names the run's output and cancel subjects.
    pub(crate) run: String,
    pub(crate) instance: Instance,
    pub(crate) request: ActionRequest,
    /// The public keys of the workers the server trusts for the host: the only ones whose
    /// records of this run a worker believes.
    pub(crate) workers: Vec<String>,
}

/// What a worker publishes about a run, in order: lines and heartbeats, then its end.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Output {
    /// The worker has the run and is working on it.
    Alive,
    /// Console lines, in order: as many as were waiting (each message is signed, so lines
    /// produced faster than they are sent travel together).
    Lines(Vec<String>),
    /// The run ended.
    Done(Result<Outcome, ProviderError>),
}

/// What the results bucket holds for a run (key: the run): `started` once a worker takes
/// it, then its end; or `withdrawn` when its caller gave it up first. Both first records are
/// written with a create, so a run is either started by one worker or withdrawn, never both. A
/// delivery finding `started` knows the run was cut short.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RunRecord<R = Result<Outcome, ProviderError>> {
    Started {
        worker: String,
    },
    /// Its caller took it back before any worker started it: no worker ever will.
    Withdrawn,
    /// Generic so a worker records a borrowed result, then publishes it.
    Done(R),
}

/// JSON of a wire value; these types always serialise.
pub(crate) fn to_json<T: Serialize>(value: &T) -> bytes::Bytes {
    serde_json::to_vec(value)
        .expect("wire types serialise")
        .into()
}
