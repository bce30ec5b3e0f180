//! Who is asking. [`crate::JetoService`] acts for the [`Principal`] it finds in the request's
//! extensions; with none there it checks the access key itself: `X-JETO-KEY: KEY` (the
//! original header) or `Authorization: Bearer KEY`, against the service's
//! [`jeto_core::access::AccessPolicy`].
//!
//! To authenticate another way (sessions, mTLS, an identity proxy, an async lookup), put a
//! layer in front that inserts the [`Principal`]: [`AuthLayer`] over an [`Authenticate`], or
//! any middleware of your own (see `examples/axum.rs`). Extensions never come from the wire, so
//! a client cannot forge one.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::request::Parts;
use http::{HeaderMap, Request};
use jeto_core::access::{AccessPolicy, Principal};

/// A request a layer in front refused to authenticate (a session cookie without its CSRF
/// token, a bearer token that does not check out): the API answers with this error, and
/// audits it, instead of looking for a key.
#[derive(Debug, Clone)]
pub(crate) struct Refused(pub(crate) crate::ApiError);

/// The original Jeto's header.
pub const KEY_HEADER: &str = "x-jeto-key";

/// The key sent with a request, if any.
pub fn key(headers: &HeaderMap) -> Option<&str> {
    if let Some(key) = headers.get(KEY_HEADER).and_then(|v| v.to_str().ok()) {
        return Some(key.trim());
    }
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Turns a request's head into the [`Principal`] it acts for; may be async (a database or an
/// identity service). `None` leaves the request unauthenticated: the service then falls back
/// to its key check, and answers 401 without a valid key.
pub trait Authenticate: Clone + Send + Sync + 'static {
    /// The principal of this request, if any.
    fn authenticate(&self, parts: &Parts) -> impl Future<Output = Option<Principal>> + Send;
}

/// The built-in key check as an [`Authenticate`]: the request's key against a policy.
#[derive(Debug, Clone)]
pub struct KeyAuth(pub Arc<dyn AccessPolicy>);

impl Authenticate for KeyAuth {
    async fn authenticate(&self, parts: &Parts) -> Option<Principal> {
        self.0.authenticate(key(&parts.headers)?)
    }
}

/// A tower layer that authenticates each request with an [`Authenticate`] and puts the
/// [`Principal`] into its extensions, where [`crate::JetoService`] reads it.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use jeto_core::access::Principal;
/// use jeto_http::auth::{AuthLayer, Authenticate};
/// use tower_layer::Layer;
/// use tower_service::Service;
///
/// /// Trusts a header set by the reverse proxy in front (which strips it from clients).
/// #[derive(Clone)]
/// struct ProxyUser;
/// impl Authenticate for ProxyUser {
///     async fn authenticate(&self, parts: &http::request::Parts) -> Option<Principal> {
///         let user = parts.headers.get("x-proxy-user")?.to_str().ok()?;
///         Some(Principal::admin(user))
///     }
/// }
///
/// let jeto = jeto_core::Jeto::builder(Arc::new(jeto_core::testing::InMemoryProvider::new()))
///     .build().await.unwrap();
/// let mut service = AuthLayer::new(ProxyUser).layer(jeto_http::JetoService::new(jeto));
/// let request = http::Request::get("/api/hosts")
///     .header("x-proxy-user", "alice")
///     .body(http_body_util::Empty::<bytes::Bytes>::new())
///     .unwrap();
/// assert_eq!(service.call(request).await.unwrap().status(), 200);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct AuthLayer<A> {
    authenticator: A,
}

impl<A> AuthLayer<A> {
    /// A layer authenticating with `authenticator`.
    pub fn new(authenticator: A) -> Self {
        AuthLayer { authenticator }
    }
}

impl<S, A: Clone> tower_layer::Layer<S> for AuthLayer<A> {
    type Service = AuthService<S, A>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            authenticator: self.authenticator.clone(),
        }
    }
}

/// The service [`AuthLayer`] makes.
#[derive(Debug, Clone)]
pub struct AuthService<S, A> {
    inner: S,
    authenticator: A,
}

impl<S, A, B> tower_service::Service<Request<B>> for AuthService<S, A>
where
    S: tower_service::Service<Request<B>> + Clone + Send + 'static,
    S::Future: Send,
    A: Authenticate,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The clone is not ready; the readied one serves this request (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let authenticator = self.authenticator.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            if let Some(who) = authenticator.authenticate(&parts).await {
                parts.extensions.insert(who);
            }
            inner.call(Request::from_parts(parts, body)).await
        })
    }
}
