//! `/api/instances` and `/api/instances/{id}`.

use std::time::Duration;

use http::{Response, StatusCode};
use jeto_core::access::Principal;
use jeto_core::service::CreateInstance;
use jeto_core::InstanceView;
use jeto_core::{Action, Jeto};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{
    command_failure, command_location, wire_request, ActionOptions, CommandFailure, IdPath,
};
use crate::answers::{CommandAnswer, Deleted, ErrorBody};
use crate::{response, ApiBody, ApiError, ListCache, Query};

type Answer = Result<Response<ApiBody>, ApiError>;

/// `GET /api/instances[?refresh=true]`: served from the [`ListCache`] while nothing changed.
#[utoipa::path(operation_id = "listInstances", get, path = "/api/instances", tag = "instances",
    summary = "The instances this key may see, with their last known status",
    params(("refresh" = Option<bool>, Query, description = "read every status again (several at a time) before answering")),
    responses((status = 200, description = "The instances", body = Vec<InstanceView>)))]
pub async fn list(jeto: &Jeto, lists: &ListCache, who: &Principal, query: &Query) -> Answer {
    if query.flag("refresh")? {
        jeto.instances(who, true).await?;
    }
    Ok(response::json_bytes(
        StatusCode::OK,
        lists.get(jeto, who).await?,
    ))
}

/// `POST /api/instances`: 201 with the instance; with `async` for a git or archive source,
/// 202 with `{command, instance}` at once (the `sync` command clones or extracts).
#[utoipa::path(operation_id = "createInstance", post, path = "/api/instances", tag = "instances",
    summary = "Register an instance from a path, a git repository or an archive",
    request_body = CreateInstance,
    responses(
        (status = 201, description = "Created", body = InstanceView,
            headers(("Location" = String, description = "the instance's URL"))),
        (status = 202, description = "Accepted (async git or archive creation): the sync command that clones or extracts, and the instance",
            body = CommandAnswer, headers(("Location" = String, description = "the command's URL"))),
        (status = 403, description = "This key may not create instances (on this host)", body = ErrorBody),
        (status = 404, description = "No such host visible to this key", body = ErrorBody),
        (status = 409, description = "The folder already holds an instance", body = ErrorBody),
    ))]
pub async fn create(jeto: &Jeto, who: &Principal, request: CreateInstance) -> Answer {
    if request.run_async && request.path.is_none() {
        let (view, handle) = jeto.create_instance_async(who, request).await?;
        let command = handle.snapshot();
        let location = command_location(&command);
        let body = CommandAnswer {
            command,
            instance: Some(view),
        };
        return Ok(response::created(StatusCode::ACCEPTED, &location, &body));
    }
    let view = jeto.create_instance(who, request).await?;
    let location = format!("/api/instances/{}", view.instance.id);
    Ok(response::created(StatusCode::CREATED, &location, &view))
}

/// `GET /api/instances/{id}[?max_age=SECONDS]`
#[utoipa::path(operation_id = "getInstance", get, path = "/api/instances/{id}", tag = "instances",
    summary = "One instance with detailed status and jeto_infos",
    params(IdPath,
        ("max_age" = Option<u64>, Query, description = "oldest acceptable status in seconds (default from the config); 0 reads it now")),
    responses((status = 200, description = "The instance", body = InstanceView)))]
pub async fn get(jeto: &Jeto, who: &Principal, id: u64, query: &Query) -> Answer {
    let max_age = query.number("max_age")?.map(Duration::from_secs);
    let view = jeto.instance(who, id, max_age).await?;
    Ok(response::json(StatusCode::OK, &view))
}

/// The body of `POST /api/instances/{id}`, as in the original Jeto.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"state": "runScript", "machine": "www", "script": "status", "async": true}))]
pub struct StateRequest {
    /// start | stop | status | runScript | reload | rsync | provision | sync | suspend | resume |
    /// validate | snapshot_save | snapshot_restore | snapshot_delete (destroy: use DELETE)
    #[schema(value_type = Action)]
    pub state: String,
    /// The machine; optional except for runScript. Empty (as the original UI sends it) means
    /// all machines.
    #[serde(default)]
    #[schema(max_length = 128, pattern = "^([A-Za-z0-9_.][A-Za-z0-9_.-]*)?$")]
    pub machine: Option<String>,
    /// The script of `jeto.json`, for runScript.
    #[serde(default)]
    pub script: Option<String>,
    /// Answer at once with the queued command (202) instead of waiting (200).
    #[serde(default, rename = "async")]
    pub run_async: bool,
    /// For stop: power off at once (`vagrant halt --force`).
    #[serde(default)]
    pub force: bool,
    /// For start and reload: run the provisioners (`--provision`) or not (`--no-provision`).
    #[serde(default)]
    pub provision: Option<bool>,
    /// For start, reload and provision: run only these provisioners (`--provision-with`).
    #[serde(default)]
    #[schema(max_items = 16)]
    pub provision_with: Vec<String>,
    /// For snapshot_save, snapshot_restore and snapshot_delete: the snapshot's name.
    #[serde(default)]
    #[schema(max_length = 128, pattern = "^[A-Za-z0-9_.][A-Za-z0-9_.-]*$")]
    pub snapshot: Option<String>,
}

