//! `/api/projects` and `/api/projects/{id}`: admin-defined sources tenants create from.

use http::{Response, StatusCode};
use jeto_core::access::Principal;
use jeto_core::{Jeto, Project};

use super::IdPath;
use crate::answers::ErrorBody;
use crate::{response, ApiBody, ApiError};

type Answer = Result<Response<ApiBody>, ApiError>;

/// `GET /api/projects`: the projects the key may create instances from.
#[utoipa::path(operation_id = "listProjects", get, path = "/api/projects", tag = "projects",
    summary = "The projects this key may create instances from (all, for admins)",
    responses((status = 200, description = "The projects", body = Vec<Project>)))]
pub async fn list(jeto: &Jeto, who: &Principal) -> Answer {
    Ok(response::json(StatusCode::OK, &jeto.projects(who).await?))
}

/// `GET /api/projects/{id}`
#[utoipa::path(operation_id = "getProject", get, path = "/api/projects/{id}", tag = "projects",
    summary = "One project", params(IdPath),
    responses((status = 200, description = "The project", body = Project)))]
pub async fn get(jeto: &Jeto, who: &Principal, id: u64) -> Answer {
    Ok(response::json(
        StatusCode::OK,
        &jeto.project(who, id).await?,
    ))
}

/// `POST /api/projects` (admin only): 201 with the project.
#[utoipa::path(operation_id = "createProject", post, path = "/api/projects", tag = "projects",
    summary = "Define a project (admin only)", request_body = Project,
    responses(
        (status = 201, description = "Created", body = Project,
            headers(("Location" = String, description = "the project's URL"))),
        (status = 403, description = "Only admin keys define projects", body = ErrorBody),
        (status = 404, description = "A host named in `hosts` does not exist", body = ErrorBody),
    ))]
pub async fn create(jeto: &Jeto, who: &Principal, body: Project) -> Answer {
    if body.id != 0 {
        return Err(ApiError::bad_request(
            "id is assigned by the server: leave it out of a new project",
        ));
    }
    let project = jeto.create_project(who, body).await?;
    Ok(response::created(
        StatusCode::CREATED,
        &format!("/api/projects/{}", project.id),
        &project,
    ))
}

/// `PUT /api/projects/{id}` (admin only): the project replaced.
#[utoipa::path(operation_id = "updateProject", put, path = "/api/projects/{id}", tag = "projects",
    summary = "Replace a project (admin only)", params(IdPath), request_body = Project,
    responses(
        (status = 200, description = "The project as stored", body = Project),
        (status = 400, description = "The body's id is not the path's, or the project is invalid", body = ErrorBody),
        (status = 403, description = "Only admin keys change projects", body = ErrorBody),
        (status = 404, description = "No such project, or a host named in `hosts` does not exist", body = ErrorBody),
    ))]
pub async fn update(jeto: &Jeto, who: &Principal, id: u64, body: Project) -> Answer {
    Ok(response::json(
        StatusCode::OK,
        &jeto.update_project(who, id, body).await?,
    ))
}

/// `DELETE /api/projects/{id}` (admin only): the project removed; instances made from it
/// stay.
#[utoipa::path(operation_id = "deleteProject", delete, path = "/api/projects/{id}", tag = "projects",
    summary = "Remove a project (admin only); instances made from it stay", params(IdPath),
    responses(
        (status = 200, description = "The project removed", body = Project),
        (status = 403, description = "Only admin keys delete projects", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
    ))]
pub async fn delete(jeto: &Jeto, who: &Principal, id: u64) -> Answer {
    Ok(response::json(
        StatusCode::OK,
        &jeto.delete_project(who, id).await?,
    ))
}
