//! Quotas: how much a user, a team or a project may hold, and how much it holds.

use serde::{Deserialize, Serialize};

/// Limits of a user, a team or a project; absent ones do not bound.
///
/// ```
/// let mut quota = jeto_core::Quota::default();
/// quota.instances = Some(5);
/// assert!(!quota.is_empty());
/// ```
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Quota {
    /// Instances registered (for a user: made by their keys or sign-ins; for a team: by its
    /// members; for a project: made from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<u32>,
    /// Machines running on those instances, as last read, and machines commands queued or
    /// running there would start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<u32>,
    /// Commands queued (not started yet) on those instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued: Option<u32>,
}

impl Quota {
    /// Whether it bounds nothing.
    pub fn is_empty(&self) -> bool {
        self.instances.is_none() && self.running.is_none() && self.queued.is_none()
    }

    /// The limit of `resource`.
    pub fn limit(&self, resource: QuotaResource) -> Option<u32> {
        match resource {
            QuotaResource::Instances => self.instances,
            QuotaResource::Running => self.running,
            QuotaResource::Queued => self.queued,
        }
    }
}

/// What a quota bounds.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaResource {
    /// Instances registered.
    Instances,
    /// Machines running.
    Running,
    /// Commands queued.
    Queued,
}

impl QuotaResource {
    /// Its wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaResource::Instances => "instances",
            QuotaResource::Running => "running",
            QuotaResource::Queued => "queued",
        }
    }
}

/// One resource's limit and usage.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Usage {
    /// The limit (`null`: none).
    pub limit: Option<u32>,
    /// What is used now.
    pub usage: u32,
}

/// A user's, team's or project's usage of each resource, with its limits
/// (`GET /api/{users,teams,projects}/{id}/usage`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct QuotaUsage {
    /// Instances registered.
    pub instances: Usage,
    /// Machines running.
    pub running: Usage,
    /// Commands queued.
    pub queued: Usage,
}
