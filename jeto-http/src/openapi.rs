//! `GET /api/openapi.json`: the OpenAPI 3 description of every route (kept true by a test
//! that compares it with [`crate::routes::ROUTES`]).

use http::{header, HeaderValue, Response};

use crate::ApiBody;

/// The document, as served.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// The response of `GET /api/openapi.json`.
pub fn response() -> Response<ApiBody> {
    let mut response = Response::new(ApiBody::full(OPENAPI_JSON));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::ROUTES;

    #[test]
    fn every_route_is_documented_and_nothing_else() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI_JSON).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        let mut documented: Vec<(String, String)> = paths
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| *k != "parameters")
                    .map(move |method| (path.clone(), method.to_uppercase()))
            })
            .collect();
        let mut routed: Vec<(String, String)> = ROUTES
            .iter()
            .flat_map(|(path, methods)| {
                methods
                    .iter()
                    .map(move |m| (path.to_string(), m.to_string()))
            })
            .collect();
        documented.sort();
        routed.sort();
        assert_eq!(documented, routed);
    }
}
