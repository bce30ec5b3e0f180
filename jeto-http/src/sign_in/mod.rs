//! Sign-in through an OpenID Connect provider: [`SignIn`], a tower layer in front of the API.
//!
//! - `GET /auth/login` sends the browser to the provider (authorization code flow with PKCE,
//!   a `state` bound to this browser by a cookie, a `nonce`);
//! - `GET /auth/callback` takes the code back, trades it for an ID token, checks the token
//!   ([`OidcConfig`] says who may sign in and who is admin), and opens a server-side session
//!   in an `HttpOnly`, `SameSite=Lax` cookie (`Secure` behind an https `redirect_url`);
//! - `POST /auth/logout` ends it; `GET /auth/config` tells the dashboard what to offer.
//!
//! Requests with the session cookie act for the signed-in user, worked out again at every
//! request (a grant removed counts at once). A request that changes something must also send
//! the session's CSRF token (readable by the page in the `jeto_csrf` cookie) in `X-Jeto-Csrf`,
//! which a cross-site form or script cannot. A bearer token from the same provider
//! (`Authorization: Bearer <JWT>`) is checked the same way and acts for its user (or for the
//! user `[oidc.services]` maps its subject to). An access key, when sent, wins over both.

mod config;
mod provider;
mod sessions;
mod tokens;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine;
use http::request::Parts;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use jeto_core::access::people::Identity;
use jeto_core::audit::AuditEntry;
use jeto_core::Jeto;
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

pub use config::OidcConfig;

use crate::auth::{self, Refused};
use crate::{ApiBody, ApiError};
use provider::IdentityProvider;
use sessions::{random_token, Full, Sessions, PENDING_FOR};
use tokens::TokenError;

/// The session cookie (`HttpOnly`).
pub const SESSION_COOKIE: &str = "jeto_session";
/// The cookie the page reads its CSRF token from.
pub const CSRF_COOKIE: &str = "jeto_csrf";
/// The header a cookie-signed-in request that changes something carries the CSRF token in.
pub const CSRF_HEADER: &str = "x-jeto-csrf";
/// The cookie binding a sign-in in progress to the browser that started it.
const BROWSER_COOKIE: &str = "jeto_sign_in";

/// Sign-in with an OpenID provider, as a tower layer over the API (inside the
/// [`crate::Dashboard`]): it answers `/auth/...`, and puts the signed-in user's
/// [`jeto_core::access::Principal`] in other requests.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # use std::sync::Arc;
/// use jeto_http::sign_in::{OidcConfig, SignIn};
/// use tower_layer::Layer;
/// use tower_service::Service;
///
/// # let jeto = jeto_core::Jeto::builder(Arc::new(jeto_core::testing::InMemoryProvider::new())).build().await.unwrap();
/// let config = OidcConfig::new("https://id.example.org", "jeto", "https://jeto.example.org/auth/callback");
/// let sign_in = SignIn::new(config, jeto.clone()).unwrap();
/// let mut site = jeto_http::Dashboard::new(sign_in.layer(jeto_http::JetoService::new(jeto)));
/// let page = site.call(http::Request::get("/auth/config").body(http_body_util::Empty::<bytes::Bytes>::new()).unwrap()).await.unwrap();
/// assert_eq!(page.status(), 200);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct SignIn {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    config: OidcConfig,
    secret: Option<String>,
    provider: IdentityProvider,
    sessions: Sessions,
    jeto: Jeto,
    secure: bool,
}

impl SignIn {
    /// Sign-in with the provider `config` names, for `jeto`'s users. The provider is reached
    /// at the first sign-in, not here: the server starts while it is away. The error names
    /// the setting at fault.
    pub fn new(config: OidcConfig, jeto: Jeto) -> Result<Self, String> {
        config.check()?;
        let secret = config.secret()?;
        let provider = IdentityProvider::new(&config.issuer)?;
        let sessions = Sessions::new(
            config.max_pending_sign_ins,
            config.max_sessions,
            Duration::from_secs(config.session_secs),
        );
        let secure = config.redirect_url.starts_with("https:");
        Ok(SignIn {
            shared: Arc::new(Shared {
                config,
                secret,
                provider,
                sessions,
                jeto,
                secure,
            }),
        })
    }
}

impl<S> tower_layer::Layer<S> for SignIn {
    type Service = SignInService<S>;