/// `POST /api/instances/{id}`: change the state of an instance.
#[utoipa::path(operation_id = "changeState", post, path = "/api/instances/{id}", tag = "instances",
    summary = "Change the state of an instance (the original Jeto call)",
    params(IdPath), request_body = StateRequest,
    responses(
        (status = 200, description = "Done (sync): the command and the instance after it", body = CommandAnswer),
        (status = 202, description = "Queued (async)", body = CommandAnswer,
            headers(("Location" = String, description = "the command's URL"))),
        (status = 403, description = "Action not granted to this key", body = ErrorBody),
        CommandFailure,
    ))]
pub async fn post_state(jeto: &Jeto, who: &Principal, id: u64, body: StateRequest) -> Answer {
    let action: Action = body.state.parse()?;
    if action == Action::Destroy {
        return Err(ApiError::bad_request(
            "state destroy is not accepted here: DELETE /api/instances/{id} destroys and forgets an instance, POST /api/instances/{id}/commands {\"action\": \"destroy\"} only destroys its machines",
        ));
    }
    let options = ActionOptions {
        force: body.force,
        provision: body.provision,
        provision_with: body.provision_with,
        snapshot: body.snapshot,
    };
    let request = wire_request(action, body.machine, body.script, options);
    if body.run_async {
        let command = jeto.submit(who, id, request).await?.snapshot();
        let location = command_location(&command);
        let body = CommandAnswer {
            command,
            instance: None,
        };
        return Ok(response::created(StatusCode::ACCEPTED, &location, &body));
    }
    let (command, instance) = jeto.run(who, id, request).await?;
    if let Some(error) = command_failure(&command) {
        return Err(error.with_instance(instance));
    }
    let body = CommandAnswer {
        command,
        instance: Some(instance),
    };
    Ok(response::json(StatusCode::OK, &body))
}

/// `DELETE /api/instances/{id}`: destroy the machines, then forget the instance.
#[utoipa::path(operation_id = "deleteInstance", delete, path = "/api/instances/{id}", tag = "instances",
    summary = "vagrant destroy --force, then forget the instance (and remove a folder Jeto made)",
    description = "From the call on, the instance accepts no new command (409). A folder that no longer exists has nothing to destroy. With `force=true`, the instance is forgotten even when destroy fails (its machines may be left running).",
    params(IdPath,
        ("force" = Option<bool>, Query, description = "forget the instance even when destroy fails")),
    responses(
        (status = 200, description = "Destroyed and forgotten", body = Deleted),
        (status = 403, description = "destroy not granted to this key", body = ErrorBody),
        CommandFailure,
    ))]
pub async fn delete(jeto: &Jeto, who: &Principal, id: u64, query: &Query) -> Answer {
    let force = query.flag("force")?;
    let command = jeto.delete_instance(who, id, force).await?;
    let forced = command.status != jeto_core::CommandStatus::Succeeded;
    if forced && !force {
        if let Some(error) = command_failure(&command) {
            return Err(error);
        }
    }
    let body = Deleted {
        command,
        deleted: id,
        forced,
    };
    Ok(response::json(StatusCode::OK, &body))
}

/// `PATCH /api/instances/{id}` (admin only): rename, another environment, another host.
#[utoipa::path(operation_id = "changeInstance", patch, path = "/api/instances/{id}", tag = "instances",
    summary = "Rename an instance, change its environment, or move it to another host (admin only)",
    description = "The fields given change, the others stay. A move is refused while commands are queued or running, and unless the new host's provider reads the instance's machines (the answer carries what it said).",
    params(IdPath), request_body = jeto_core::InstanceChange,
    responses(
        (status = 200, description = "The instance as changed", body = InstanceView),
        (status = 400, description = "An invalid name or environment, or an unknown field", body = ErrorBody),
        (status = 403, description = "Only admin keys change instances", body = ErrorBody),
        (status = 404, description = "No such instance (or not visible), or no such host", body = ErrorBody),
        (status = 409, description = "Commands are queued or running, or the new host cannot read it", body = ErrorBody),
    ))]
pub async fn change(
    jeto: &Jeto,
    who: &Principal,
    id: u64,
    change: jeto_core::InstanceChange,
) -> Answer {
    Ok(response::json(
        StatusCode::OK,
        &jeto.change_instance(who, id, change).await?,
    ))
}
