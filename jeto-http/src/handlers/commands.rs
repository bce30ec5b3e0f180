//! `/api/instances/{id}/commands...`: the command history, new commands, cancel, console.

use bytes::Bytes;
use http::{Response, StatusCode};
use jeto_core::access::Principal;
use jeto_core::store::Page;
use jeto_core::{Action, Command, Jeto};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{command_location, CommandPath, IdPath};
use crate::answers::{CommandAnswer, ErrorBody, ListedCommand};
use crate::links::Links;
use crate::{response, ApiBody, ApiError, Query};

type Answer = Result<Response<ApiBody>, ApiError>;

/// Commands per page when `limit` is not given, and the most one page holds.
const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 1000;

/// `GET /api/instances/{id}/commands[?limit=N&before=ID]`: newest first, without consoles.
#[utoipa::path(operation_id = "listCommands", get, path = "/api/instances/{id}/commands", tag = "commands",
    summary = "The commands of an instance, newest first, without their consoles",
    params(IdPath,
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 1000, description = "commands per page (default 100, at most 1000)"),
        ("before" = Option<u64>, Query, description = "only commands with a smaller id (the id of the last one of the previous page)"),
    ),
    responses((status = 200, description = "The commands; each console is read from its `console_url`", body = Vec<ListedCommand>)))]
pub(crate) async fn list(
    jeto: &Jeto,
    who: &Principal,
    id: u64,
    links: Links<'_>,
    query: &Query,
) -> Answer {
    let limit = query.number("limit")?.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let page = Page {
        before: query.number("before")?,
        limit: limit as usize,
    };
    let listed: Vec<ListedCommand> = jeto
        .commands(who, id, page)
        .await?
        .into_iter()
        .map(|command| ListedCommand {
            console_url: format!("{}{}/console", links.prefix, command_location(&command)),
            command,
        })
        .collect();
    Ok(response::json(StatusCode::OK, &listed))
}

/// The body of `POST /api/instances/{id}/commands`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"action": "provision", "machine": "db"}))]
pub struct CommandRequest {
    /// The action, by wire name.
    #[schema(value_type = Action)]
    pub action: String,
    /// The machine; optional except for runScript. Empty (as the original UI sends it) means
    /// all machines.
    #[serde(default)]
    #[schema(max_length = 128, pattern = "^([A-Za-z0-9_.][A-Za-z0-9_.-]*)?$")]
    pub machine: Option<String>,
    /// The script, for runScript.
    #[serde(default)]
    pub script: Option<String>,
    /// Accepted for clients of the original Jeto; this route always answers at once.
    #[serde(default, rename = "async")]
    #[allow(dead_code, reason = "accepted for compatibility and ignored")]
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

/// `POST /api/instances/{id}/commands`: always async, 202 with the queued command.
#[utoipa::path(operation_id = "createCommand", post, path = "/api/instances/{id}/commands", tag = "commands",
    summary = "Queue an action (always async)",
    params(IdPath), request_body = CommandRequest,
    responses(
        (status = 202, description = "Queued", body = CommandAnswer,
            headers(("Location" = String, description = "the command's URL"))),
        (status = 403, description = "Action not granted to this key", body = ErrorBody),
        (status = 409, description = "The instance is being deleted", body = ErrorBody),
        (status = 429, description = "Too many commands queued on the instance or by this key (see Retry-After)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "seconds to wait"))),
        (status = 503, description = "The server is shutting down", body = ErrorBody),
    ))]
pub async fn create(jeto: &Jeto, who: &Principal, id: u64, body: CommandRequest) -> Answer {
    let action: Action = body.action.parse()?;
    let options = super::ActionOptions {
        force: body.force,
        provision: body.provision,
        provision_with: body.provision_with,
        snapshot: body.snapshot,
    };
    let request = super::wire_request(action, body.machine, body.script, options);
    let command = jeto.submit(who, id, request).await?.snapshot();
    let location = command_location(&command);
    let body = CommandAnswer {
        command,
        instance: None,
    };
    Ok(response::created(StatusCode::ACCEPTED, &location, &body))
}