    fn layer(&self, inner: S) -> SignInService<S> {
        SignInService {
            sign_in: self.clone(),
            inner,
        }
    }
}

/// The service [`SignIn`] makes.
#[derive(Debug, Clone)]
pub struct SignInService<S> {
    sign_in: SignIn,
    inner: S,
}

impl<S, B> tower_service::Service<Request<B>> for SignInService<S>
where
    S: tower_service::Service<Request<B>, Response = Response<ApiBody>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = Response<ApiBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ApiBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.sign_in.shared.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let own = match parts.uri.path() {
                "/auth/login" => Some(shared.login(&parts).await),
                "/auth/callback" => Some(shared.callback(&parts).await),
                "/auth/logout" => Some(shared.logout(&parts)),
                "/auth/config" => Some(shared.describe(&parts)),
                _ => None,
            };
            if let Some(response) = own {
                let mut response = response.unwrap_or_else(ApiError::into_response);
                let headers = response.headers_mut();
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                headers.insert(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                );
                return Ok(response);
            }
            match shared.authenticate(&parts).await {
                Ok(Some(who)) => {
                    parts.extensions.insert(who);
                }
                Ok(None) => {}
                Err(error) => {
                    parts.extensions.insert(Refused(error));
                }
            }
            inner.call(Request::from_parts(parts, body)).await
        })
    }
}

type Answer = Result<Response<ApiBody>, ApiError>;

impl Shared {
    /// `GET /auth/config`: what the dashboard offers.
    fn describe(&self, parts: &Parts) -> Answer {
        only(parts, Method::GET)?;
        let body = serde_json::json!({
            "oidc": { "name": self.config.display_name, "login": "/auth/login" }
        });
        Ok(crate::response::json(StatusCode::OK, &body))
    }

