//! [`JetoService`]: the REST API as a `Clone` tower `Service`, generic over the request body,
//! that never fails (every error is a response).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Buf;
use http::{Method, Request, Response};
use http_body::Body;
use jeto_core::Jeto;

use crate::body::read_json;
use crate::handlers::{audit, commands, hosts, instances, meta, projects};
use crate::routes::{match_path, Route};
use crate::{auth, openapi, ApiBody, ApiError, ListCache, Query};
use jeto_core::audit::AuditEntry;

/// Serves Jeto's routes (see [`crate::routes::ROUTES`]) over a [`Jeto`] service.
///
/// It routes on the path it is given, so it runs under plain hyper (see [`crate::serve`]) and
/// can be nested under a prefix in an axum router.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use http_body_util::{BodyExt, Empty};
/// use jeto_core::{memory::InMemoryProvider, Jeto};
/// use jeto_http::JetoService;
///
/// let jeto = Jeto::builder(Arc::new(InMemoryProvider::new())).build().await.unwrap();
/// let service = JetoService::new(jeto);
/// let request = http::Request::get("/api/health").body(Empty::<bytes::Bytes>::new()).unwrap();
/// let response = service.handle(request).await;
/// assert_eq!(response.status(), 200);
/// let body = response.into_body().collect().await.unwrap().to_bytes();
/// assert_eq!(&body[..], br#"{"status":"ok"}"#);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct JetoService {
    jeto: Jeto,
    lists: ListCache,
}

impl JetoService {
    /// The API over `jeto`.
    pub fn new(jeto: Jeto) -> Self {
        JetoService {
            jeto,
            lists: ListCache::default(),
        }
    }

    /// The service behind the API.
    pub fn jeto(&self) -> &Jeto {
        &self.jeto
    }

    /// Answers one request (and logs it: method, path, status, duration; never the key).
    pub async fn handle<B>(&self, request: Request<B>) -> Response<ApiBody>
    where
        B: Body + Send,
        B::Data: Buf + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let mut asked = Asked::default();
        let (response, outcome) = match dispatch(&self.jeto, &self.lists, request, &mut asked).await
        {
            Ok(response) => (response, "ok"),
            Err(error) => {
                let code = error.code;
                (error.into_response(), code)
            }
        };
        let status = response.status();
        // Every mutating request and every denial.
        if method != Method::GET || matches!(status.as_u16(), 401 | 403) {
            let created = response
                .headers()
                .get(http::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| l.strip_prefix("/api/instances/"))
                .and_then(|l| l.split('/').next()?.parse().ok());
            let entry = AuditEntry {
                id: 0,
                time: time::OffsetDateTime::now_utc(),
                principal: asked.principal,
                method: method.to_string(),
                route: path.clone(),
                instance: asked.instance.or(created),
                status: status.as_u16(),
                outcome: outcome.to_owned(),
            };
            // Recorded before the answer leaves.
            self.jeto.audit(entry).await;
        }
        tracing::info!(
            %method,
            path,
            status = response.status().as_u16(),
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request"
        );
        response
    }
}

impl<B> tower_service::Service<Request<B>> for JetoService
where
    B: Body + Send + 'static,
    B::Data: Buf + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<ApiBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ApiBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let service = self.clone();
        Box::pin(async move { Ok(service.handle(request).await) })
    }
}

/// Who asked about what, as far as [`dispatch`] got, for the audit log.
#[derive(Debug, Default)]
struct Asked {
    principal: Option<String>,
    instance: Option<u64>,
}

async fn dispatch<B>(
    jeto: &Jeto,
    lists: &ListCache,
    request: Request<B>,
    asked: &mut Asked,
) -> Result<Response<ApiBody>, ApiError>
where
    B: Body + Send,
    B::Data: Buf + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = request.into_parts();
    let (route, methods) = match_path(parts.uri.path())?;
    if !methods.contains(&parts.method.as_str()) {
        return Err(ApiError::method_not_allowed(&parts.method, methods));
    }
    let query = |allowed: &[&str]| Query::parse(parts.uri.query(), allowed);
    match route {
        Route::Health => {
            query(&[])?;
            return Ok(meta::health());
        }
        Route::OpenApi => {
            query(&[])?;
            return Ok(openapi::response());
        }
        _ => {}
    }
    asked.instance = route.instance();
    let who = jeto.authenticate(auth::key(&parts.headers))?;
    asked.principal = Some(who.name.clone());
    let method = parts.method.clone();
    match (route, method) {
        (Route::Instances, Method::GET) => {
            instances::list(jeto, lists, &who, &query(&["refresh"])?).await
        }
        (Route::Instances, _) => {
            query(&[])?;
            instances::create(jeto, &who, read_json(&parts, body).await?).await
        }
        (Route::Instance(id), Method::GET) => {
            instances::get(jeto, &who, id, &query(&["max_age"])?).await
        }
        (Route::Instance(id), Method::POST) => {
            query(&[])?;
            instances::post_state(jeto, &who, id, read_json(&parts, body).await?).await
        }
        (Route::Instance(id), _) => instances::delete(jeto, &who, id, &query(&["force"])?).await,
        (Route::Commands(id), Method::GET) => {
            commands::list(jeto, &who, id, &query(&["limit", "before"])?).await
        }
        (Route::Commands(id), _) => {
            query(&[])?;
            commands::create(jeto, &who, id, read_json(&parts, body).await?).await
        }
        (Route::Command(id, cid), Method::GET) => {
            query(&[])?;
            commands::get(jeto, &who, id, cid).await
        }
        (Route::Command(id, cid), _) => {
            query(&[])?;
            commands::cancel(jeto, &who, id, cid).await
        }
        (Route::Console(id, cid), _) => {
            commands::console(jeto, &who, id, cid, &query(&["follow"])?).await
        }
        (Route::Hosts, Method::GET) => {
            query(&[])?;
            hosts::list(jeto, &who).await
        }
        (Route::Hosts, _) => {
            query(&[])?;
            hosts::create(jeto, &who, read_json(&parts, body).await?).await
        }
        (Route::Host(id), _) => {
            query(&[])?;
            hosts::get(jeto, &who, id).await
        }
        (Route::Projects, Method::GET) => {
            query(&[])?;
            projects::list(jeto, &who).await
        }
        (Route::Projects, _) => {
            query(&[])?;
            projects::create(jeto, &who, read_json(&parts, body).await?).await
        }
        (Route::Project(id), _) => {
            query(&[])?;
            projects::get(jeto, &who, id).await
        }
        (Route::Audit, _) => audit::list(jeto, &who, &query(&["limit", "before"])?).await,
        (Route::Health | Route::OpenApi, _) => unreachable!("answered above"),
    }
}
