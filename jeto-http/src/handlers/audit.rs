//! `/api/audit`: the audit log, for admins.

use http::{Response, StatusCode};
use jeto_core::access::Principal;
use jeto_core::audit::AuditEntry;
use jeto_core::Jeto;

use crate::answers::{AuditPage, ErrorBody};
use crate::{response, ApiBody, ApiError, Query};

type Answer = Result<Response<ApiBody>, ApiError>;

/// Entries per page when `limit` is not given, and the most one page holds.
const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 1000;

/// `GET /api/audit[?limit=N&before=ID]`: newest first; a key that is not admin gets 404.
#[utoipa::path(operation_id = "listAudit", get, path = "/api/audit", tag = "audit",
    summary = "The audit log, newest first (admin only; 404 for other keys)",
    params(
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 1000, description = "entries per page (default 100, at most 1000)"),
        ("before" = Option<u64>, Query, description = "only entries with a smaller id (the `next_before` of the previous page)"),
    ),
    responses(
        (status = 200, description = "One page of entries", body = AuditPage),
        (status = 404, description = "The key is not admin (there is nothing here for it)", body = ErrorBody),
    ))]
pub async fn list(jeto: &Jeto, who: &Principal, query: &Query) -> Answer {
    let limit = query.number("limit")?.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let entries: Vec<AuditEntry> = jeto
        .audit_page(who, query.number("before")?, limit as usize)
        .await
        .map_err(|error| match error {
            jeto_core::Error::NotVisible => ApiError::no_route("/api/audit"),
            other => other.into(),
        })?;
    let next_before = (entries.len() as u64 == limit)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    Ok(response::json(
        StatusCode::OK,
        &AuditPage {
            entries,
            next_before,
        },
    ))
}
