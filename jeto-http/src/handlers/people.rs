//! `/api/users` and `/api/teams`: the people of the server (admins only; to anyone else they
//! do not exist).

use http::{Response, StatusCode};
use jeto_core::access::people::{Team, User};
use jeto_core::access::Principal;
use jeto_core::Jeto;

use super::IdPath;
use crate::answers::ErrorBody;
use crate::{response, ApiBody, ApiError};

type Answer = Result<Response<ApiBody>, ApiError>;

/// `GET /api/users` (admin only).
#[utoipa::path(operation_id = "listUsers", get, path = "/api/users", tag = "people",
    summary = "Every user (admin only; 404 for other keys)",
    responses(
        (status = 200, description = "The users", body = Vec<User>),
        (status = 404, description = "Not an admin key: there is no such thing", body = ErrorBody),
    ))]
pub async fn list_users(jeto: &Jeto, who: &Principal) -> Answer {
    Ok(response::json(StatusCode::OK, &jeto.users(who).await?))
}

/// `POST /api/users` (admin only): 201 with the user.
#[utoipa::path(operation_id = "createUser", post, path = "/api/users", tag = "people",
    summary = "Add a user (admin only)", request_body = User,
    responses(
        (status = 201, description = "Added", body = User,
            headers(("Location" = String, description = "the user's URL"))),
        (status = 404, description = "Not an admin key", body = ErrorBody),
        (status = 409, description = "A user of that name exists", body = ErrorBody),
    ))]
pub async fn create_user(jeto: &Jeto, who: &Principal, body: User) -> Answer {
    let user = jeto.create_user(who, body).await?;
    Ok(response::created(
        StatusCode::CREATED,
        &format!("/api/users/{}", user.id),
        &user,
    ))
}

/// `GET /api/users/{id}` (admin only).
#[utoipa::path(operation_id = "getUser", get, path = "/api/users/{id}", tag = "people",
    summary = "One user (admin only)", params(IdPath),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 404, description = "No such user, or not an admin key", body = ErrorBody),
    ))]
pub async fn get_user(jeto: &Jeto, who: &Principal, id: u64) -> Answer {
    Ok(response::json(StatusCode::OK, &jeto.user(who, id).await?))
}

/// `PUT /api/users/{id}` (admin only): the user replaced; their keys follow at once.
#[utoipa::path(operation_id = "updateUser", put, path = "/api/users/{id}", tag = "people",
    summary = "Replace a user (admin only); their keys have the new grants from their next request",
    params(IdPath), request_body = User,
    responses(
        (status = 200, description = "The user as stored", body = User),
        (status = 404, description = "No such user, or not an admin key", body = ErrorBody),
        (status = 409, description = "Another user has that name", body = ErrorBody),
    ))]
pub async fn update_user(jeto: &Jeto, who: &Principal, id: u64, body: User) -> Answer {
    Ok(response::json(
        StatusCode::OK,
        &jeto.update_user(who, id, body).await?,
    ))
}

/// `DELETE /api/users/{id}` (admin only): the user removed, with their keys.
#[utoipa::path(operation_id = "deleteUser", delete, path = "/api/users/{id}", tag = "people",
    summary = "Remove a user with their keys and their places in teams (admin only)",
    params(IdPath),
    responses(
        (status = 200, description = "The user removed", body = User),
        (status = 404, description = "No such user, or not an admin key", body = ErrorBody),
    ))]
pub async fn delete_user(jeto: &Jeto, who: &Principal, id: u64) -> Answer {
    Ok(response::json(
        StatusCode::OK,
        &jeto.delete_user(who, id).await?,
    ))
}

/// `GET /api/teams` (admin only).
#[utoipa::path(operation_id = "listTeams", get, path = "/api/teams", tag = "people",
    summary = "Every team (admin only; 404 for other keys)",
    responses(
        (status = 200, description = "The teams", body = Vec<Team>),
        (status = 404, description = "Not an admin key: there is no such thing", body = ErrorBody),
    ))]
pub async fn list_teams(jeto: &Jeto, who: &Principal) -> Answer {
    Ok(response::json(StatusCode::OK, &jeto.teams(who).await?))
}

/// `POST /api/teams` (admin only): 201 with the team.
#[utoipa::path(operation_id = "createTeam", post, path = "/api/teams", tag = "people",
    summary = "Add a team (admin only)", request_body = Team,
    responses(
        (status = 201, description = "Added", body = Team,
            headers(("Location" = String, description = "the team's URL"))),
        (status = 404, description = "Not an admin key", body = ErrorBody),
        (status = 409, description = "A team of that name exists", body = ErrorBody),
    ))]
pub async fn create_team(jeto: &Jeto, who: &Principal, body: Team) -> Answer {
    let team = jeto.create_team(who, body).await?;
    Ok(response::created(
        StatusCode::CREATED,
        &format!("/api/teams/{}", team.id),
        &team,
    ))
}

/// `GET /api/teams/{id}` (admin only).
#[utoipa::path(operation_id = "getTeam", get, path = "/api/teams/{id}", tag = "people",
    summary = "One team (admin only)", params(IdPath),
    responses(
        (status = 200, description = "The team", body = Team),
        (status = 404, description = "No such team, or not an admin key", body = ErrorBody),
    ))]
pub async fn get_team(jeto: &Jeto, who: &Principal, id: u64) -> Answer {
    Ok(response::json(StatusCode::OK, &jeto.team(who, id).await?))
}

/// `PUT /api/teams/{id}` (admin only): members and grants change from the next request.
#[utoipa::path(operation_id = "updateTeam", put, path = "/api/teams/{id}", tag = "people",
    summary = "Replace a team (admin only); members and grants apply from the next request",
    params(IdPath), request_body = Team,
    responses(
        (status = 200, description = "The team as stored", body = Team),
        (status = 404, description = "No such team, or not an admin key", body = ErrorBody),
        (status = 409, description = "Another team has that name", body = ErrorBody),
    ))]
pub async fn update_team(jeto: &Jeto, who: &Principal, id: u64, body: Team) -> Answer {
    Ok(response::json(
        StatusCode::OK,
        &jeto.update_team(who, id, body).await?,
    ))
}

/// `DELETE /api/teams/{id}` (admin only).
#[utoipa::path(operation_id = "deleteTeam", delete, path = "/api/teams/{id}", tag = "people",
    summary = "Remove a team (admin only)", params(IdPath),
    responses(
        (status = 200, description = "The team removed", body = Team),
        (status = 404, description = "No such team, or not an admin key", body = ErrorBody),
    ))]
pub async fn delete_team(jeto: &Jeto, who: &Principal, id: u64) -> Answer {
    Ok(response::json(
        StatusCode::OK,
        &jeto.delete_team(who, id).await?,
    ))
}
