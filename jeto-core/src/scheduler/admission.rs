//! Admission: whether a submission fits the queue bounds (per instance, per key, the history
//! limit) and the instance's state, with a message that says what is queued when it does not.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{CommandScheduler, Enqueue};
use crate::{Action, Error, Result};

/// What a caller told to come back later is told to wait.
const RETRY_AFTER: Duration = Duration::from_secs(10);

impl CommandScheduler {
    /// Checks a submission against the bounds and counts it as queued.
    pub(super) fn reserve(
        &self,
        instance_id: u64,
        requested_by: &str,
        mode: Enqueue,
    ) -> Result<()> {
        let config = &self.inner.config;
        let mut state = self.lock();
        if state.shutting_down {
            return Err(Error::ShuttingDown);
        }
        let lane = state.lanes.entry(instance_id).or_default();
        if lane.closed && mode != Enqueue::Destroy {
            return Err(Error::Conflict {
                message: format!(
                    "instance {instance_id} is being deleted and accepts no new command"
                ),
            });
        }
        let waiting = lane.pending.len() + lane.reserved;
        if waiting >= config.max_queued_per_instance.max(1) {
            return Err(Error::limit(
                format!(
                    "instance {instance_id} already has {waiting} commands waiting ({}); the bound is max_queued_per_instance = {}: wait for them to run or cancel some",
                    summary(lane.pending.iter().map(|p| p.request.action)),
                    config.max_queued_per_instance
                ),
                RETRY_AFTER,
            ));
        }
        let limit = config.history_limit.max(1);
        let unfinished = lane.live.len() + lane.reserved;
        if unfinished >= limit {
            return Err(Error::limit(
                format!(
                    "instance {instance_id} already has {unfinished} unfinished commands, its whole history_limit ({limit}); wait for them to end"
                ),
                RETRY_AFTER,
            ));
        }
        let by_key = state.queued_by.get(requested_by).copied().unwrap_or(0);
        if by_key >= config.max_queued_per_key.max(1) {
            let mut per_instance: BTreeMap<u64, usize> = BTreeMap::new();
            for (id, lane) in &state.lanes {
                let mine = lane.pending.iter().filter(|p| p.by == requested_by).count();
                if mine > 0 {
                    per_instance.insert(*id, mine);
                }
            }
            let listed: Vec<String> = per_instance
                .iter()
                .map(|(id, n)| format!("{n} on instance {id}"))
                .collect();
            return Err(Error::limit(
                format!(
                    "key {requested_by:?} already has {by_key} commands waiting ({}); the bound is max_queued_per_key = {}: wait for them to run or cancel some",
                    listed.join(", "),
                    config.max_queued_per_key
                ),
                RETRY_AFTER,
            ));
        }
        state.lanes.entry(instance_id).or_default().reserved += 1;
        *state.queued_by.entry(requested_by.to_owned()).or_default() += 1;
        Ok(())
    }
}

/// `3 start, 1 stop`: what a queue holds, for people.
fn summary(actions: impl Iterator<Item = Action>) -> String {
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for action in actions {
        *counts.entry(action.as_str()).or_default() += 1;
    }
    counts
        .iter()
        .map(|(action, n)| format!("{n} {action}"))
        .collect::<Vec<_>>()
        .join(", ")
}
