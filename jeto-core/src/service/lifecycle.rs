//! Machines that stop on their own: expiries (a warning, then halt or destroy, once, caught up
//! after a restart in the order they fell due) and idle stop (running machines no Jeto
//! command touched for a while). Every automatic action is a command like any other: queued,
//! with a console, history, events and an audit entry, requested by `policy:expiry` or
//! `policy:idle`. Policies read nothing from the provider: states are the last known (the
//! watcher keeps them fresh, with the SSH sessions open where the provider can tell), activity
//! is Jeto's own commands, keep-ups and those sessions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde::Deserialize;
use time::OffsetDateTime;

use super::{Inner, Jeto};
use crate::access::{Permission, Principal};
use crate::audit::AuditEntry;
use crate::store::Page;
use crate::{
    Action, ActionRequest, Error, EventKind, Expiry, ExpiryAction, IdleStop, Result, Status,
};

/// Expiry and idle-stop settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LifecycleConfig {
    /// How often expiries and idleness are looked at (0: never).
    pub check_interval: Duration,
    /// How long before an expiry its warning event is given.
    pub expiry_warning: Duration,
    /// The furthest an expiry may be set or extended from now by keys that are not admin.
    pub max_expiry: Duration,
    /// The expiry of new instances when their creation names none (`None`: they never
    /// expire unless asked).
    pub default_expiry: Option<Duration>,
    /// What a default expiry does.
    pub default_action: ExpiryAction,
    /// Running machines with no Jeto command for this long are halted (`None`: never).
    pub idle_stop: Option<Duration>,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        LifecycleConfig {
            check_interval: Duration::from_secs(30),
            expiry_warning: Duration::from_secs(3600),
            max_expiry: Duration::from_secs(30 * 24 * 3600),
            default_expiry: None,
            default_action: ExpiryAction::Halt,
            idle_stop: None,
        }
    }
}

/// Expiries acted on in one round at most (more wait for the next round, in order).
const MAX_ACTIONS_PER_ROUND: usize = 64;

/// A change of an instance's expiry (`PUT /api/instances/{id}/expiry`): `at`, or `in_secs`
/// from now; `action` (default: halt).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ExpiryChange {
    /// When it expires (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub at: Option<OffsetDateTime>,
    /// Or: in this many seconds from now.
    #[serde(default)]
    pub in_secs: Option<u64>,
    /// What happens then: `halt` (default) or `destroy` (needs the destroy grant).
    #[serde(default)]
    pub action: Option<ExpiryAction>,
}

/// When each instance was last active, as this process saw it (its start counts for all).
#[derive(Debug)]
pub(crate) struct Activity {
    /// When this service started: the activity of every instance until something else.
    started: OffsetDateTime,
    bumped: Mutex<HashMap<u64, OffsetDateTime>>,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            started: OffsetDateTime::now_utc(),
            bumped: Mutex::default(),
        }
    }
}

impl Activity {
    pub(crate) fn bump(&self, id: u64) {
        let now = OffsetDateTime::now_utc();
        self.bumped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, now);
    }

    fn last(&self, id: u64) -> Option<OffsetDateTime> {
        self.bumped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .copied()
    }
}

