//! `/api/hosts` and `/api/hosts/{id}`.

use http::{Response, StatusCode};
use jeto_core::access::Principal;
use jeto_core::store::NewHost;
use jeto_core::{HostParams, Jeto};
use serde::Deserialize;

use crate::{response, ApiBody, ApiError};

type Answer = Result<Response<ApiBody>, ApiError>;

/// `GET /api/hosts`: the hosts the key may use (params redacted for non-admins).
pub fn list(jeto: &Jeto, who: &Principal) -> Answer {
    Ok(response::json(StatusCode::OK, &jeto.hosts(who)?))
}

/// `GET /api/hosts/{id}`
pub fn get(jeto: &Jeto, who: &Principal, id: u64) -> Answer {
    Ok(response::json(StatusCode::OK, &jeto.host(who, id)?))
}

/// The body of `POST /api/hosts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateHost {
    /// A name for people.
    pub name: String,
    /// The Vagrant provider.
    pub provider: String,
    /// `KEY=VALUE` settings, as an object or the original's text lines.
    #[serde(default)]
    pub params: HostParams,
}

/// `POST /api/hosts` (admin only): 201 with the host.
pub fn create(jeto: &Jeto, who: &Principal, body: CreateHost) -> Answer {
    let host = jeto.create_host(
        who,
        NewHost {
            id: None,
            name: body.name,
            provider: body.provider,
            params: body.params,
        },
    )?;
    Ok(response::created(
        StatusCode::CREATED,
        &format!("/api/hosts/{}", host.id),
        &host,
    ))
}
