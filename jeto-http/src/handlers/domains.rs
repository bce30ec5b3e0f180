//! `/api/domains`: names at which the proxy serves a machine's port (admins, and keys granted
//! `start` on the instance for its domains).

use http::{Response, StatusCode};
use jeto_core::access::Principal;
use jeto_core::{Domain, Jeto};

use super::IdPath;
use crate::answers::ErrorBody;
use crate::{response, ApiBody, ApiError};

type Answer = Result<Response<ApiBody>, ApiError>;

/// A chain and key given are ones the proxy can serve (parsed as it will).
fn check_tls(domain: &Domain) -> Result<(), ApiError> {
    match &domain.tls {
        Some(tls) if !tls.private_key_pem.is_empty() => {
            crate::proxy::check_certificate(&tls.certificate_pem, &tls.private_key_pem)
                .map_err(|e| ApiError::bad_request(format!("tls: {e}")))
        }
        _ => Ok(()),
    }
}

/// `GET /api/domains`
#[utoipa::path(operation_id = "listDomains", get, path = "/api/domains", tag = "domains",
    summary = "The domains of the instances the key sees; passwords and private keys are never shown",
    responses((status = 200, description = "The domains", body = Vec<Domain>)))]
pub async fn list(jeto: &Jeto, who: &Principal) -> Answer {
    Ok(response::json(StatusCode::OK, &jeto.domains(who).await?))
}

/// `POST /api/domains`
#[utoipa::path(operation_id = "createDomain", post, path = "/api/domains", tag = "domains",
    summary = "Serve a machine's port at a name: the instance must be one the key sees and may start; the address is always the one Jeto read for the machine",
    request_body = Domain,
    responses(
        (status = 201, description = "Made", body = Domain,
            headers(("Location" = String, description = "the domain's URL"))),
        (status = 403, description = "The key may not start the instance", body = ErrorBody),
        (status = 404, description = "No such instance (or not one the key sees)", body = ErrorBody),
        (status = 409, description = "A name is taken by another domain, or this server keeps no domains", body = ErrorBody)))]
pub async fn create(jeto: &Jeto, who: &Principal, body: Domain) -> Answer {
    if body.id != 0 {
        return Err(ApiError::bad_request(
            "id is assigned by the server: leave it out of a new domain",
        ));
    }
    check_tls(&body)?;
    let domain = jeto.create_domain(who, body).await?;
    Ok(response::created(
        StatusCode::CREATED,
        &format!("/api/domains/{}", domain.id),
        &domain,
    ))
}

/// `GET /api/domains/{id}`
#[utoipa::path(operation_id = "getDomain", get, path = "/api/domains/{id}", tag = "domains",
    summary = "One domain", params(IdPath),
    responses((status = 200, description = "The domain", body = Domain)))]
pub async fn get(jeto: &Jeto, who: &Principal, id: u64) -> Answer {
    Ok(response::json(StatusCode::OK, &jeto.domain(who, id).await?))
}

/// `PUT /api/domains/{id}`
#[utoipa::path(operation_id = "updateDomain", put, path = "/api/domains/{id}", tag = "domains",
    summary = "Replace a domain: a login without `password` keeps its password, `tls` without `private_key_pem` keeps its key",
    params(IdPath), request_body = Domain,
    responses(
        (status = 200, description = "The domain as stored", body = Domain),
        (status = 403, description = "The key may not start the instance", body = ErrorBody),
        (status = 409, description = "A name is taken by another domain", body = ErrorBody)))]
pub async fn update(jeto: &Jeto, who: &Principal, id: u64, body: Domain) -> Answer {
    if body.id != 0 && body.id != id {
        return Err(ApiError::bad_request(format!(
            "the body's id {} is not the path's {id}",
            body.id
        )));
    }
    check_tls(&body)?;
    Ok(response::json(
        StatusCode::OK,
        &jeto.update_domain(who, id, body).await?,
    ))
}

/// `DELETE /api/domains/{id}`
#[utoipa::path(operation_id = "deleteDomain", delete, path = "/api/domains/{id}", tag = "domains",
    summary = "Stop serving a domain", params(IdPath),
    responses(
        (status = 200, description = "The domain removed", body = Domain),
        (status = 403, description = "The key may not start the instance", body = ErrorBody)))]
pub async fn delete(jeto: &Jeto, who: &Principal, id: u64) -> Answer {
    Ok(response::json(
        StatusCode::OK,
        &jeto.remove_domain(who, id).await?,
    ))
}
