//! Quotas per user, team and project: instances, running machines, queued commands. A request
//! that would exceed one is refused with [`Error::QuotaExceeded`] naming the limit, the usage
//! and whose quota it is, before anything is created or queued. Checks and what they allow
//! happen under one lock (taken only when a quota applies), with creations still preparing
//! counted as made, so requests racing for the last unit never pass the limit together.

use std::collections::BTreeSet;
use std::sync::Mutex;

use super::Jeto;
use crate::access::Principal;
use crate::store::InstanceRecord;
use crate::{
    Action, ActionRequest, CommandStatus, Error, Quota, QuotaResource, QuotaUsage, Result, Status,
    Usage,
};

/// Whose quota, and which instances it counts.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    set_by: String,
    quota: Quota,
    counts: Counts,
}

#[derive(Debug, Clone)]
enum Counts {
    /// Instances these users made.
    Owners(BTreeSet<u64>),
    /// Instances made from this project.
    Project(u64),
}

impl Scope {
    fn counts(&self, owner: Option<u64>, project: Option<u64>) -> bool {
        match &self.counts {
            Counts::Owners(users) => owner.is_some_and(|o| users.contains(&o)),
            Counts::Project(id) => project == Some(*id),
        }
    }
}

/// A creation checked against the quotas and not stored yet: (reservation, owner, project).
type Prepared = (u64, Option<u64>, Option<u64>);

/// Creations checked against the quotas and not stored yet.
#[derive(Debug, Default)]
pub(crate) struct Preparing(Mutex<Vec<Prepared>>);

/// A creation counted while it prepares; uncounted when dropped (stored or failed).
pub(crate) struct Reservation<'a> {
    preparing: &'a Preparing,
    id: u64,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.preparing
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(id, _, _)| *id != self.id);
    }
}

/// A start's machines: those named, or all of the instance that are not running (one when
/// none is known yet).
fn machines_started(request: &ActionRequest, known: &[Status]) -> u32 {
    let not_running = |s: &&Status| s.status != Status::RUNNING;
    match &request.machine {
        Some(machine) => u32::from(
            !known
                .iter()
                .any(|s| &s.name == machine && s.status == Status::RUNNING),
        ),
        None if known.is_empty() => 1,
        None => known.iter().filter(not_running).count() as u32,
    }
}

fn starts(action: Action) -> bool {
    matches!(action, Action::Start | Action::Resume | Action::Reload)
}

impl Jeto {
    /// The quotas bounding instances of `owner` made from `project`.
    async fn scopes(&self, owner: Option<u64>, project: Option<u64>) -> Result<Vec<Scope>> {
        let mut scopes = Vec::new();
        if let Some(owner) = owner {
            let store = &self.inner.store;
            if let Some(user) = store.users().await?.into_iter().find(|u| u.id == owner) {
                if !user.quota.is_empty() {
                    scopes.push(Scope {
                        set_by: format!("user {}", user.name),
                        quota: user.quota,
                        counts: Counts::Owners([owner].into()),
                    });
                }
            }
            for team in store.teams().await? {
                if team.members.contains(&owner) && !team.quota.is_empty() {
                    scopes.push(Scope {
                        set_by: format!("team {}", team.name),
                        quota: team.quota,
                        counts: Counts::Owners(team.members.clone()),
                    });
                }
            }
        }
        if let Some(project) = project {
            let found = self.inner.store.projects().await?;
            if let Some(project) = found
                .into_iter()
                .find(|p| p.id == project && !p.quota.is_empty())
            {
                scopes.push(Scope {
                    set_by: format!("project {}", project.name),
                    quota: project.quota,
                    counts: Counts::Project(project.id),
                });
            }
        }
        Ok(scopes)
    }

