//! Building JSON and text responses.

use http::{header, HeaderValue, Response, StatusCode};
use serde::Serialize;

use crate::ApiBody;

/// A JSON response.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response<ApiBody> {
    let bytes = match serde_json::to_vec(value) {
        Ok(bytes) => bytes,
        Err(error) => {
            tracing::error!(%error, "could not encode a response");
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "{\"error\":{\"code\":\"internal\",\"message\":\"could not encode the response\"}}",
            );
        }
    };
    let mut response = Response::new(ApiBody::full(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A response of already serialised JSON.
pub fn json_bytes(status: StatusCode, bytes: bytes::Bytes) -> Response<ApiBody> {
    let mut response = Response::new(ApiBody::full(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A JSON response with a `Location` header.
pub fn created<T: Serialize + ?Sized>(
    status: StatusCode,
    location: &str,
    value: &T,
) -> Response<ApiBody> {
    let mut response = json(status, value);
    if let Ok(location) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<ApiBody> {
    let mut response = Response::new(ApiBody::full(text));
    *response.status_mut() = status;
    response
}

/// A plain text response (or stream) of console output.
pub fn text(body: ApiBody) -> Response<ApiBody> {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
