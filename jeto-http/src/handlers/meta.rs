//! `/api/health`.

use http::{Response, StatusCode};

use crate::answers::Health;
use crate::{response, ApiBody};

/// `GET /api/health`: liveness, no key needed.
#[utoipa::path(operation_id = "health", get, path = "/api/health", tag = "meta", summary = "Liveness (no key needed)",
    security(()),
    responses((status = 200, description = "The server answers", body = Health)))]
pub fn health() -> Response<ApiBody> {
    response::json(StatusCode::OK, &Health { status: "ok" })
}
