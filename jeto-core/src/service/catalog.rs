//! Hosts, projects and the audit log: what admins define and read.

use super::Jeto;
use crate::access::audit::{AnonymousTally, AuditEntry};
use crate::access::Principal;
use crate::metrics::Metrics;
use crate::{Error, Host, Project, Result};

impl Jeto {
    /// The hosts `who` may use (params redacted for non-admins).
    pub async fn hosts(&self, who: &Principal) -> Result<Vec<Host>> {
        Ok(self
            .inner
            .store
            .hosts()
            .await?
            .into_iter()
            .filter(|h| who.can_use_host(h.id))
            .map(|h| if who.admin { h } else { h.redacted() })
            .collect())
    }

    /// One host.
    pub async fn host(&self, who: &Principal, id: u64) -> Result<Host> {
        self.hosts(who)
            .await?
            .into_iter()
            .find(|h| h.id == id)
            .ok_or(Error::HostNotFound { id })
    }

    /// Creates (or, with an id, replaces) a host; admins only.
    pub async fn create_host(&self, who: &Principal, host: Host) -> Result<Host> {
        if !who.admin {
            return Err(Error::Forbidden {
                action: "create hosts".into(),
            });
        }
        host.validate()?;
        self.inner.store.put_host(host).await
    }

    /// Appends to the audit log, in the store (and to the trace log). A failure is logged.
    ///
    /// An entry without a principal (no valid key) is counted, not written: the counts of a
    /// window are written when it closes (see [`AnonymousTally`]), when the log is read, and
    /// at shutdown.
    pub async fn audit(&self, entry: AuditEntry) {
        let entries = if entry.principal.is_none() {
            self.lock_anonymous().add(&entry)
        } else {
            tracing::info!(principal = ?entry.principal, method = %entry.method, route = %entry.route, status = entry.status, outcome = %entry.outcome, "audit");
            vec![entry]
        };
        self.write_audit(entries).await;
    }

    /// Writes the counts of requests without a valid key gathered so far.
    pub(crate) async fn flush_anonymous_audit(&self) {
        let entries = self.lock_anonymous().take();
        self.write_audit(entries).await;
    }

    fn lock_anonymous(&self) -> std::sync::MutexGuard<'_, AnonymousTally> {
        self.inner
            .anonymous
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    async fn write_audit(&self, entries: Vec<AuditEntry>) {
        let keep = self.inner.config.audit_entries;
        for entry in entries {
            let append = self.inner.store.append_audit(entry, keep);
            let metrics = self.inner.events.metrics();
            if let Err(error) = Metrics::timed(metrics, "append_audit", append).await {
                tracing::error!(%error, "could not write the audit log");
            }
        }
    }

    /// Up to `limit` audit entries older than `before`, newest first; admins only (others
    /// are told there is no such thing).
    pub async fn audit_page(
        &self,
        who: &Principal,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>> {
        if !who.admin {
            return Err(Error::NotVisible);
        }
        self.flush_anonymous_audit().await;
        self.inner.store.audit(before, limit).await
    }

    /// The projects `who` may create instances from (all of them for admins).
    pub async fn projects(&self, who: &Principal) -> Result<Vec<Project>> {
        Ok(self
            .inner
            .store
            .projects()
            .await?
            .into_iter()
            .filter(|p| who.can_use_project(p.id))
            .collect())
    }

    /// One project `who` may use.
    pub async fn project(&self, who: &Principal, id: u64) -> Result<Project> {
        self.projects(who)
            .await?
            .into_iter()
            .find(|p| p.id == id)
            .ok_or(Error::ProjectNotFound { id })
    }

    /// Creates (or, with a non-zero id, replaces) a project; admins only.
    pub async fn create_project(&self, who: &Principal, project: Project) -> Result<Project> {
        if !who.admin {
            return Err(Error::Forbidden {
                action: "define projects".into(),
            });
        }
        project.validate()?;
        if let Some(hosts) = &project.hosts {
            let known = self.inner.store.hosts().await?;
            if let Some(missing) = hosts.iter().find(|id| !known.iter().any(|h| h.id == **id)) {
                return Err(Error::HostNotFound { id: *missing });
            }
        }
        self.inner.store.put_project(project).await
    }
}
