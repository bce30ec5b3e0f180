//! `/api/instances/{id}/commands...`: the command history, new commands, cancel, console.

use bytes::Bytes;
use http::{Response, StatusCode};
use jeto_core::access::Principal;
use jeto_core::{Action, Jeto};
use serde::Deserialize;
use serde_json::json;

use super::command_location;
use crate::{response, ApiBody, ApiError, Query};

type Answer = Result<Response<ApiBody>, ApiError>;

/// `GET /api/instances/{id}/commands`: newest first.
pub fn list(jeto: &Jeto, who: &Principal, id: u64) -> Answer {
    Ok(response::json(StatusCode::OK, &jeto.commands(who, id)?))
}

/// The body of `POST /api/instances/{id}/commands`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandRequest {
    /// The action, by wire name.
    pub action: String,
    /// The machine; optional except for runScript.
    #[serde(default)]
    pub machine: Option<String>,
    /// The script, for runScript.
    #[serde(default)]
    pub script: Option<String>,
}

/// `POST /api/instances/{id}/commands`: always async, 202 with the queued command.
pub fn create(jeto: &Jeto, who: &Principal, id: u64, body: CommandRequest) -> Answer {
    let action: Action = body.action.parse()?;
    let request = super::wire_request(action, body.machine, body.script);
    let command = jeto.submit(who, id, request)?.snapshot();
    Ok(response::created(
        StatusCode::ACCEPTED,
        &command_location(&command),
        &json!({ "command": command }),
    ))
}

/// `GET /api/instances/{id}/commands/{cid}`: one command with its console.
pub fn get(jeto: &Jeto, who: &Principal, id: u64, cid: u64) -> Answer {
    Ok(response::json(
        StatusCode::OK,
        &jeto.command(who, id, cid)?.snapshot(),
    ))
}

/// `DELETE /api/instances/{id}/commands/{cid}`: cancel.
pub async fn cancel(jeto: &Jeto, who: &Principal, id: u64, cid: u64) -> Answer {
    Ok(response::json(
        StatusCode::OK,
        &jeto.cancel(who, id, cid).await?,
    ))
}

/// `GET /api/instances/{id}/commands/{cid}/console[?follow=true]`: plain text; with `follow`,
/// streamed until the command ends.
pub fn console(jeto: &Jeto, who: &Principal, id: u64, cid: u64, query: &Query) -> Answer {
    let handle = jeto.command(who, id, cid)?;
    if !query.flag("follow")? {
        return Ok(response::text(ApiBody::full(handle.snapshot().console)));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let mut follower = handle.follow();
    tokio::spawn(async move {
        while let Some(chunk) = follower.next_chunk().await {
            if tx.send(Bytes::from(chunk)).await.is_err() {
                return; // The client went away.
            }
        }
    });
    Ok(response::text(ApiBody::Stream(rx)))
}
