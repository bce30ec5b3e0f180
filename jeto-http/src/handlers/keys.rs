//! `/api/keys`: the keys users make for themselves.

use http::{Response, StatusCode};
use jeto_core::access::people::ApiKey;
use jeto_core::access::Principal;
use jeto_core::service::NewKey;
use jeto_core::Jeto;
use serde::Serialize;

use super::IdPath;
use crate::answers::ErrorBody;
use crate::{response, ApiBody, ApiError};

type Answer = Result<Response<ApiBody>, ApiError>;

/// A key just made: what is kept of it, and the key itself, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MadeKey {
    /// The key: send it as `X-JETO-KEY` or `Authorization: Bearer`. Never shown again.
    pub key: String,
    /// What the server keeps (its hash is never shown).
    #[serde(flatten)]
    pub stored: ApiKey,
}

/// `GET /api/keys`: the caller's keys (every user's for admins).
#[utoipa::path(operation_id = "listKeys", get, path = "/api/keys", tag = "people",
    summary = "This user's keys (every user's for admin keys); never the keys themselves",
    responses((status = 200, description = "The keys", body = Vec<ApiKey>)))]
pub async fn list(jeto: &Jeto, who: &Principal) -> Answer {
    Ok(response::json(StatusCode::OK, &jeto.keys(who).await?))
}

/// `POST /api/keys`: 201 with the new key, shown once.
#[utoipa::path(operation_id = "createKey", post, path = "/api/keys", tag = "people",
    summary = "Make a key for this user (admins: for any user); the key is in this answer only",
    request_body = NewKey,
    responses(
        (status = 201, description = "Made", body = MadeKey,
            headers(("Location" = String, description = "the key's URL (to revoke it)"))),
        (status = 400, description = "A bad name, an expiry in the past, or a config token naming no user", body = ErrorBody),
        (status = 403, description = "A key for another user, asked by a key that is not admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ))]
pub async fn create(jeto: &Jeto, who: &Principal, body: NewKey) -> Answer {
    let (stored, key) = jeto.create_key(who, body).await?;
    Ok(response::created(
        StatusCode::CREATED,
        &format!("/api/keys/{}", stored.id),
        &MadeKey { key, stored },
    ))
}

/// `DELETE /api/keys/{id}`: the key revoked.
#[utoipa::path(operation_id = "revokeKey", delete, path = "/api/keys/{id}", tag = "people",
    summary = "Revoke a key of this user (admins: any key); refused from its next request",
    params(IdPath),
    responses(
        (status = 200, description = "The key revoked", body = ApiKey),
        (status = 404, description = "No such key among those this key may see", body = ErrorBody),
    ))]
pub async fn revoke(jeto: &Jeto, who: &Principal, id: u64) -> Answer {
    Ok(response::json(
        StatusCode::OK,
        &jeto.revoke_key(who, id).await?,
    ))
}
