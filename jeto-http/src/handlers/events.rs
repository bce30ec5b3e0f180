//! `GET /api/events`: the event log as Server-Sent Events.

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use jeto_core::access::Principal;
use jeto_core::events::{EventFilter, Followed};
use jeto_core::{Event, Jeto};

use crate::answers::ErrorBody;
use crate::{ApiBody, ApiError, Query};

/// A comment line this often, so proxies and clients know the stream is alive.
const HEARTBEAT: Duration = Duration::from_secs(15);
/// How often an open stream checks that its key may still follow, and its rights.
const RIGHTS_CHECK: Duration = Duration::from_secs(2);

/// `GET /api/events[?after=N&type=a,b&instance=ID]` as `text/event-stream`.
#[utoipa::path(operation_id = "events", get, path = "/api/events", tag = "events",
    summary = "What happens, as Server-Sent Events: resumable with Last-Event-ID or ?after=N; only events of what the key can see",
    params(
        ("after" = Option<u64>, Query, description = "start after this event id (else `Last-Event-ID`, else from now)"),
        ("type" = Option<String>, Query, description = "only these types, comma-separated (`command_ended,machine_state_changed`)"),
        ("instance" = Option<u64>, Query, description = "only events of this instance"),
        ("Last-Event-ID" = Option<u64>, Header, description = "the id of the last event received, to resume after a reconnect"),
    ),
    responses(
        (status = 200, description = "The stream: `id:` the event's id, `event:` its type, `data:` the event as JSON; `event: gap` when events asked for are no longer kept; a comment every 15 s",
            body = Event, content_type = "text/event-stream"),
        (status = 400, description = "A bad `after`, `type`, `instance` or `Last-Event-ID`", body = ErrorBody),
        (status = 429, description = "Too many event followers (max_followers; see Retry-After)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "seconds to wait")))))]
pub async fn stream(
    jeto: &Jeto,
    who: &Principal,
    query: &Query,
    headers: &HeaderMap,
) -> Result<Response<ApiBody>, ApiError> {
    let after = match query.number("after")? {
        Some(after) => Some(after),
        None => match headers.get("last-event-id") {
            Some(value) => Some(
                value
                    .to_str()
                    .ok()
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "Last-Event-ID must be the id (a number) of the last event received",
                        )
                    })?,
            ),
            None => None,
        },
    };
    let mut filter = EventFilter::default();
    filter.types = query
        .text("type")
        .map(|types| {
            types
                .split(',')
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .collect()
        })
        .unwrap_or_default();
    filter.instance = query.number("instance")?;
    let (mut follower, permit) = jeto.follow_events(who, filter, after).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let (jeto, who) = (jeto.clone(), who.clone());
    tokio::spawn(async move {
        let _permit = permit;
        // Headers and a first line at once: the client knows it is connected.
        if tx
            .send(Bytes::from_static(b"retry: 2000\n: connected\n\n"))
            .await
            .is_err()
        {
            return;
        }
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.tick().await;
        let mut check = tokio::time::interval(RIGHTS_CHECK);
        check.tick().await;
        loop {
            let frame = tokio::select! {
                next = follower.next() => match next {
                    Ok(Followed::Event(event)) => frame(&event),
                    Ok(Followed::Gap { after, oldest }) => format!(
                        "event: gap\ndata: {{\"after\":{after},\"oldest\":{oldest},\"message\":\"events {} to {} are no longer kept: read the state afresh (GET /api/instances), then follow from the next id\"}}\n\n",
                        after + 1, oldest - 1
                    ),
                    Err(error) => {
                        tracing::warn!(%error, "an event stream could not read the log");
                        return;
                    }
                },
                _ = heartbeat.tick() => ": keep-alive\n\n".to_owned(),
                // The client went away: its place is given back at once.
                () = tx.closed() => return,
                // The server stops: the client reconnects to the next one with Last-Event-ID.
                () = jeto.stopped() => return,
                _ = check.tick() => match jeto.rights_now(&who).await {
                    Some(rights) => {
                        follower.set_principal(rights);
                        continue;
                    }
                    // Revoked, expired or signed out: the stream ends.
                    None => return,
                },
            };
            if tx.send(Bytes::from(frame)).await.is_err() {
                return; // The client went away.
            }
        }
    });
    let mut response = Response::new(ApiBody::Stream(rx));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        http::HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    Ok(response)
}

/// One event as an SSE frame: its id, its type, and its JSON on one `data:` line.
fn frame(event: &Event) -> String {
    let data = serde_json::to_string(event).unwrap_or_else(|_| "{}".into());
    format!(
        "id: {}\nevent: {}\ndata: {data}\n\n",
        event.id,
        event.type_name()
    )
}
