//! `/api/hosts` and `/api/hosts/{id}`.

use http::{Response, StatusCode};
use jeto_core::access::Principal;
use jeto_core::{BoxInfo, GlobalMachine, Host, HostWorker, Jeto};

use super::IdPath;
use crate::answers::ErrorBody;
use crate::{response, ApiBody, ApiError, Query};

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

/// `GET /api/hosts/{id}/boxes[?outdated=true]`: the boxes installed for the host.
#[utoipa::path(operation_id = "listBoxes", get, path = "/api/hosts/{id}/boxes", tag = "hosts",
    summary = "The boxes installed for a host; with outdated=true, whether newer versions exist",
    params(IdPath,
        ("outdated" = Option<bool>, Query, description = "ask each box's catalog for newer versions (slower)"),
    ),
    responses(
        (status = 200, description = "The boxes", body = Vec<BoxInfo>),
        (status = 409, description = "The provider has no boxes (`not_supported`)", body = ErrorBody),
        (status = 503, description = "Vagrant cannot be run", body = ErrorBody),
    ))]
pub async fn boxes(jeto: &Jeto, who: &Principal, id: u64, query: &Query) -> Answer {
    let outdated = query.flag("outdated")?;
    Ok(response::json(
        StatusCode::OK,
        &jeto.boxes(who, id, outdated).await?,
    ))
}

/// `GET /api/hosts/{id}/workers`: the worker processes serving the host from other boxes.
#[utoipa::path(operation_id = "listWorkers", get, path = "/api/hosts/{id}/workers", tag = "hosts",
    summary = "The workers (`jeto worker`) serving a host from other boxes, and whether each is online",
    params(IdPath),
    responses(
        (status = 200, description = "The workers heard from lately (none online: actions get 503)", body = Vec<HostWorker>),
        (status = 409, description = "The host runs on the server's own box (`not_supported`)", body = ErrorBody),
        (status = 503, description = "NATS cannot be reached", body = ErrorBody),
    ))]
pub async fn workers(jeto: &Jeto, who: &Principal, id: u64) -> Answer {
    Ok(response::json(
        StatusCode::OK,
        &jeto.host_workers(who, id).await?,
    ))
}

/// `GET /api/global-status` (admin only): every machine Vagrant knows, in any folder.
#[utoipa::path(operation_id = "globalStatus", get, path = "/api/global-status", tag = "hosts",
    summary = "Every machine Vagrant knows on this server, in any folder, stale entries pruned (admin only)",
    responses(
        (status = 200, description = "The machines", body = Vec<GlobalMachine>),
        (status = 403, description = "Only admin keys read the global status", body = ErrorBody),
        (status = 409, description = "The provider has no global status (`not_supported`)", body = ErrorBody),
        (status = 503, description = "Vagrant cannot be run", body = ErrorBody),
    ))]
pub async fn global_status(jeto: &Jeto, who: &Principal) -> Answer {
    Ok(response::json(
        StatusCode::OK,
        &jeto.global_status(who).await?,
    ))
}

/// `PUT /api/hosts/{id}` (admin only): the host replaced.
#[utoipa::path(operation_id = "updateHost", put, path = "/api/hosts/{id}", tag = "hosts",
    summary = "Replace a host (admin only); its instances use the new params and provider from their next command",
    params(IdPath), request_body = Host,
    responses(
        (status = 200, description = "The host as stored", body = Host),
        (status = 400, description = "The body's id is not the path's, or the host is invalid", body = ErrorBody),
        (status = 403, description = "Only admin keys change hosts", body = ErrorBody),
        (status = 404, description = "No such host", body = ErrorBody),
    ))]
pub async fn update(jeto: &Jeto, who: &Principal, id: u64, body: Host) -> Answer {
    Ok(response::json(
        StatusCode::OK,
        &jeto.update_host(who, id, body).await?,
    ))
}

/// `DELETE /api/hosts/{id}` (admin only): the host removed.
#[utoipa::path(operation_id = "deleteHost", delete, path = "/api/hosts/{id}", tag = "hosts",
    summary = "Remove a host (admin only); refused while instances run on it or projects name it",
    params(IdPath),
    responses(
        (status = 200, description = "The host removed", body = Host),
        (status = 403, description = "Only admin keys delete hosts", body = ErrorBody),
        (status = 404, description = "No such host", body = ErrorBody),
        (status = 409, description = "Instances run on it, or projects name it (the answer says which)", body = ErrorBody),
    ))]
pub async fn delete(jeto: &Jeto, who: &Principal, id: u64) -> Answer {
    Ok(response::json(
        StatusCode::OK,
        &jeto.delete_host(who, id).await?,
    ))
}
