//! `/api/hosts` and `/api/hosts/{id}`.

use http::{Response, StatusCode};
use jeto_core::access::Principal;
use jeto_core::{Host, Jeto};

use super::IdPath;
use crate::answers::ErrorBody;
use crate::{response, ApiBody, ApiError};

type Answer = Result<Response<ApiBody>, ApiError>;

/// `GET /api/hosts`: the hosts the key may use (params redacted for non-admins).
#[utoipa::path(operation_id = "listHosts", get, path = "/api/hosts", tag = "hosts",
    summary = "The hosts this key may use (params redacted for keys that are not admin)",
    responses((status = 200, description = "The hosts", body = Vec<Host>)))]
pub async fn list(jeto: &Jeto, who: &Principal) -> Answer {
    Ok(response::json(StatusCode::OK, &jeto.hosts(who).await?))
}

/// `GET /api/hosts/{id}`
#[utoipa::path(operation_id = "getHost", get, path = "/api/hosts/{id}", tag = "hosts", summary = "One host",
    params(IdPath),
    responses((status = 200, description = "The host", body = Host)))]
pub async fn get(jeto: &Jeto, who: &Principal, id: u64) -> Answer {
    Ok(response::json(StatusCode::OK, &jeto.host(who, id).await?))
}

/// `POST /api/hosts` (admin only): 201 with the host.
#[utoipa::path(operation_id = "createHost", post, path = "/api/hosts", tag = "hosts", summary = "Create a host (admin only)",
    request_body = Host,
    responses(
        (status = 201, description = "Created", body = Host,
            headers(("Location" = String, description = "the host's URL"))),
        (status = 403, description = "Only admin keys create hosts", body = ErrorBody),
    ))]
pub async fn create(jeto: &Jeto, who: &Principal, body: Host) -> Answer {
    if body.id != 0 {
        return Err(ApiError::bad_request(
            "id is assigned by the server: leave it out of a new host",
        ));
    }
    let host = jeto.create_host(who, body).await?;
    Ok(response::created(
        StatusCode::CREATED,
        &format!("/api/hosts/{}", host.id),
        &host,
    ))
}
