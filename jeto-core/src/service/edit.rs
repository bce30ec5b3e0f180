//! Changing what an admin configured: hosts and projects (update, delete) and instances
//! (rename, another environment, another host).

use serde::Deserialize;

use super::{InstanceView, Jeto};
use crate::access::Principal;
use crate::{validate, Error, Host, Project, Result};

/// A change of an instance (`PATCH /api/instances/{id}`): the fields given change, the others
/// stay.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct InstanceChange {
    /// A new name (1 to 128 characters).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub name: Option<String>,
    /// A new value of `ENVIRONMENT` for its vagrant processes.
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub environment: Option<String>,
    /// Another host to run it on: refused while commands are queued or running, and unless
    /// that host's provider reads the instance's machines.
    pub host: Option<u64>,
}

impl InstanceChange {
    /// A change of nothing yet: set the fields to change.
    ///
    /// ```
    /// let mut change = jeto_core::InstanceChange::new();
    /// change.name = Some("web-2".into());
    /// assert!(change.host.is_none());
    /// ```
    pub fn new() -> Self {
        InstanceChange::default()
    }
}

impl Jeto {
    /// Replaces host `id` (admins only); the host must exist. Its instances use the new
    /// params and provider from their next command on.
    pub async fn update_host(&self, who: &Principal, id: u64, mut host: Host) -> Result<Host> {
        admin(who, "change hosts")?;
        if host.id != 0 && host.id != id {
            return Err(Error::invalid(format!(
                "the body's id ({}) is not the path's ({id}): leave it out",
                host.id
            )));
        }
        host.id = id;
        host.validate()?;
        if self.inner.store.hosts().await?.iter().all(|h| h.id != id) {
            return Err(Error::HostNotFound { id });
        }
        self.inner.store.put_host(host).await
    }

    /// Removes host `id` (admins only): refused while instances run on it or projects name
    /// it, saying which.
    pub async fn delete_host(&self, who: &Principal, id: u64) -> Result<Host> {
        admin(who, "delete hosts")?;
        let naming: Vec<String> = self
            .inner
            .store
            .projects()
            .await?
            .into_iter()
            .filter(|p| p.hosts.as_ref().is_some_and(|h| h.contains(&id)))
            .map(|p| format!("{} ({})", p.id, p.name))
            .collect();
        if !naming.is_empty() {
            return Err(Error::Conflict {
                message: format!(
                    "host {id} is named by {} project(s): {}; take it out of their hosts first",
                    naming.len(),
                    naming.join(", ")
                ),
            });
        }
        self.inner
            .store
            .remove_host(id)
            .await?
            .ok_or(Error::HostNotFound { id })
    }

    /// Replaces project `id` (admins only); the project must exist.
    pub async fn update_project(
        &self,
        who: &Principal,
        id: u64,
        mut project: Project,
    ) -> Result<Project> {
        admin(who, "change projects")?;
        if project.id != 0 && project.id != id {
            return Err(Error::invalid(format!(
                "the body's id ({}) is not the path's ({id}): leave it out",
                project.id
            )));
        }
        if self
            .inner
            .store
            .projects()
            .await?
            .iter()
            .all(|p| p.id != id)
        {
            return Err(Error::ProjectNotFound { id });
        }
        project.id = id;
        self.create_project(who, project).await
    }

    /// Removes project `id` (admins only). Instances made from it keep their folder.
    pub async fn delete_project(&self, who: &Principal, id: u64) -> Result<Project> {
        admin(who, "delete projects")?;
        self.inner
            .store
            .remove_project(id)
            .await?
            .ok_or(Error::ProjectNotFound { id })
    }

    /// Renames an instance, changes its environment or moves it to another host (admins
    /// only; others get "not found" for instances they cannot see, "forbidden" for the rest).
    ///
    /// A move is refused while the instance has commands queued or running, and unless the
    /// new host's provider reads its machines (a status read through that host): the answer
    /// then carries what the provider said.
    pub async fn change_instance(
        &self,
        who: &Principal,
        id: u64,
        change: InstanceChange,
    ) -> Result<InstanceView> {
        let mut record = self.record(who, id).await?;
        admin(who, "change instances")?;
        if let Some(name) = change.name {
            validate::instance_name(&name)?;
            record.spec.name = name;
        }
        if let Some(environment) = change.environment {
            validate::free_text("environment", &environment, 256)?;
            record.spec.environment = environment;
        }
        let moving = change.host.filter(|host| *host != record.host_id);
        if let Some(host_id) = moving {
            let host = self
                .inner
                .store
                .hosts()
                .await?
                .into_iter()
                .find(|h| h.id == host_id)
                .ok_or(Error::HostNotFound { id: host_id })?;
            self.inner.scheduler.close_idle(id)?;
            let instance = self.instance_of(record.clone(), host);
            let read = {
                let _slot = self.inner.slots.acquire_read().await;
                self.inner.provider.status(&instance).await
            };
            if let Err(error) = read {
                self.inner.scheduler.reopen(id);
                return Err(Error::Conflict {
                    message: format!(
                        "host {host_id} cannot run instance {id}: reading its machines there failed: {error}"
                    ),
                });
            }
            record.host_id = host_id;
        }
        let (name, host) = (record.spec.name.clone(), record.host_id);
        let stored = self.inner.store.update_instance(record).await;
        if moving.is_some() {
            self.inner.status.remove(id);
            self.inner.scheduler.reopen(id);
        }
        if !stored? {
            return Err(Error::InstanceNotFound { id });
        }
        self.instance_event(id, host, crate::EventKind::InstanceUpdated { name });
        tracing::info!(instance = id, principal = %who.name, "instance changed");
        self.instance(who, id, None).await
    }
}

/// `Ok` for admins, else `Forbidden` naming what was asked.
fn admin(who: &Principal, what: &str) -> Result<()> {
    if who.admin {
        Ok(())
    } else {
        Err(Error::Forbidden {
            action: what.into(),
        })
    }
}
