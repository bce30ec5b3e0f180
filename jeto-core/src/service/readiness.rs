//! Readiness: whether this server can take work now: its store, and each host (a host served
//! by workers on other boxes is ready while one of them takes actions).

use std::time::Duration;

use serde::Serialize;

use super::Jeto;
use crate::ProviderError;

/// How long a host's answer is waited for.
const ASK_WITHIN: Duration = Duration::from_secs(1);

/// The state of one part.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Works.
    Ok,
    /// Works in part (some hosts are down).
    Degraded,
    /// Does not work.
    Down,
}

/// One host's readiness.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HostReadiness {
    /// The host's id.
    pub id: u64,
    /// `ok` or `down`.
    pub status: Condition,
    /// Why it is down, or where it runs.
    pub detail: String,
}

/// Whether the server can take work (`GET /api/ready`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Readiness {
    /// `ok`; `degraded` when some host is down; `down` when the store is, or while the
    /// server drains before stopping.
    pub status: Condition,
    /// Stopping: it accepts no new commands.
    pub draining: bool,
    /// The store: `ok`, or why not.
    pub store: String,
    /// Each host (admins only; others get the status alone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosts: Option<Vec<HostReadiness>>,
}

impl Jeto {
    /// Whether the server can take work: the store answers, and each host can run actions
    /// (its workers, for hosts served over NATS). Hosts are listed for admins only.
    pub async fn readiness(&self, admin: bool) -> Readiness {
        let draining = self.is_draining();
        let hosts = match self.inner.store.hosts().await {
            Ok(hosts) => hosts,
            Err(error) => {
                return Readiness {
                    status: Condition::Down,
                    draining,
                    store: error.to_string(),
                    hosts: None,
                }
            }
        };
        let asks = hosts.iter().map(|host| async move {
            let answer = tokio::time::timeout(ASK_WITHIN, self.inner.provider.workers(host)).await;
            let (status, detail) = match answer {
                Err(_) => (
                    Condition::Down,
                    "its workers did not answer within 1 s".to_owned(),
                ),
                Ok(Err(ProviderError::NotSupported { .. })) => {
                    (Condition::Ok, "runs on this server's box".to_owned())
                }
                Ok(Err(error)) => (Condition::Down, error.to_string()),
                Ok(Ok(workers)) => {
                    let taking = workers.iter().filter(|w| w.online && !w.draining).count();
                    if taking > 0 {
                        (Condition::Ok, format!("{taking} worker(s) online"))
                    } else {
                        (Condition::Down, "no worker is online".to_owned())
                    }
                }
            };
            HostReadiness {
                id: host.id,
                status,
                detail,
            }
        });
        // Asked together: each is bounded, so this ends within ASK_WITHIN.
        let hosts = futures_util::future::join_all(asks).await;
        let status = if draining {
            Condition::Down
        } else if hosts.iter().any(|h| h.status != Condition::Ok) {
            Condition::Degraded
        } else {
            Condition::Ok
        };
        Readiness {
            status,
            draining,
            store: "ok".into(),
            hosts: admin.then_some(hosts),
        }
    }
}