    /// `GET /auth/login`: to the provider.
    async fn login(&self, parts: &Parts) -> Answer {
        only(parts, Method::GET)?;
        let metadata = self.provider.metadata().await.map_err(unavailable)?;
        let no_randomness = |_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_error",
                "no randomness from the system",
            )
        };
        let state = random_token().map_err(no_randomness)?;
        let nonce = random_token().map_err(no_randomness)?;
        let verifier = random_token().map_err(no_randomness)?;
        let browser = random_token().map_err(no_randomness)?;
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes()));
        self.sessions
            .start(&state, &browser, nonce.clone(), verifier)
            .map_err(full)?;
        let mut url = reqwest::Url::parse(&metadata.authorization_endpoint).map_err(|e| {
            unavailable(format!(
                "the provider's authorization_endpoint is no URL: {e}"
            ))
        })?;
        let mut scopes = vec!["openid".to_owned()];
        scopes.extend(
            self.config
                .scopes
                .iter()
                .filter(|s| *s != "openid")
                .cloned(),
        );
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", &self.config.redirect_url)
            .append_pair("scope", &scopes.join(" "))
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        let mut response = redirect(url.as_str());
        self.set_cookie(
            &mut response,
            BROWSER_COOKIE,
            &browser,
            "/auth",
            PENDING_FOR.as_secs(),
            true,
        );
        Ok(response)
    }

    /// `GET /auth/callback`: the provider's answer; a session, or a page saying why not.
    async fn callback(&self, parts: &Parts) -> Answer {
        only(parts, Method::GET)?;
        let answer = self.finish_sign_in(parts).await;
        let (principal, status, outcome) = match &answer {
            Ok((name, _)) => (Some(name.clone()), 303, "ok"),
            Err(error) => (None, error.status.as_u16(), error.code),
        };
        self.jeto
            .audit(AuditEntry::new(
                principal,
                "GET",
                "/auth/callback",
                status,
                outcome,
            ))
            .await;
        let (_, mut response) = answer?;
        self.set_cookie(&mut response, BROWSER_COOKIE, "", "/auth", 0, true);
        Ok(response)
    }

    async fn finish_sign_in(&self, parts: &Parts) -> Result<(String, Response<ApiBody>), ApiError> {
        let query: Vec<(String, String)> =
            form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let param = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        if let Some(error) = param("error") {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "sign_in_refused",
                format!(
                    "the identity provider did not sign you in ({}: {}); go back to / and try again",
                    bounded(error),
                    bounded(param("error_description").unwrap_or("no description"))
                ),
            ));
        }
        let (Some(state), Some(code)) = (param("state"), param("code")) else {
            return Err(ApiError::bad_request(
                "the provider's answer has no state or no code: start signing in at /auth/login",
            ));
        };
        let pending = self.sessions.finish(state).ok_or_else(|| {
            ApiError::bad_request(
                "this sign-in is unknown, was used already, or is older than 10 minutes: start again at /auth/login",
            )
        })?;
        let browser = cookie(&parts.headers, BROWSER_COOKIE).unwrap_or_default();
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            &sessions::digest(browser)[..],
            &pending.browser[..],
        )) {
            return Err(ApiError::bad_request(
                "this sign-in was started in another browser (or its cookie was lost): start again at /auth/login",
            ));
        }
        let tokens = self
            .provider
            .exchange(
                &self.config.client_id,
                self.secret.as_deref(),
                code,
                &pending.verifier,
                &self.config.redirect_url,
            )
            .await
            .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, "provider_error", e.to_string()))?;
        let claims = tokens::validate(
            &self.provider,
            &tokens.id_token,
            std::slice::from_ref(&self.config.client_id),
            &self.config.client_id,
            Some(&pending.nonce),
        )
        .await
        .map_err(refused_token)?;
        let mut identity = self.identity(&claims, "sign-in", None)?;
        let lasts = time::Duration::try_from(self.sessions.lasts()).unwrap_or(time::Duration::MAX);
        identity.expires_at = OffsetDateTime::now_utc().checked_add(lasts);
        let principal = self
            .jeto
            .identity_principal(&identity)
            .await
            .map_err(ApiError::from)?;
        let (session, csrf) = self
            .sessions
            .open(identity)
            .map_err(|_| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_error",
                    "no randomness from the system",
                )
            })?
            .map_err(full)?;
        tracing::info!(principal = %principal.name, "signed in");
        let mut response = redirect("/#/instances");
        let secs = self.config.session_secs;
        self.set_cookie(&mut response, SESSION_COOKIE, &session, "/", secs, true);
        self.set_cookie(&mut response, CSRF_COOKIE, &csrf, "/", secs, false);
        Ok((principal.name, response))
    }

    /// `POST /auth/logout`: ends the session (with its CSRF token) and clears the cookies.
    fn logout(&self, parts: &Parts) -> Answer {
        only(parts, Method::POST)?;
        if let Some(value) = cookie(&parts.headers, SESSION_COOKIE) {
            if let Some(session) = self.sessions.get(value) {
                check_csrf(&parts.headers, &session.csrf)?;
                self.sessions.close(value);
                tracing::info!(user = %session.identity.name, "signed out");
            }
        }
        let mut response = Response::new(ApiBody::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        self.set_cookie(&mut response, SESSION_COOKIE, "", "/", 0, true);
        self.set_cookie(&mut response, CSRF_COOKIE, "", "/", 0, false);
        Ok(response)
    }

    /// The principal of an API request signed in by session cookie or bearer token; `None`
    /// when it has neither (or an access key, which the API checks itself).
    async fn authenticate(
        &self,
        parts: &Parts,
    ) -> Result<Option<jeto_core::access::Principal>, ApiError> {
        if parts
            .extensions
            .get::<jeto_core::access::Principal>()
            .is_some()
        {
            return Ok(None);
        }
        if let Some(key) = auth::key(&parts.headers) {
            let bearer = parts.headers.contains_key(header::AUTHORIZATION)
                && !parts.headers.contains_key(auth::KEY_HEADER);
            if !(bearer && looks_like_jwt(key)) {
                return Ok(None);
            }
            let audiences = self.config.audiences();
            if audiences.is_empty() {
                return Err(unauthenticated("bearer tokens from the identity provider are not accepted here ([oidc] bearer_audiences is empty): use an access key"));
            }
            let claims = tokens::validate(
                &self.provider,
                key,
                &audiences,
                &self.config.client_id,
                None,
            )
            .await
            .map_err(|e| unauthenticated(&format!("the bearer token was refused: {e}")))?;
            let expires = claims
                .get("exp")
                .and_then(Value::as_i64)
                .and_then(|exp| OffsetDateTime::from_unix_timestamp(exp).ok());
            let identity = self.identity(&claims, "token", expires)?;
            return self
                .jeto
                .identity_principal(&identity)
                .await
                .map(Some)
                .map_err(ApiError::from);
        }
        let Some(value) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Ok(None);
        };
        let session = self.sessions.get(value).ok_or_else(|| {
            unauthenticated("your sign-in has ended (it expired, or you signed out): sign in again")
        })?;
        if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            check_csrf(&parts.headers, &session.csrf)?;
        }
        self.jeto
            .identity_principal(&session.identity)
            .await
            .map(Some)
            .map_err(ApiError::from)
    }

    /// Who the provider's claims name, by the sign-in rules.
    fn identity(
        &self,
        claims: &tokens::Claims,
        how: &str,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<Identity, ApiError> {
        let config = &self.config;
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let service = (how == "token")
            .then(|| config.services.get(subject))
            .flatten();
        let name = match service {
            Some(user) => user.clone(),
            None => claims
                .get(&config.username_claim)
                .and_then(Value::as_str)
                .filter(|name| !name.is_empty())
                .ok_or_else(|| {
                    forbidden(format!(
                        "the provider's token has no {:?} claim to name the user: set [oidc] username_claim, or map the subject {:?} in [oidc.services]",
                        config.username_claim,
                        bounded(subject)
                    ))
                })?
                .to_owned(),
        };
        if service.is_none()
            && config.username_claim == "email"
            && claims.get("email_verified") == Some(&Value::Bool(false))
        {
            return Err(forbidden(format!(
                "the provider has not verified the e-mail address {}: verify it there, then sign in again",
                bounded(&name)
            )));
        }
        let groups: Vec<String> = match config.groups_claim.as_ref().and_then(|c| claims.get(c)) {
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect(),
            Some(Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        };
        let in_any = |wanted: &[String]| groups.iter().any(|g| wanted.contains(g));
        let mut identity = Identity::new(name, how);
        identity.admin =
            config.admin_users.contains(&identity.name) || in_any(&config.admin_groups);
        identity.may_join = identity.admin
            || config.allowed_users.contains(&identity.name)
            || in_any(&config.allowed_groups);
        identity.groups = groups
            .iter()
            .map(|g| config.group_teams.get(g).unwrap_or(g).clone())
            .collect();
        identity.expires_at = expires_at;
        Ok(identity)
    }

    fn set_cookie(
        &self,
        response: &mut Response<ApiBody>,
        name: &str,
        value: &str,
        path: &str,
        max_age: u64,
        http_only: bool,
    ) {
        let mut cookie = format!("{name}={value}; Path={path}; Max-Age={max_age}; SameSite=Lax");
        if http_only {
            cookie.push_str("; HttpOnly");
        }
        if self.secure {
            cookie.push_str("; Secure");
        }
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
}

/// The value of cookie `name` in the request.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

fn check_csrf(headers: &HeaderMap, expected: &str) -> Result<(), ApiError> {
    let given = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if bool::from(subtle::ConstantTimeEq::ct_eq(
        given.as_bytes(),
        expected.as_bytes(),
    )) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "this request came with the sign-in cookie but without the session's X-Jeto-Csrf header (the value of the jeto_csrf cookie): requests from other sites are refused",
        ))
    }
}

