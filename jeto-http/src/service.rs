//! [`JetoService`]: the REST API as a `Clone` tower `Service`, generic over the request body,
//! that never fails (every error is a response).

use std::borrow::Cow;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Buf, Bytes};
use http::{HeaderValue, Method, Request, Response};
use http_body::Body;
use jeto_core::Jeto;

use crate::client::ClientAddr;
use crate::handlers::{
    audit, commands, domains, events, hosts, instances, keys, lifecycle, machines, meta, people,
    projects, usage, webhooks,
};
use crate::json_request::read_json;
use crate::links::Links;
use crate::routes::{match_path, Route};
use crate::{auth, openapi, ApiBody, ApiError, ListCache, Query};
use jeto_core::access::Principal;
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
/// use jeto_core::{testing::InMemoryProvider, Jeto};
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
    mount: Arc<Mount>,
}

/// Where the service is mounted: the prefix a router strips before a request reaches it, and
/// the prefix its links get.
#[derive(Debug, Default)]
struct Mount {
    stripped: String,
    links: String,
    document: OnceLock<Bytes>,
}

impl JetoService {
    /// The API over `jeto`, serving `/api/...` from the root of the paths it receives.
    pub fn new(jeto: Jeto) -> Self {
        JetoService {
            jeto,
            lists: ListCache::default(),
            mount: Arc::default(),
        }
    }

    /// The API nested under `prefix` by a router that strips it (axum's `nest_service`):
    /// it answers at `prefix/api/...`, or at `prefix/...` when `prefix` ends in `/api`, and
    /// every link it gives (`Location`, `console_url`, the OpenAPI `servers`) carries the
    /// prefix.
    ///
    /// # Panics
    /// When `prefix` does not start with `/`, as axum does for such a path.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # let jeto = jeto_core::Jeto::builder(Arc::new(jeto_core::testing::InMemoryProvider::new())).build().await.unwrap();
    /// // Router::new().nest_service("/api", service) strips "/api" from "/api/health".
    /// let service = jeto_http::JetoService::new(jeto).nested_at("/api");
    /// let request = http::Request::get("/health").body(http_body_util::Empty::<bytes::Bytes>::new()).unwrap();
    /// assert_eq!(service.handle(request).await.status(), 200);
    /// # });
    /// ```
    pub fn nested_at(mut self, prefix: &str) -> Self {
        assert!(
            prefix.starts_with('/'),
            "a mount prefix starts with '/': {prefix:?}"
        );
        let stripped = prefix.trim_end_matches('/').to_owned();
        let links = stripped
            .strip_suffix("/api")
            .unwrap_or(&stripped)
            .to_owned();
        self.mount = Arc::new(Mount {
            stripped,
            links,
            document: OnceLock::new(),
        });
        self
    }

