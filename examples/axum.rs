//! Jeto inside an axum application: the app's own authentication (a session header looked up
//! in its own table) puts a [`Principal`] into each request's extensions, and Jeto's API is
//! nested twice, at `/api` and at `/vagrant`, next to the app's own routes. Served by
//! [`jeto_http::serve`], which keeps graceful shutdown for the composed router.
//!
//! `cargo run --example axum` starts it on a free port, sends a few requests to itself and
//! exits; `cargo run --example axum -- --serve` keeps serving on 127.0.0.1:7880 (try
//! `curl -H 'x-session: s-alice' localhost:7880/vagrant/api/hosts`).

use std::collections::HashMap;
use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use jeto_core::access::{Permission, Principal};
use jeto_core::testing::InMemoryProvider;
use jeto_core::{Action, Jeto};
use jeto_http::JetoService;

/// The application's sessions: a session id to the Jeto principal of its user.
#[derive(Debug, Clone)]
pub struct Sessions(Arc<HashMap<String, Principal>>);

impl Sessions {
    /// `s-alice` is an operator (admin); `s-bob` sees host 1's instances and may only read,
    /// start and stop them.
    pub fn demo() -> Self {
        let mut bob = Principal::tenant("bob");
        bob.hosts.insert(1);
        bob.actions = Some(
            [Action::Status, Action::Start, Action::Stop]
                .map(Permission::Action)
                .into(),
        );
        Sessions(Arc::new(HashMap::from([
            ("s-alice".to_owned(), Principal::admin("alice")),
            ("s-bob".to_owned(), bob),
        ])))
    }
}

/// The app's authentication middleware: a known `x-session` becomes the request's
/// [`Principal`]; anything else is refused here, before Jeto sees it.
async fn authenticate(
    State(sessions): State<Sessions>,
    mut request: Request,
    next: Next,
) -> Response {
    let session = request
        .headers()
        .get("x-session")
        .and_then(|v| v.to_str().ok());
    match session.and_then(|s| sessions.0.get(s)) {
        Some(who) => {
            let who = who.clone();
            request.extensions_mut().insert(who);
            next.run(request).await
        }
        None => (
            http::StatusCode::UNAUTHORIZED,
            [(http::header::CONTENT_TYPE, "application/json")],
            r#"{"error":{"code":"unauthenticated","message":"send a valid x-session header; sign in at /login"}}"#,
        )
            .into_response(),
    }
}

/// The application: its own `/whoami`, and Jeto under `/api` and `/vagrant`, all behind the
/// session check.
pub fn app(jeto: Jeto, sessions: Sessions) -> Router {
    let service = JetoService::new(jeto);
    Router::new()
        .route(
            "/whoami",
            get(|request: Request| async move {
                request
                    .extensions()
                    .get::<Principal>()
                    .map(|who| who.name.clone())
                    .unwrap_or_default()
            }),
        )
        .nest_service("/api", service.clone().nested_at("/api"))
        .nest_service("/vagrant", service.nested_at("/vagrant"))
        .layer(middleware::from_fn_with_state(sessions, authenticate))
}

/// A Jeto over the in-memory provider with two instance folders.
pub async fn demo_jeto() -> Jeto {
    let provider = InMemoryProvider::new()
        .with_instance("/srv/shop", &["web", "db"])
        .with_instance("/srv/blog", &["default"]);
    Jeto::builder(Arc::new(provider))
        .build()
        .await
        .expect("an in-memory Jeto builds")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let jeto = demo_jeto().await;
    let keep_serving = std::env::args().any(|a| a == "--serve");
    let address = if keep_serving {
        "127.0.0.1:7880"
    } else {
        "127.0.0.1:0"
    };
    let listener = tokio::net::TcpListener::bind(address).await?;
    let address = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        jeto_http::serve(listener, app(jeto.clone(), Sessions::demo()))
            .stopping(jeto)
            .with_graceful_shutdown(
                async {
                    let _ = stopped.await;
                },
                Duration::from_secs(5),
            )
            .into_future(),
    );
    println!("serving on http://{address}");
    if keep_serving {
        tokio::signal::ctrl_c().await?;
    } else {
        let client = jeto_http::testing::TestClient::new(address, None);
        let refused = client.get("/whoami").await;
        println!("GET /whoami without a session: {}", refused.status);
        let alice = |path: &'static str| {
            let client = client.clone();
            async move {
                client
                    .send(http::Method::GET, path, &[("x-session", "s-alice")], "")
                    .await
            }
        };
        for path in ["/whoami", "/api/health", "/vagrant/api/hosts"] {
            let answer = alice(path).await;
            println!("GET {path} as alice: {} {}", answer.status, answer.text());
        }
    }
    let _ = stop.send(());
    server.await?;
    Ok(())
}
