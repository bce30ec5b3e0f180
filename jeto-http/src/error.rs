//! [`ApiError`]: every failure as a JSON response `{"error": {"code", "message"}}`.

use http::{header, HeaderValue, Response, StatusCode};
use jeto_core::{Command, Error, ErrorKind, InstanceView};

use crate::answers::{ErrorBody, ErrorDetail};
use crate::ApiBody;

/// An error answer: a status, a stable snake_case code, a message a person can act on, and
/// for a command that did not succeed the command (and the instance) beside `error`.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable snake_case code.
    pub code: &'static str,
    /// What went wrong and what to do.
    pub message: String,
    /// The command that did not succeed, when that is the error.
    pub command: Option<Box<Command>>,
    /// The instance after a failed synchronous action.
    pub instance: Option<Box<InstanceView>>,
    /// Extra headers (`Allow`, `WWW-Authenticate`).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            command: None,
            instance: None,
            headers: Vec::new(),
        }
    }

    /// A 400 with this message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// A 404 for a path that is no route.
    pub fn no_route(path: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "no route {}; see GET /api/openapi.json for the routes",
                jeto_core::audit::bounded(path)
            ),
        )
    }

    /// A 405 with the `Allow` header.
    pub fn method_not_allowed(method: &http::Method, allowed: &[&str]) -> Self {
        let allow = allowed.join(", ");
        let mut error = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{method} is not allowed here; allowed: {allow}"),
        );
        if let Ok(value) = HeaderValue::from_str(&allow) {
            error.headers.push((header::ALLOW, value));
        }
        error
    }

    /// The same error carrying the command it is about.
    pub fn with_command(mut self, command: Command) -> Self {
        self.command = Some(Box::new(command));
        self
    }

    /// The same error carrying the instance as it is now.
    pub fn with_instance(mut self, instance: InstanceView) -> Self {
        self.instance = Some(Box::new(instance));
        self
    }

    /// The response.
    pub fn into_response(self) -> Response<ApiBody> {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
            command: self.command,
            instance: self.instance,
        };
        let mut response = crate::response::json(self.status, &body);
        response.headers_mut().extend(self.headers);
        response
    }
}

/// The HTTP status of each kind of core error.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidRequest => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::ActionFailed => StatusCode::BAD_GATEWAY,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::LimitReached => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<jeto_core::UnknownAction> for ApiError {
    fn from(unknown: jeto_core::UnknownAction) -> Self {
        Error::from(unknown).into()
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        let status = status_of(error.kind());
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %error, source = ?std::error::Error::source(&error), "request failed");
        } else if status.is_server_error() {
            // Unavailable, a provider's failure, a timeout: the server works as designed.
            tracing::warn!(error = %error, "request failed");
        }
        let mut api = ApiError::new(status, error.code(), error.to_string());
        if let Some(after) = error.retry_after() {
            // Whole seconds, at least one: what `Retry-After` can say.
            let seconds = after.as_secs().max(1);
            api.headers
                .push((header::RETRY_AFTER, HeaderValue::from(seconds)));
        }
        if status == StatusCode::UNAUTHORIZED {
            api.headers
                .push((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        api
    }
}
