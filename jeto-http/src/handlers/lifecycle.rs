//! `/api/instances/{id}/expiry` and `/api/instances/{id}/keep-up`: machines that stop on
//! their own, and keeping them up.

use http::{Response, StatusCode};
use jeto_core::access::Principal;
use jeto_core::service::ExpiryChange;
use jeto_core::{Expiry, Jeto};

use super::IdPath;
use crate::answers::ErrorBody;
use crate::{response, ApiBody, ApiError};

type Answer = Result<Response<ApiBody>, ApiError>;

/// `PUT /api/instances/{id}/expiry`: set or extend.
#[utoipa::path(operation_id = "setExpiry", put, path = "/api/instances/{id}/expiry", tag = "instances",
    summary = "Set or extend when the instance expires and what happens then (keys granted start; destroy for a destroying expiry); at most max_expiry_secs from now unless admin",
    params(IdPath), request_body = ExpiryChange,
    responses(
        (status = 200, description = "The expiry as set", body = Expiry),
        (status = 403, description = "The key may not start this instance (or destroy it, for a destroying expiry)", body = ErrorBody)))]
pub async fn set(jeto: &Jeto, who: &Principal, id: u64, body: ExpiryChange) -> Answer {
    Ok(response::json(
        StatusCode::OK,
        &jeto.set_expiry(who, id, body).await?,
    ))
}

/// `DELETE /api/instances/{id}/expiry`: it no longer expires (admins).
#[utoipa::path(operation_id = "clearExpiry", delete, path = "/api/instances/{id}/expiry", tag = "instances",
    summary = "Remove the instance's expiry (admins)", params(IdPath),
    responses(
        (status = 200, description = "It no longer expires: `{\"expiry\": null}`"),
        (status = 403, description = "Only admins remove an expiry (others extend it)", body = ErrorBody)))]
pub async fn clear(jeto: &Jeto, who: &Principal, id: u64) -> Answer {
    jeto.clear_expiry(who, id).await?;
    Ok(response::json(
        StatusCode::OK,
        &serde_json::json!({"expiry": null}),
    ))
}

/// `POST /api/instances/{id}/keep-up`: counts as activity for idle stop.
#[utoipa::path(operation_id = "keepUp", post, path = "/api/instances/{id}/keep-up", tag = "instances",
    summary = "Keep the instance up: counts as activity for idle stop, as a command would (keys granted start)",
    params(IdPath),
    responses(
        (status = 200, description = "Kept up: `{\"kept_up\": true}`"),
        (status = 403, description = "The key may not start this instance", body = ErrorBody)))]
pub async fn keep_up(jeto: &Jeto, who: &Principal, id: u64) -> Answer {
    jeto.keep_up(who, id).await?;
    Ok(response::json(
        StatusCode::OK,
        &serde_json::json!({"kept_up": true}),
    ))
}
