//! Reading the configuration again while serving: a [`Reloader`] (the server's, which knows
//! its config file) applies what can change live, asked by an admin (`POST /api/reload`) or
//! by a signal. Running commands are never touched.

use std::sync::Arc;

use serde::Serialize;

use super::Jeto;
use crate::access::{AccessPolicy, Principal};
use crate::{Error, Result};

/// Reads a configuration again and applies what can change live to a [`Jeto`].
#[async_trait::async_trait]
pub trait Reloader: Send + Sync + std::fmt::Debug {
    /// Reads the configuration again and applies it to `jeto`: what changed, and what needs a
    /// restart; or why not (then the running configuration stays, wholly).
    async fn reload(&self, jeto: &Jeto) -> std::result::Result<ReloadReport, String>;
}

/// What a reload did.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ReloadReport {
    /// What changed and is in effect from the next request on (`tokens`, `hosts`, ...).
    pub applied: Vec<String>,
    /// Settings that changed in the file but take effect only at the next start.
    pub needs_restart: Vec<String>,
}

impl ReloadReport {
    /// A report of these changes.
    pub fn new(applied: Vec<String>, needs_restart: Vec<String>) -> Self {
        ReloadReport {
            applied,
            needs_restart,
        }
    }
}

impl Jeto {
    /// Replaces who may do what (config tokens); from the next request on.
    pub fn set_policy(&self, policy: Arc<dyn AccessPolicy>) {
        *self.inner.policy.write().unwrap_or_else(|e| e.into_inner()) = policy;
    }

    /// The access policy in use.
    pub(crate) fn policy(&self) -> Arc<dyn AccessPolicy> {
        self.inner
            .policy
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the configuration again (admins only): [`Error::NotSupported`] without a
    /// [`Reloader`], [`Error::InvalidRequest`] naming what is wrong when the new one is
    /// refused (the running one stays).
    pub async fn reload(&self, who: &Principal) -> Result<ReloadReport> {
        if !who.admin {
            return Err(Error::NotVisible);
        }
        let Some(reloader) = self.inner.reloader.clone() else {
            return Err(Error::NotSupported {
                what: "reloading the configuration (this server has no config file to read again)"
                    .into(),
            });
        };
        let report = reloader.reload(self).await.map_err(|why| {
            tracing::warn!(%why, "the configuration was not reloaded; the running one stays");
            Error::invalid(format!(
                "the configuration was not reloaded, the running one stays: {why}"
            ))
        })?;
        tracing::info!(principal = %who.name, applied = ?report.applied, needs_restart = ?report.needs_restart, "configuration reloaded");
        Ok(report)
    }
}
