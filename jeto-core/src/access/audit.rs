//! [`AuditEntry`]: who did what. Entries are kept in the [`Store`](crate::store::Store),
//! the newest [`DEFAULT_AUDIT_ENTRIES`] by default.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// How many audit entries are kept when the config does not say.
pub const DEFAULT_AUDIT_ENTRIES: usize = 100_000;
/// One audited request: a mutating request or a denial.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Increasing sequence number, never reused (also across restarts).
    #[serde(default)]
    pub id: u64,
    /// When it was answered.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// The token name that asked; `null` when no valid key was given.
    pub principal: Option<String>,
    /// The HTTP method (or the embedder's operation name).
    pub method: String,
    /// The path asked for.
    pub route: String,
    /// The instance concerned, when there is one.
    pub instance: Option<u64>,
    /// The HTTP status of the answer.
    pub status: u16,
    /// `ok`, or the error code of the answer.
    pub outcome: String,
}
