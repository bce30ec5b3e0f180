//! `/api/instances` and `/api/instances/{id}`.

use std::time::Duration;

use http::{Response, StatusCode};
use jeto_core::access::Principal;
use jeto_core::service::CreateInstance;
use jeto_core::{Action, Jeto};
use serde::Deserialize;
use serde_json::json;

use super::{command_failure, command_location, wire_request};
use crate::{response, ApiBody, ApiError, ListCache, Query};

type Answer = Result<Response<ApiBody>, ApiError>;

/// `GET /api/instances[?refresh=true]`: served from the [`ListCache`] while nothing changed.
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
pub async fn create(jeto: &Jeto, who: &Principal, request: CreateInstance) -> Answer {
    if request.run_async && request.path.is_none() {
        let (view, handle) = jeto.create_instance_async(who, request).await?;
        let command = handle.snapshot();
        let body = json!({ "command": command, "instance": view });
        return Ok(response::created(
            StatusCode::ACCEPTED,
            &command_location(&command),
            &body,
        ));
    }
    let view = jeto.create_instance(who, request).await?;
    let location = format!("/api/instances/{}", view.instance.id);
    Ok(response::created(StatusCode::CREATED, &location, &view))
}

/// `GET /api/instances/{id}[?max_age=SECONDS]`
pub async fn get(jeto: &Jeto, who: &Principal, id: u64, query: &Query) -> Answer {
    let max_age = query.number("max_age")?.map(Duration::from_secs);
    let view = jeto.instance(who, id, max_age).await?;
    Ok(response::json(StatusCode::OK, &view))
}

/// The body of `POST /api/instances/{id}`, as in the original Jeto.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateRequest {
    /// start | stop | status | runScript | reload | rsync | provision
    pub state: String,
    /// The machine; optional except for runScript.
    #[serde(default)]
    pub machine: Option<String>,
    /// The script of `jeto.json`, for runScript.
    #[serde(default)]
    pub script: Option<String>,
    /// Answer at once with the queued command (202) instead of waiting (200).
    #[serde(default, rename = "async")]
    pub run_async: bool,
}

/// `POST /api/instances/{id}`: change the state of an instance.
pub async fn post_state(jeto: &Jeto, who: &Principal, id: u64, body: StateRequest) -> Answer {
    let action: Action = body.state.parse()?;
    if action == Action::Destroy {
        return Err(ApiError::bad_request(
            "state destroy is not accepted here: DELETE /api/instances/{id} destroys and forgets an instance, POST /api/instances/{id}/commands {\"action\": \"destroy\"} only destroys its machines",
        ));
    }
    let request = wire_request(action, body.machine, body.script);
    if body.run_async {
        let command = jeto.submit(who, id, request)?.snapshot();
        return Ok(response::created(
            StatusCode::ACCEPTED,
            &command_location(&command),
            &json!({ "command": command }),
        ));
    }
    let (command, instance) = jeto.run(who, id, request).await?;
    if let Some(error) = command_failure(&command) {
        return Err(error.with("instance", json!(instance)));
    }
    Ok(response::json(
        StatusCode::OK,
        &json!({ "command": command, "instance": instance }),
    ))
}

/// `DELETE /api/instances/{id}`: destroy the machines, then forget the instance.
pub async fn delete(jeto: &Jeto, who: &Principal, id: u64) -> Answer {
    let command = jeto.delete_instance(who, id).await?;
    if let Some(error) = command_failure(&command) {
        return Err(error);
    }
    Ok(response::json(
        StatusCode::OK,
        &json!({ "command": command, "deleted": id }),
    ))
}