    /// What `scope` uses now.
    async fn usage(&self, scope: &Scope) -> Result<QuotaUsage> {
        let records = self.inner.store.instances().await?;
        let counted: Vec<&InstanceRecord> = records
            .iter()
            .filter(|r| scope.counts(r.owner, r.project))
            .collect();
        let preparing = self
            .inner
            .preparing
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, owner, project)| scope.counts(*owner, *project))
            .count() as u32;
        let (mut running, mut queued) = (0, 0);
        for record in &counted {
            let known = self.inner.status.last_known(record.id).statuses;
            running += known.iter().filter(|s| s.status == Status::RUNNING).count() as u32;
            for command in self.inner.scheduler.unfinished(record.id) {
                if command.status == CommandStatus::Queued {
                    queued += 1;
                }
                if starts(command.action) {
                    let request = ActionRequest {
                        machine: command.machine.clone(),
                        ..ActionRequest::new(command.action)
                    };
                    running += machines_started(&request, &known);
                }
            }
        }
        let usage = |resource, usage| Usage {
            limit: scope.quota.limit(resource),
            usage,
        };
        Ok(QuotaUsage {
            instances: usage(QuotaResource::Instances, counted.len() as u32 + preparing),
            running: usage(QuotaResource::Running, running),
            queued: usage(QuotaResource::Queued, queued),
        })
    }

    fn exceeded(scope: &Scope, resource: QuotaResource, usage: u32, adding: u32) -> Result<()> {
        match scope.quota.limit(resource) {
            Some(limit) if usage + adding > limit => Err(Error::QuotaExceeded {
                resource,
                limit,
                usage,
                set_by: scope.set_by.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// Checks that `who` may make one more instance (from `project`), and counts it until the
    /// reservation is dropped.
    pub(crate) async fn reserve_creation(
        &self,
        who: &Principal,
        project: Option<u64>,
    ) -> Result<Option<Reservation<'_>>> {
        let scopes = self.scopes(who.user, project).await?;
        if scopes.iter().all(|s| s.quota.instances.is_none()) {
            return Ok(None);
        }
        let _gate = self.inner.quota_gate.lock().await;
        for scope in &scopes {
            let usage = self.usage(scope).await?;
            Self::exceeded(scope, QuotaResource::Instances, usage.instances.usage, 1)?;
        }
        let id = self
            .inner
            .next_reservation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner
            .preparing
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((id, who.user, project));
        Ok(Some(Reservation {
            preparing: &self.inner.preparing,
            id,
        }))
    }

    /// Checks that queueing `request` on `record` stays within the quotas of its owner, their
    /// teams and its project; while the returned guard is held, no other quota-bound request
    /// is checked (hold it until the command is queued).
    pub(crate) async fn check_command(
        &self,
        record: &InstanceRecord,
        request: &ActionRequest,
    ) -> Result<Option<tokio::sync::MutexGuard<'_, ()>>> {
        let scopes = self.scopes(record.owner, record.project).await?;
        let bounded = |s: &Scope| {
            s.quota.queued.is_some() || (starts(request.action) && s.quota.running.is_some())
        };
        if !scopes.iter().any(bounded) {
            return Ok(None);
        }
        let gate = self.inner.quota_gate.lock().await;
        let known = self.inner.status.last_known(record.id).statuses;
        let adding = if starts(request.action) {
            machines_started(request, &known)
        } else {
            0
        };
        for scope in &scopes {
            let usage = self.usage(scope).await?;
            Self::exceeded(scope, QuotaResource::Queued, usage.queued.usage, 1)?;
            if adding > 0 {
                Self::exceeded(scope, QuotaResource::Running, usage.running.usage, adding)?;
            }
        }
        Ok(Some(gate))
    }

    /// A user's usage and limits (admins, and the user).
    pub async fn user_usage(&self, who: &Principal, id: u64) -> Result<QuotaUsage> {
        let user = self
            .inner
            .store
            .users()
            .await?
            .into_iter()
            .find(|u| u.id == id);
        let user = user
            .filter(|_| who.admin || who.user == Some(id))
            .ok_or(Error::NotFound {
                what: format!("user {id}"),
            })?;
        self.usage(&Scope {
            set_by: format!("user {}", user.name),
            quota: user.quota,
            counts: Counts::Owners([id].into()),
        })
        .await
    }

    /// A team's usage and limits (admins, and its members).
    pub async fn team_usage(&self, who: &Principal, id: u64) -> Result<QuotaUsage> {
        let team = self
            .inner
            .store
            .teams()
            .await?
            .into_iter()
            .find(|t| t.id == id);
        let member = |t: &crate::access::people::Team| {
            who.admin
                || who.user.is_some_and(|u| t.members.contains(&u))
                || who.teams.contains(&t.name)
        };
        let team = team.filter(member).ok_or(Error::NotFound {
            what: format!("team {id}"),
        })?;
        self.usage(&Scope {
            set_by: format!("team {}", team.name),
            quota: team.quota,
            counts: Counts::Owners(team.members.clone()),
        })
        .await
    }

    /// A project's usage and limits (admins, and keys that may create from it).
    pub async fn project_usage(&self, who: &Principal, id: u64) -> Result<QuotaUsage> {
        let project = self
            .inner
            .store
            .projects()
            .await?
            .into_iter()
            .find(|p| p.id == id);
        let project = project
            .filter(|_| who.can_use_project(id))
            .ok_or(Error::ProjectNotFound { id })?;
        self.usage(&Scope {
            set_by: format!("project {}", project.name),
            quota: project.quota,
            counts: Counts::Project(id),
        })
        .await
    }
}
