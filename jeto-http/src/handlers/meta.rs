//! `/api/health`.

use http::{Response, StatusCode};

use jeto_core::access::Principal;
use jeto_core::Jeto;

use crate::answers::Health;
use crate::{response, ApiBody};

/// `GET /api/health`: liveness, no key needed; with an admin key, Vagrant's version and
/// plugins too (a failure to ask it is reported, and the answer is still 200).
#[utoipa::path(operation_id = "health", get, path = "/api/health", tag = "meta",
    summary = "Liveness (no key needed); with an admin key, the provider's version and plugins",
    security(()),
    responses((status = 200, description = "The server answers", body = Health)))]
pub async fn health(jeto: &Jeto, who: Option<&Principal>) -> Response<ApiBody> {
    let mut health = Health {
        status: "ok",
        provider: None,
        provider_error: None,
    };
    if let Some(who) = who.filter(|w| w.admin) {
        match jeto.about(who).await {
            Ok(tool) => health.provider = Some(tool),
            Err(error) => health.provider_error = Some(error.to_string()),
        }
    }
    response::json(StatusCode::OK, &health)
}

/// `GET /api/me`: who the key is and what it is granted, so a client (the dashboard) offers
/// only what the key may do.
#[utoipa::path(operation_id = "me", get, path = "/api/me", tag = "meta",
    summary = "The key's name and grants (hosts, instances, projects, actions; `null` actions: all)",
    responses((status = 200, description = "The caller", body = Principal)))]
pub fn me(who: &Principal) -> Response<ApiBody> {
    response::json(StatusCode::OK, who)
}
