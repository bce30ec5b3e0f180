//! [`Dashboard`]: the web page for people, at `/`, in front of the API.
//!
//! Plain HTML, CSS and JavaScript modules built into the binary (no Node toolchain to build
//! or run it). The page holds the access key in the browser session only and does everything
//! through the documented API with it, so it shows and does exactly what the key may.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{header, HeaderValue, Method, Request, Response, StatusCode};

use crate::ApiBody;

/// One file of the page.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_str!("assets/index.html"),
    },
    Asset {
        path: "/dashboard/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("assets/style.css"),
    },
    Asset {
        path: "/dashboard/api.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("assets/api.js"),
    },
    Asset {
        path: "/dashboard/dom.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("assets/dom.js"),
    },
    Asset {
        path: "/dashboard/page.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("assets/page.js"),
    },
    Asset {
        path: "/dashboard/signin.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("assets/signin.js"),
    },
    Asset {
        path: "/dashboard/instances.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("assets/instances.js"),
    },
    Asset {
        path: "/dashboard/instance.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("assets/instance.js"),
    },
    Asset {
        path: "/dashboard/catalog.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("assets/catalog.js"),
    },
    Asset {
        path: "/dashboard/create.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("assets/create.js"),
    },
    Asset {
        path: "/dashboard/keys.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("assets/keys.js"),
    },
    Asset {
        path: "/dashboard/people.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("assets/people.js"),
    },
    Asset {
        path: "/dashboard/webhooks.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("assets/webhooks.js"),
    },
    Asset {
        path: "/dashboard/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("assets/app.js"),
    },
];

/// Only the page's own files run, and nothing else can frame or load it: data shown on the
/// page can never become code.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// Serves the dashboard's files at `/` and `/dashboard/...`, and passes every other request
/// to the service it wraps (the API).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # use std::sync::Arc;
/// use tower_service::Service;
/// # let jeto = jeto_core::Jeto::builder(Arc::new(jeto_core::testing::InMemoryProvider::new())).build().await.unwrap();
/// let mut site = jeto_http::Dashboard::new(jeto_http::JetoService::new(jeto));
/// let page = site.call(http::Request::get("/").body(http_body_util::Empty::<bytes::Bytes>::new()).unwrap()).await.unwrap();
/// assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
/// let api = site.call(http::Request::get("/api/health").body(http_body_util::Empty::<bytes::Bytes>::new()).unwrap()).await.unwrap();
/// assert_eq!(api.status(), 200);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct Dashboard<S> {
    inner: S,
}

impl<S> Dashboard<S> {
    /// The dashboard in front of `inner`.
    pub fn new(inner: S) -> Self {
        Dashboard { inner }
    }
}

/// The dashboard's answer to `request`, when it is for one of its files.
fn asset<B>(request: &Request<B>) -> Option<Response<ApiBody>> {
    let path = request.uri().path();
    let asset = ASSETS.iter().find(|a| a.path == path)?;
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = Response::new(ApiBody::full("only GET"));
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Some(response);
    }
    let mut response = Response::new(ApiBody::full(asset.body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    // Revalidated on every load: a new binary's page is never mixed with an old one's.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Some(response)
}

impl<S, B> tower_service::Service<Request<B>> for Dashboard<S>
where
    S: tower_service::Service<Request<B>, Response = Response<ApiBody>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response<ApiBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ApiBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        match asset(&request) {
            Some(response) => Box::pin(async move { Ok(response) }),
            None => Box::pin(self.inner.call(request)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, path: &str) -> Request<()> {
        Request::builder()
            .method(method)
            .uri(path)
            .body(())
            .unwrap()
    }

    #[test]
    fn files_come_with_a_policy_that_only_runs_the_pages_own_scripts() {
        for file in ASSETS {
            let response = asset(&request(Method::GET, file.path)).unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{}", file.path);
            let headers = response.headers();
            assert_eq!(headers[header::CONTENT_TYPE], file.content_type);
            let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
            assert!(policy.contains("script-src 'self'") && !policy.contains("unsafe"));
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        }
    }

    #[test]
    fn only_reads_are_answered_and_other_paths_are_not_its_own() {
        let refused = asset(&request(Method::POST, "/")).unwrap();
        assert_eq!(refused.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert!(asset(&request(Method::GET, "/api/health")).is_none());
        assert!(asset(&request(Method::GET, "/dashboard/missing.js")).is_none());
    }

    #[test]
    fn the_page_never_writes_data_as_markup() {
        for asset in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
            ] {
                assert!(!asset.body.contains(sink), "{} uses {sink}", asset.path);
            }
        }
    }
}
