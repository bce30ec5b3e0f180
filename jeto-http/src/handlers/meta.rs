//! `/api/health`.

use http::{Response, StatusCode};

use jeto_core::access::Principal;
use jeto_core::service::{Condition, Readiness};
use jeto_core::{Jeto, ReloadReport};

use crate::answers::Health;
use crate::{response, ApiBody};

/// `GET /api/health`: liveness, no key needed; with an admin key, Vagrant's version and
/// plugins too (a failure to ask it is reported, and the answer is still 200).
#[utoipa::path(operation_id = "health", get, path = "/api/health", tag = "meta",
    summary = "Liveness (no key needed); with an admin key, the provider's version and plugins",
    security(()),
    responses((status = 200, description = "The server answers", body = Health)))]
pub async fn health(jeto: &Jeto, who: Option<&Principal>) -> Response<ApiBody> {
    let mut health = Health {
        status: "ok",
        provider: None,
        provider_error: None,
    };
    if let Some(who) = who.filter(|w| w.admin) {
        match jeto.about(who).await {
            Ok(tool) => health.provider = Some(tool),
            Err(error) => health.provider_error = Some(error.to_string()),
        }
    }
    response::json(StatusCode::OK, &health)
}

/// `GET /api/me`: who the key is and what it is granted, so a client (the dashboard) offers
/// only what the key may do.
#[utoipa::path(operation_id = "me", get, path = "/api/me", tag = "meta",
    summary = "The key's name and grants (hosts, instances, projects, actions; `null` actions: all)",
    responses((status = 200, description = "The caller", body = Principal)))]
pub fn me(who: &Principal) -> Response<ApiBody> {
    response::json(StatusCode::OK, who)
}

/// `GET /api/ready`: whether the server can take work now (no key needed): 200 when it can
/// (`degraded`: some hosts cannot), 503 when its store is down or it drains before stopping.
/// With an admin key, each host's state too.
#[utoipa::path(operation_id = "ready", get, path = "/api/ready", tag = "meta",
    summary = "Readiness (no key needed): the store, draining, and each host for admin keys",
    security(()),
    responses(
        (status = 200, description = "It takes work (`ok`, or `degraded` when some hosts are down)", body = Readiness),
        (status = 503, description = "It does not (its store is down, or it drains before stopping)", body = Readiness)))]
pub async fn ready(jeto: &Jeto, who: Option<&Principal>) -> Response<ApiBody> {
    let readiness = jeto.readiness(who.is_some_and(|w| w.admin)).await;
    let status = if readiness.status == Condition::Down {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    response::json(status, &readiness)
}

/// `POST /api/reload`: reads the configuration file again (admins; as SIGHUP does).
#[utoipa::path(operation_id = "reload", post, path = "/api/reload", tag = "meta",
    summary = "Read the configuration again (admins): keys, hosts and projects change live; the answer names what needs a restart",
    responses(
        (status = 200, description = "Reloaded", body = ReloadReport),
        (status = 400, description = "The new configuration is wrong; the running one stays", body = crate::answers::ErrorBody),
        (status = 404, description = "Not an admin key: there is nothing of the kind", body = crate::answers::ErrorBody),
        (status = 409, description = "This server has no configuration file to read again", body = crate::answers::ErrorBody)))]
pub async fn reload(jeto: &Jeto, who: &Principal) -> Result<Response<ApiBody>, crate::ApiError> {
    let report = jeto.reload(who).await?;
    Ok(response::json(StatusCode::OK, &report))
}

/// What `GET /metrics` answers in: OpenMetrics when the client asks for it (a Prometheus
/// server does), else the Prometheus text form (`promtool`, `curl`).
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`: counters, histograms and gauges for Prometheus (admins and metrics-only
/// keys; a metrics-only key gets 403 on every other route).
#[utoipa::path(operation_id = "metrics", get, path = "/metrics", tag = "meta",
    summary = "Prometheus metrics (admin and metrics-only keys): OpenMetrics when asked for by Accept, else the text format 0.0.4",
    responses(
        (status = 200, description = "The metrics", content_type = "text/plain", body = String),
        (status = 403, description = "Neither an admin key nor a metrics-only key", body = crate::answers::ErrorBody),
        (status = 409, description = "This server keeps no metrics ([metrics] enabled = false)", body = crate::answers::ErrorBody)))]
pub async fn metrics(
    jeto: &Jeto,
    who: &Principal,
    accept: Option<&http::HeaderValue>,
) -> Result<Response<ApiBody>, crate::ApiError> {
    let openmetrics = accept
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    let text = jeto.metrics_text(who, openmetrics).await?;
    let mut answer = Response::new(ApiBody::full(text));
    answer.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(if openmetrics {
            OPENMETRICS
        } else {
            PROMETHEUS_TEXT
        }),
    );
    Ok(answer)
}
