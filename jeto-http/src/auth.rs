//! The access key of a request: `X-JETO-KEY: KEY` (the original header) or
//! `Authorization: Bearer KEY`.

use http::HeaderMap;

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
