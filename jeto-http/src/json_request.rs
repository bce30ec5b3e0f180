//! Reading a request body as JSON, capped at [`MAX_BODY`] bytes.

use bytes::Buf;
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

use crate::connection::BodyReadTimeout;
use crate::error::ApiError;

/// The largest request body accepted, in bytes.
pub const MAX_BODY: usize = 64 * 1024;

/// Reads a request body of at most [`MAX_BODY`] bytes (counted while reading: a declared
/// length alone can lie) and parses it as JSON into `T`.
pub async fn read_json<T, B>(parts: &http::request::Parts, body: B) -> Result<T, ApiError>
where
    T: DeserializeOwned,
    B: Body + Send,
    B::Data: Buf + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::new(
            http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "send the body as JSON with `Content-Type: application/json` (got {})",
                if content_type.is_empty() {
                    "no Content-Type".to_owned()
                } else {
                    format!("{content_type:?}")
                }
            ),
        ));
    }
    let collected = Limited::new(body, MAX_BODY).collect().await.map_err(|e| {
        if let Some(timeout) = e.downcast_ref::<BodyReadTimeout>() {
            ApiError::new(
                http::StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                timeout.to_string(),
            )
        } else if e.downcast_ref::<LengthLimitError>().is_some() {
            ApiError::new(
                http::StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the body is larger than {MAX_BODY} bytes; send a smaller JSON document"),
            )
        } else {
            ApiError::bad_request(format!("could not read the request body: {e}"))
        }
    })?;
    let bytes = collected.to_bytes();
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "the body is empty; send a JSON object",
        ));
    }
    // The error names the field it is about (`snapshot: invalid type ...`).
    let mut reader = serde_json::Deserializer::from_slice(&bytes);
    let value = serde_path_to_error::deserialize(&mut reader).map_err(|e| {
        let path = e.path().to_string();
        match path.as_str() {
            "." => ApiError::bad_request(format!("invalid JSON body: {}", e.inner())),
            _ => ApiError::bad_request(format!("invalid JSON body: {path}: {}", e.inner())),
        }
    })?;
    reader
        .end()
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    Ok(value)
}