/// Three base64url parts: a JWT, not an access key.
fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.split('.').count() == 3
}

fn only(parts: &Parts, method: Method) -> Result<(), ApiError> {
    if parts.method == method {
        Ok(())
    } else {
        Err(ApiError::method_not_allowed(
            &parts.method,
            &[method.as_str()],
        ))
    }
}

fn redirect(location: &str) -> Response<ApiBody> {
    let mut response = Response::new(ApiBody::empty());
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn bounded(text: &str) -> String {
    jeto_core::audit::bounded(text).to_string()
}

fn unavailable(error: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "provider_unavailable",
        format!("sign-in is not possible right now: {error}"),
    )
}

fn unauthenticated(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
}

fn forbidden(message: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "sign_in_refused", message)
}

fn refused_token(error: TokenError) -> ApiError {
    match error {
        TokenError::Provider(error) => unavailable(error),
        other => ApiError::new(
            StatusCode::FORBIDDEN,
            "sign_in_refused",
            format!("the sign-in was refused: {other}"),
        ),
    }
}

fn full(full: Full) -> ApiError {
    match full {
        Full::Pending(max) => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "limit_reached",
            format!("{max} sign-ins are in progress already ([oidc] max_pending_sign_ins): try again in a few minutes"),
        ),
        Full::Sessions(max) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "limit_reached",
            format!("{max} people are signed in already ([oidc] max_sessions): try again later, or ask an admin to raise the limit"),
        ),
    }
}