    /// The path the routes are matched on (`/api/...`), or `None` when `received` is outside
    /// the mount.
    fn route_path<'a>(&self, received: &'a str) -> Option<Cow<'a, str>> {
        if self.mount.stripped.is_empty() {
            // At the root (the common case): the path as received, no copy.
            return Some(Cow::Borrowed(received));
        }
        let external = format!("{}{received}", self.mount.stripped);
        external
            .strip_prefix(self.mount.links.as_str())
            .filter(|path| path.starts_with('/'))
            .map(|path| Cow::Owned(path.to_owned()))
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
        let source = request
            .extensions()
            .get::<ClientAddr>()
            .map(|client| client.0.ip().to_string());
        let received = request.uri().path().to_owned();
        let path = self.route_path(&received);
        let mut asked = Asked::default();
        let answer = match &path {
            Some(path) => {
                let links = Links {
                    prefix: &self.mount.links,
                    document: &self.mount.document,
                };
                dispatch(&self.jeto, &self.lists, path, links, request, &mut asked).await
            }
            None => Err(ApiError::no_route(&received)),
        };
        // The path is the client's to make long: logs and the audit keep the route's pattern,
        // and the log line at most the path's start.
        let route = asked.route.unwrap_or("(no route)");
        let metrics = self.jeto.metrics().cloned();
        let (mut response, outcome) = match answer {
            Ok(response) => (response, "ok"),
            Err(error) => {
                let code = error.code;
                (error.into_response(), code)
            }
        };
        if !self.mount.links.is_empty() {
            prefix_location(&mut response, &self.mount.links);
        }
        // API answers are data, never a page: no type sniffing, no framing, nothing loaded.
        let headers = response.headers_mut();
        headers.insert(
            http::header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers
            .entry(http::header::CONTENT_SECURITY_POLICY)
            .or_insert(HeaderValue::from_static(
                "default-src 'none'; frame-ancestors 'none'",
            ));
        let status = response.status();
        // Every mutating request and every denial.
        if method != Method::GET || matches!(status.as_u16(), 401 | 403) {
            let created = response
                .headers()
                .get(http::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| l.strip_prefix(self.mount.links.as_str()))
                .and_then(|l| l.strip_prefix("/api/instances/"))
                .and_then(|l| l.split('/').next()?.parse().ok());
            let entry = AuditEntry {
                instance: asked.instance.or(created),
                source: source.clone(),
                ..AuditEntry::new(
                    asked.principal,
                    method_name(&method),
                    route,
                    status.as_u16(),
                    outcome,
                )
            };
            // Recorded before the answer leaves.
            self.jeto.audit(entry).await;
        }
        if let Some(metrics) = metrics {
            let seconds = started.elapsed().as_secs_f64();
            metrics.http_request(route, method_name(&method), status.as_u16(), seconds);
        }
        let path = path.as_deref().unwrap_or(&received);
        tracing::info!(
            client = source.as_deref().unwrap_or("-"),
            method = method_name(&method),
            route,
            path = %jeto_core::audit::bounded(path),
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

/// Makes a `Location` the handlers gave (`/api/...`) point under the mount prefix.
fn prefix_location(response: &mut Response<ApiBody>, prefix: &str) {
    let headers = response.headers_mut();
    if let Some(location) = headers
        .get(http::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .filter(|l| l.starts_with('/'))
        .and_then(|l| HeaderValue::from_str(&format!("{prefix}{l}")).ok())
    {
        headers.insert(http::header::LOCATION, location);
    }
}

/// Who asked about what, as far as [`dispatch`] got, for the audit log.
#[derive(Debug, Default)]
struct Asked {
    principal: Option<String>,
    instance: Option<u64>,
    /// The matched route's pattern.
    route: Option<&'static str>,
}

/// The method's name for logs and the audit: the standard ones, or `OTHER` (a client can send
/// any token as a method).
fn method_name(method: &Method) -> &'static str {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    KNOWN
        .iter()
        .find(|known| *known == method)
        .map_or("OTHER", |known| known.as_str())
}

/// The caller of a route that needs no key: none without one; a key that is sent is checked
/// (and a wrong one refused and audited) as on every other route, so these are no quiet place
/// to try keys.
async fn optional_principal(
    jeto: &Jeto,
    parts: &http::request::Parts,
) -> Result<Option<Principal>, ApiError> {
    let who = match (
        parts.extensions.get::<Principal>(),
        auth::key(&parts.headers),
    ) {
        (Some(who), _) => Some(who.clone()),
        (None, Some(key)) => Some(jeto.authenticate(Some(key)).await?),
        (None, None) => None,
    };
    if who.as_ref().is_some_and(|who| who.metrics_only) {
        return Err(metrics_only_key());
    }
    Ok(who)
}

/// The answer to a metrics-only key anywhere but `/metrics`.
fn metrics_only_key() -> ApiError {
    ApiError::from(jeto_core::Error::Forbidden {
        action: "use this route: this key reads /metrics only".into(),
    })
}

async fn dispatch<B>(
    jeto: &Jeto,
    lists: &ListCache,
    path: &str,
    links: Links<'_>,
    request: Request<B>,
    asked: &mut Asked,
) -> Result<Response<ApiBody>, ApiError>
where
    B: Body + Send,
    B::Data: Buf + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = request.into_parts();
    let (route, methods) = match_path(path)?;
    asked.route = Some(route.template());
    if !methods.contains(&parts.method.as_str()) {
        return Err(ApiError::method_not_allowed(&parts.method, methods));
    }
    let query = |allowed: &[&str]| Query::parse(parts.uri.query(), allowed);
    if let Some(auth::Refused(error)) = parts.extensions.get::<auth::Refused>() {
        return Err(error.clone());
    }
    match route {
        Route::Health => {
            // No key needed; an admin key also gets the provider's version.
            let who = optional_principal(jeto, &parts).await?;
            asked.principal = who.as_ref().map(|who| who.name.clone());
            query(&[])?;
            return Ok(meta::health(jeto, who.as_ref()).await);
        }
        Route::Ready => {
            let who = optional_principal(jeto, &parts).await?;
            asked.principal = who.as_ref().map(|who| who.name.clone());
            query(&[])?;
            return Ok(meta::ready(jeto, who.as_ref()).await);
        }
        Route::OpenApi => {
            query(&[])?;
            return Ok(openapi::response(links.prefix, links.document));
        }
        _ => {}
    }
    asked.instance = route.instance();
    // A layer in front (see `auth::AuthLayer`) may have authenticated the request already.
    let who = match parts.extensions.get::<Principal>() {
        Some(who) => who.clone(),
        None => jeto.authenticate(auth::key(&parts.headers)).await?,
    };
    asked.principal = Some(who.name.clone());
    if who.metrics_only && route != Route::Metrics {
        return Err(metrics_only_key());
    }
    let method = parts.method.clone();
    match (route, method) {
        (Route::Metrics, _) => {
            query(&[])?;
            meta::metrics(jeto, &who, parts.headers.get(http::header::ACCEPT)).await
        }
        (Route::UserUsage(id), _) => {
            query(&[])?;
            usage::user(jeto, &who, id).await
        }
        (Route::TeamUsage(id), _) => {
            query(&[])?;
            usage::team(jeto, &who, id).await
        }
        (Route::ProjectUsage(id), _) => {
            query(&[])?;
            usage::project(jeto, &who, id).await
        }
        (Route::Expiry(id), Method::PUT) => {
            query(&[])?;
            lifecycle::set(jeto, &who, id, read_json(&parts, body).await?).await
        }
        (Route::Expiry(id), _) => {
            query(&[])?;
            lifecycle::clear(jeto, &who, id).await
        }
        (Route::KeepUp(id), _) => {
            query(&[])?;
            lifecycle::keep_up(jeto, &who, id).await
        }
        (Route::Domains, Method::GET) => {
            query(&[])?;
            domains::list(jeto, &who).await
        }
        (Route::Domains, _) => {
            query(&[])?;
            domains::create(jeto, &who, read_json(&parts, body).await?).await
        }
        (Route::Domain(id), Method::GET) => {
            query(&[])?;
            domains::get(jeto, &who, id).await
        }
        (Route::Domain(id), Method::PUT) => {
            query(&[])?;
            domains::update(jeto, &who, id, read_json(&parts, body).await?).await
        }
        (Route::Domain(id), _) => {
            query(&[])?;
            domains::delete(jeto, &who, id).await
        }
        (Route::Webhooks, Method::GET) => {
            query(&[])?;
            webhooks::list(jeto, &who).await
        }
        (Route::Webhooks, _) => {
            query(&[])?;
            webhooks::create(jeto, &who, read_json(&parts, body).await?).await
        }
        (Route::Webhook(id), Method::GET) => {
            query(&[])?;
            webhooks::get(jeto, &who, id).await
        }
        (Route::Webhook(id), Method::PUT) => {
            query(&[])?;
            webhooks::update(jeto, &who, id, read_json(&parts, body).await?).await
        }
        (Route::Webhook(id), _) => {
            query(&[])?;
            webhooks::delete(jeto, &who, id).await
        }
        (Route::Deliveries(id), _) => {
            webhooks::deliveries(jeto, &who, id, &query(&["limit"])?).await
        }
        (Route::Delivery(id, did), _) => {
            query(&[])?;
            webhooks::send_again(jeto, &who, id, did).await
        }
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
        (Route::Instance(id), Method::PATCH) => {
            query(&[])?;
            instances::change(jeto, &who, id, read_json(&parts, body).await?).await
        }
        (Route::Instance(id), _) => instances::delete(jeto, &who, id, &query(&["force"])?).await,
        (Route::Commands(id), Method::GET) => {
            commands::list(jeto, &who, id, links, &query(&["limit", "before"])?).await
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
            commands::console(jeto, &who, id, cid, &query(&["follow", "after"])?).await
        }
        (Route::Hosts, Method::GET) => {
            query(&[])?;
            hosts::list(jeto, &who).await
        }
        (Route::Hosts, _) => {
            query(&[])?;
            hosts::create(jeto, &who, read_json(&parts, body).await?).await
        }
        (Route::Host(id), Method::GET) => {
            query(&[])?;
            hosts::get(jeto, &who, id).await
        }
        (Route::Host(id), Method::PUT) => {
            query(&[])?;
            hosts::update(jeto, &who, id, read_json(&parts, body).await?).await
        }
        (Route::Host(id), _) => {
            query(&[])?;
            hosts::delete(jeto, &who, id).await
        }
        (Route::Projects, Method::GET) => {
            query(&[])?;
            projects::list(jeto, &who).await
        }
        (Route::Projects, _) => {
            query(&[])?;
            projects::create(jeto, &who, read_json(&parts, body).await?).await
        }
        (Route::Project(id), Method::GET) => {
            query(&[])?;
            projects::get(jeto, &who, id).await
        }
        (Route::Project(id), Method::PUT) => {
            query(&[])?;
            projects::update(jeto, &who, id, read_json(&parts, body).await?).await
        }
        (Route::Project(id), _) => {
            query(&[])?;
            projects::delete(jeto, &who, id).await
        }
        (Route::Audit, _) => audit::list(jeto, &who, &query(&["limit", "before"])?).await,
        (Route::Machine(id), _) => {
            query(&[])?;
            let machine = path
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default();
            machines::get(jeto, &who, id, machine).await
        }
        (Route::Snapshots(id), _) => {
            query(&[])?;
            machines::snapshots(jeto, &who, id).await
        }
        (Route::Boxes(id), _) => hosts::boxes(jeto, &who, id, &query(&["outdated"])?).await,
        (Route::GlobalStatus, _) => {
            query(&[])?;
            hosts::global_status(jeto, &who).await
        }
        (Route::Workers(id), _) => {
            query(&[])?;
            hosts::workers(jeto, &who, id).await
        }
        (Route::Me, _) => {
            query(&[])?;
            Ok(meta::me(&who))
        }
        (Route::Users, Method::GET) => {
            query(&[])?;
            people::list_users(jeto, &who).await
        }
        (Route::Users, _) => {
            query(&[])?;
            people::create_user(jeto, &who, read_json(&parts, body).await?).await
        }
        (Route::User(id), Method::GET) => {
            query(&[])?;
            people::get_user(jeto, &who, id).await
        }
        (Route::User(id), Method::PUT) => {
            query(&[])?;
            people::update_user(jeto, &who, id, read_json(&parts, body).await?).await
        }
        (Route::User(id), _) => {
            query(&[])?;
            people::delete_user(jeto, &who, id).await
        }
        (Route::Teams, Method::GET) => {
            query(&[])?;
            people::list_teams(jeto, &who).await
        }
        (Route::Teams, _) => {
            query(&[])?;
            people::create_team(jeto, &who, read_json(&parts, body).await?).await
        }
        (Route::Team(id), Method::GET) => {
            query(&[])?;
            people::get_team(jeto, &who, id).await
        }
        (Route::Team(id), Method::PUT) => {
            query(&[])?;
            people::update_team(jeto, &who, id, read_json(&parts, body).await?).await
        }
        (Route::Team(id), _) => {
            query(&[])?;
            people::delete_team(jeto, &who, id).await
        }
        (Route::Keys, Method::GET) => {
            query(&[])?;
            keys::list(jeto, &who).await
        }
        (Route::Keys, _) => {
            query(&[])?;
            keys::create(jeto, &who, read_json(&parts, body).await?).await
        }
        (Route::Key(id), _) => {
            query(&[])?;
            keys::revoke(jeto, &who, id).await
        }
        (Route::Events, _) => {
            let query = query(&["after", "type", "instance"])?;
            events::stream(jeto, &who, &query, &parts.headers).await
        }
        (Route::Reload, _) => {
            query(&[])?;
            meta::reload(jeto, &who).await
        }
        (Route::Health | Route::OpenApi | Route::Ready, _) => unreachable!("answered above"),
    }
}