/// `GET /api/instances/{id}/commands/{cid}`: one command with its console.
#[utoipa::path(operation_id = "getCommand", get, path = "/api/instances/{id}/commands/{cid}", tag = "commands",
    summary = "One command with its console output",
    params(CommandPath),
    responses((status = 200, description = "The command", body = Command)))]
pub async fn get(jeto: &Jeto, who: &Principal, id: u64, cid: u64) -> Answer {
    Ok(response::json(
        StatusCode::OK,
        &jeto.command(who, id, cid).await?.snapshot(),
    ))
}

/// `DELETE /api/instances/{id}/commands/{cid}`: cancel.
#[utoipa::path(operation_id = "cancelCommand", delete, path = "/api/instances/{id}/commands/{cid}", tag = "commands",
    summary = "Cancel: a queued command never starts, a running one has its process tree killed",
    params(CommandPath),
    responses(
        (status = 200, description = "The cancelled command", body = Command),
        (status = 403, description = "The command's action is not granted to this key", body = ErrorBody),
        (status = 409, description = "The command has already ended", body = ErrorBody),
    ))]
pub async fn cancel(jeto: &Jeto, who: &Principal, id: u64, cid: u64) -> Answer {
    Ok(response::json(
        StatusCode::OK,
        &jeto.cancel(who, id, cid).await?,
    ))
}

/// How often an open console stream checks that its key may still follow it.
const FOLLOWER_CHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// `GET /api/instances/{id}/commands/{cid}/console[?follow=true]`: plain text; with `follow`,
/// streamed until the command ends.
#[utoipa::path(operation_id = "getConsole", get, path = "/api/instances/{id}/commands/{cid}/console", tag = "commands",
    summary = "The console output as plain text",
    params(CommandPath,
        ("follow" = Option<bool>, Query, description = "stream the output until the command ends"),
        ("after" = Option<u64>, Query, description = "with follow: start at this byte of the console (the bytes already received), to resume a follow without repeating or losing output")),
    responses((status = 200, description = "The console output (streamed with follow)",
        body = String, content_type = "text/plain"),
        (status = 429, description = "Too many followers of this command or in all (see Retry-After)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "seconds to wait")))))]
pub async fn console(jeto: &Jeto, who: &Principal, id: u64, cid: u64, query: &Query) -> Answer {
    let handle = jeto.command(who, id, cid).await?;
    if !query.flag("follow")? {
        if query.number("after")?.is_some() {
            return Err(ApiError::bad_request(
                "after resumes a follow: use it with follow=true",
            ));
        }
        let console = handle.snapshot().console.unwrap_or_default();
        return Ok(response::text(ApiBody::full(console)));
    }
    // Followers take at most 16 KiB a chunk: a few chunks in flight bound each one's memory.
    // `after` resumes a follow that lost its connection: from that byte, exactly.
    let mut follower = handle.follow_from(query.number("after")?.unwrap_or(0))?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(2);
    let (jeto, who) = (jeto.clone(), who.clone());
    tokio::spawn(async move {
        // A key revoked, expired or no longer allowed to see the instance ends its stream.
        let mut check = tokio::time::interval(FOLLOWER_CHECK);
        check.tick().await;
        loop {
            let chunk = tokio::select! {
                chunk = follower.next_bytes() => chunk,
                // The client went away: its follower place is given back at once.
                () = tx.closed() => return,
                _ = check.tick() => {
                    if !jeto.may_still_follow(&who, id).await {
                        return;
                    }
                    continue;
                }
            };
            let Some(chunk) = chunk else {
                return;
            };
            if tx.send(Bytes::from(chunk)).await.is_err() {
                return; // The client went away.
            }
        }
    });
    let mut response = response::text(ApiBody::Stream(rx));
    // nginx and other proxies would otherwise hold the stream until its end.
    response.headers_mut().insert(
        http::HeaderName::from_static("x-accel-buffering"),
        http::HeaderValue::from_static("no"),
    );
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache"),
    );
    Ok(response)
}