impl Jeto {
    /// Starts the lifecycle round: now (a restart catches up with what fell due while the
    /// server was down), then every `check_interval`.
    pub(super) fn start_lifecycle(&self) {
        let interval = self.inner.config.lifecycle.check_interval;
        if interval.is_zero() {
            return;
        }
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let jeto = Jeto { inner };
                if jeto.is_draining() {
                    return;
                }
                if let Err(error) = jeto.lifecycle_round().await {
                    tracing::warn!(%error, "the lifecycle round could not read the instances");
                }
                drop(jeto);
                tokio::time::sleep(interval).await;
            }
        });
    }

    /// One round: warnings and expiries due, in the order they fell due; then idle machines.
    pub(crate) async fn lifecycle_round(&self) -> Result<()> {
        let config = self.inner.config.lifecycle.clone();
        let now = OffsetDateTime::now_utc();
        let mut records = self.inner.store.instances().await?;
        records.sort_by_key(|r| r.spec.expiry.as_ref().map(|e| e.at));
        let mut acted = 0;
        for record in &records {
            let Some(expiry) = record.spec.expiry.clone().filter(|e| !e.done) else {
                continue;
            };
            let warn_at = expiry.at - config.expiry_warning;
            if !expiry.warned && now >= warn_at {
                self.mark_expiry(record.id, |e| e.warned = true).await?;
                let kind = EventKind::InstanceExpiring {
                    expires_at: expiry.at,
                    action: expiry.action,
                };
                self.instance_event(record.id, record.host_id, kind);
            }
            if now >= expiry.at && acted < MAX_ACTIONS_PER_ROUND {
                acted += 1;
                // Marked done before it is queued: a crash in between forgets it rather
                // than running it twice.
                self.mark_expiry(record.id, |e| e.done = true).await?;
                let what = format!("expired at {}", expiry.at);
                self.act_for_policy("policy:expiry", record.id, expiry.action.action(), &what)
                    .await;
            }
        }
        if let Some(idle) = config.idle_stop {
            for record in &records {
                if let Some(stop) = self.idle_stop(record.id, idle).await {
                    if now >= stop.at {
                        let what = format!(
                            "no activity since {} (idle_stop_secs {})",
                            stop.last_activity,
                            idle.as_secs()
                        );
                        self.act_for_policy("policy:idle", record.id, Action::Stop, &what)
                            .await;
                    }
                }
            }
        }
        Ok(())
    }

    /// When idle stop halts instance `id` if nothing happens: `None` while no machine of it
    /// runs, while a command is queued or running on it, or when idle stop is off.
    ///
    /// Activity is: a Jeto command (from when it was asked until it ended), a keep-up, an SSH
    /// session the last status read saw open (where the provider can tell), and this
    /// service's start.
    pub(crate) async fn idle_stop(&self, id: u64, idle: Duration) -> Option<IdleStop> {
        let snapshot = self.inner.status.last_known(id);
        let running = snapshot
            .statuses
            .iter()
            .any(|s| s.status == Status::RUNNING);
        if !running || self.inner.scheduler.is_busy(id) {
            return None;
        }
        let newest_command = self
            .inner
            .store
            .commands(
                id,
                Page {
                    before: None,
                    limit: 1,
                },
            )
            .await
            .ok()
            .and_then(|c| c.first().map(|c| c.finished_at.unwrap_or(c.created_at)));
        let sessions_seen = snapshot
            .statuses
            .iter()
            .any(|s| s.ssh_sessions.unwrap_or(0) > 0)
            .then_some(snapshot.checked_at)
            .flatten();
        let activity = &self.inner.activity;
        let last_activity = [newest_command, activity.last(id), sessions_seen]
            .into_iter()
            .flatten()
            .fold(activity.started, OffsetDateTime::max);
        Some(IdleStop::new(last_activity + idle, last_activity))
    }

    /// Queues `action` on instance `id` for a policy, recorded as a command requested by
    /// `policy` and in the audit log.
    pub(super) async fn act_for_policy(&self, policy: &str, id: u64, action: Action, why: &str) {
        let who = Principal::admin(policy);
        let outcome = match self.submit(&who, id, ActionRequest::new(action)).await {
            Ok(handle) => {
                tracing::info!(instance = id, policy, %action, command = handle.id(), why, "policy action queued");
                format!("{action} queued: {why}")
            }
            Err(error) => {
                tracing::warn!(instance = id, policy, %action, %error, "policy action refused");
                format!("{action} refused: {error}")
            }
        };
        let entry = AuditEntry {
            instance: Some(id),
            ..AuditEntry::new(
                Some(policy.to_owned()),
                "POLICY",
                "/api/instances/{id}",
                202,
                &outcome,
            )
        };
        self.audit(entry).await;
    }

    async fn mark_expiry(&self, id: u64, change: impl FnOnce(&mut Expiry)) -> Result<()> {
        let _one = self.inner.expiry_writes.lock().await;
        let Some(mut record) = self.inner.store.instance(id).await? else {
            return Ok(());
        };
        if let Some(expiry) = record.spec.expiry.as_mut() {
            change(expiry);
        }
        self.inner.store.update_instance(record).await?;
        Ok(())
    }

    /// Sets (or extends) instance `id`'s expiry: by keys granted `start` on it (`destroy` for
    /// a destroying expiry), at most `max_expiry` from now unless admin. Warned and done start
    /// over.
    pub async fn set_expiry(
        &self,
        who: &Principal,
        id: u64,
        change: ExpiryChange,
    ) -> Result<Expiry> {
        let record = self.record(who, id).await?;
        let action = change.action.unwrap_or_default();
        who.check(id, record.host_id, Permission::Action(Action::Start))?;
        who.check(id, record.host_id, Permission::Action(action.action()))?;
        let now = OffsetDateTime::now_utc();
        let at = match (change.at, change.in_secs) {
            (Some(at), None) => at,
            (None, Some(secs)) => now + Duration::from_secs(secs.min(100 * 365 * 24 * 3600)),
            _ => {
                return Err(Error::invalid(
                    "give either at (an RFC 3339 time) or in_secs (seconds from now)",
                ))
            }
        };
        if at <= now {
            return Err(Error::invalid(format!(
                "the expiry {at} is not in the future"
            )));
        }
        let max = self.inner.config.lifecycle.max_expiry;
        if !who.admin && at > now + max {
            return Err(Error::invalid(format!(
                "an expiry may be at most {} s from now (lifecycle max_expiry_secs), not {}; ask an admin for longer",
                max.as_secs(),
                (at - now).whole_seconds()
            )));
        }
        let expiry = Expiry::new(at, action);
        let _one = self.inner.expiry_writes.lock().await;
        let Some(mut record) = self.inner.store.instance(id).await? else {
            return Err(Error::InstanceNotFound { id });
        };
        record.spec.expiry = Some(expiry.clone());
        self.inner.store.update_instance(record).await?;
        Ok(expiry)
    }

    /// Removes instance `id`'s expiry (admins): it no longer expires.
    pub async fn clear_expiry(&self, who: &Principal, id: u64) -> Result<()> {
        let _ = self.record(who, id).await?;
        if !who.admin {
            return Err(Error::Forbidden {
                action: "remove an expiry (admins; extend it instead)".into(),
            });
        }
        self.mark_expiry_clear(id).await
    }

    async fn mark_expiry_clear(&self, id: u64) -> Result<()> {
        let _one = self.inner.expiry_writes.lock().await;
        if let Some(mut record) = self.inner.store.instance(id).await? {
            record.spec.expiry = None;
            self.inner.store.update_instance(record).await?;
        }
        Ok(())
    }

    /// Keeps instance `id` up: counts as activity for idle stop, as a command would (keys
    /// granted `start` on it).
    pub async fn keep_up(&self, who: &Principal, id: u64) -> Result<()> {
        let record = self.record(who, id).await?;
        who.check(id, record.host_id, Permission::Action(Action::Start))?;
        self.inner.activity.bump(id);
        Ok(())
    }
}
