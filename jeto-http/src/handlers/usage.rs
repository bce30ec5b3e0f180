//! `/api/{users,teams,projects}/{id}/usage`: quotas with what is used of them.

use http::{Response, StatusCode};
use jeto_core::access::Principal;
use jeto_core::{Jeto, QuotaUsage};

use super::IdPath;
use crate::{response, ApiBody, ApiError};

type Answer = Result<Response<ApiBody>, ApiError>;

/// `GET /api/users/{id}/usage`
#[utoipa::path(operation_id = "userUsage", get, path = "/api/users/{id}/usage", tag = "people",
    summary = "A user's quota and usage: `{limit, usage}` of instances, running machines, queued commands (admins, and the user)",
    params(IdPath),
    responses((status = 200, description = "Limits and usage", body = QuotaUsage)))]
pub async fn user(jeto: &Jeto, who: &Principal, id: u64) -> Answer {
    Ok(response::json(
        StatusCode::OK,
        &jeto.user_usage(who, id).await?,
    ))
}

/// `GET /api/teams/{id}/usage`
#[utoipa::path(operation_id = "teamUsage", get, path = "/api/teams/{id}/usage", tag = "people",
    summary = "A team's quota and usage, its members' instances together (admins, and its members)",
    params(IdPath),
    responses((status = 200, description = "Limits and usage", body = QuotaUsage)))]
pub async fn team(jeto: &Jeto, who: &Principal, id: u64) -> Answer {
    Ok(response::json(
        StatusCode::OK,
        &jeto.team_usage(who, id).await?,
    ))
}

/// `GET /api/projects/{id}/usage`
#[utoipa::path(operation_id = "projectUsage", get, path = "/api/projects/{id}/usage", tag = "projects",
    summary = "A project's quota and usage, the instances made from it together (admins, and keys that may create from it)",
    params(IdPath),
    responses((status = 200, description = "Limits and usage", body = QuotaUsage)))]
pub async fn project(jeto: &Jeto, who: &Principal, id: u64) -> Answer {
    Ok(response::json(
        StatusCode::OK,
        &jeto.project_usage(who, id).await?,
    ))
}
