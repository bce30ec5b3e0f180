//! `/api/webhooks`: endpoints that receive events (admins), their deliveries, and sending
//! one again.

use http::{Response, StatusCode};
use jeto_core::access::Principal;
use jeto_core::{Delivery, Jeto, Webhook};
use utoipa::IntoParams;

use super::IdPath;
use crate::answers::ErrorBody;
use crate::{response, ApiBody, ApiError, Query};

type Answer = Result<Response<ApiBody>, ApiError>;

/// Deliveries shown when `limit` is not given.
const DEFAULT_LIMIT: u64 = 50;

/// The `{id}` and `{did}` of a delivery route.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(
    dead_code,
    reason = "read by the OpenAPI derive only; the router parses paths"
)]
pub struct DeliveryPath {
    /// The webhook id (a positive integer).
    #[param(minimum = 1)]
    pub id: u64,
    /// The delivery id (a positive integer).
    #[param(minimum = 1)]
    pub did: u64,
}

/// `GET /api/webhooks`
#[utoipa::path(operation_id = "listWebhooks", get, path = "/api/webhooks", tag = "webhooks",
    summary = "Every webhook (admins); secrets are never shown again",
    responses(
        (status = 200, description = "The webhooks", body = Vec<Webhook>),
        (status = 404, description = "Not an admin key: there is nothing of the kind", body = ErrorBody),
        (status = 409, description = "This server sends no webhooks", body = ErrorBody)))]
pub async fn list(jeto: &Jeto, who: &Principal) -> Answer {
    Ok(response::json(StatusCode::OK, &jeto.webhooks(who).await?))
}

/// `POST /api/webhooks`: 201 with the webhook and, this once, its secret.
#[utoipa::path(operation_id = "createWebhook", post, path = "/api/webhooks", tag = "webhooks",
    summary = "Make a webhook (admins): it receives the events written from now on; its secret (made when not given) is in this answer only",
    request_body = Webhook,
    responses(
        (status = 201, description = "Made; `secret` shown this once", body = Webhook,
            headers(("Location" = String, description = "the webhook's URL"))),
        (status = 404, description = "Not an admin key: there is nothing of the kind", body = ErrorBody),
        (status = 409, description = "This server sends no webhooks, or has as many as allowed", body = ErrorBody)))]
pub async fn create(jeto: &Jeto, who: &Principal, body: Webhook) -> Answer {
    if body.id != 0 {
        return Err(ApiError::bad_request(
            "id is assigned by the server: leave it out of a new webhook",
        ));
    }
    let webhook = jeto.create_webhook(who, body).await?;
    Ok(response::created(
        StatusCode::CREATED,
        &format!("/api/webhooks/{}", webhook.id),
        &webhook,
    ))
}

/// `GET /api/webhooks/{id}`
#[utoipa::path(operation_id = "getWebhook", get, path = "/api/webhooks/{id}", tag = "webhooks",
    summary = "One webhook (admins): its filters, where it is in the event log, whether it is paused and why",
    params(IdPath),
    responses(
        (status = 200, description = "The webhook", body = Webhook),
        (status = 409, description = "This server sends no webhooks", body = ErrorBody)))]
pub async fn get(jeto: &Jeto, who: &Principal, id: u64) -> Answer {
    Ok(response::json(
        StatusCode::OK,
        &jeto.webhook(who, id).await?,
    ))
}

/// `PUT /api/webhooks/{id}`: replaced; `paused: null` resumes it.
#[utoipa::path(operation_id = "updateWebhook", put, path = "/api/webhooks/{id}", tag = "webhooks",
    summary = "Replace a webhook (admins): `paused: null` resumes a paused one (the event that failed goes first); an empty secret keeps its secret",
    params(IdPath), request_body = Webhook,
    responses(
        (status = 200, description = "The webhook as stored", body = Webhook),
        (status = 409, description = "This server sends no webhooks", body = ErrorBody)))]
pub async fn update(jeto: &Jeto, who: &Principal, id: u64, body: Webhook) -> Answer {
    if body.id != 0 && body.id != id {
        return Err(ApiError::bad_request(format!(
            "the body's id {} is not the path's {id}",
            body.id
        )));
    }
    Ok(response::json(
        StatusCode::OK,
        &jeto.update_webhook(who, id, body).await?,
    ))
}

/// `DELETE /api/webhooks/{id}`
#[utoipa::path(operation_id = "deleteWebhook", delete, path = "/api/webhooks/{id}", tag = "webhooks",
    summary = "Remove a webhook and its delivery records (admins)", params(IdPath),
    responses(
        (status = 200, description = "The webhook removed", body = Webhook),
        (status = 409, description = "This server sends no webhooks", body = ErrorBody)))]
pub async fn delete(jeto: &Jeto, who: &Principal, id: u64) -> Answer {
    Ok(response::json(
        StatusCode::OK,
        &jeto.delete_webhook(who, id).await?,
    ))
}

/// `GET /api/webhooks/{id}/deliveries?limit=N`: newest first.
#[utoipa::path(operation_id = "listDeliveries", get, path = "/api/webhooks/{id}/deliveries", tag = "webhooks",
    summary = "A webhook's delivery attempts, newest first (admins): status, time, error",
    params(IdPath, ("limit" = Option<u64>, Query, description = "how many (1 to 200; 50 by default)")),
    responses(
        (status = 200, description = "The attempts", body = Vec<Delivery>),
        (status = 409, description = "This server sends no webhooks", body = ErrorBody)))]
pub async fn deliveries(jeto: &Jeto, who: &Principal, id: u64, query: &Query) -> Answer {
    let limit = query.number("limit")?.unwrap_or(DEFAULT_LIMIT);
    let most = jeto_core::service::MAX_DELIVERIES_SHOWN as u64;
    if limit == 0 || limit > most {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {most}"
        )));
    }
    Ok(response::json(
        StatusCode::OK,
        &jeto.webhook_deliveries(who, id, limit as usize).await?,
    ))
}

/// `POST /api/webhooks/{id}/deliveries/{did}`: the delivery's event sent once more.
#[utoipa::path(operation_id = "sendAgain", post, path = "/api/webhooks/{id}/deliveries/{did}", tag = "webhooks",
    summary = "Send a delivery's event once more (admins), in the background: the attempt shows in the deliveries",
    params(DeliveryPath),
    responses(
        (status = 202, description = "Sending"),
        (status = 409, description = "The event is no longer in the event log, or this server sends no webhooks", body = ErrorBody)))]
pub async fn send_again(jeto: &Jeto, who: &Principal, id: u64, delivery: u64) -> Answer {
    jeto.send_delivery_again(who, id, delivery).await?;
    Ok(response::json(
        StatusCode::ACCEPTED,
        &serde_json::json!({"sending": true}),
    ))
}
