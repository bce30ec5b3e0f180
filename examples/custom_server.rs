//! A custom server on Jeto: its own route (`GET /version`) and its own `AccessPolicy` (keys
//! of the form `team-NAME`, each team seeing the instances of its host), next to Jeto's
//! routes, served with plain hyper.
//!
//! `cargo run --example custom_server` starts it on a free port, sends a few requests to
//! itself and exits; `cargo run --example custom_server -- --serve` keeps serving on
//! 127.0.0.1:7879.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use jeto_core::access::{AccessPolicy, Permission, Principal};
use jeto_core::service::CreateInstance;
use jeto_core::testing::InMemoryProvider;
use jeto_core::Host;
use jeto_core::{Action, Jeto};
use jeto_http::testing::TestClient;
use jeto_http::{ApiBody, JetoService};

/// Teams authenticate with `team-NAME`; team `ops` is admin, others see host `NAME`'s
/// instances (hosts are numbered in the order of `TEAMS`) and may only start, stop and read.
#[derive(Debug)]
struct TeamPolicy;

const TEAMS: [&str; 2] = ["web", "data"];

impl AccessPolicy for TeamPolicy {
    fn authenticate(&self, key: &str) -> Option<Principal> {
        let team = key.strip_prefix("team-")?;
        if team == "ops" {
            return Some(Principal::admin("ops"));
        }
        let host = TEAMS.iter().position(|t| *t == team)? as u64 + 1;
        let mut who = Principal::tenant(team);
        who.hosts.insert(host);
        who.actions = Some(
            [Action::Status, Action::Start, Action::Stop]
                .map(Permission::Action)
                .into(),
        );
        Some(who)
    }
}

/// Jeto's routes plus `/version`.
#[derive(Debug, Clone)]
struct CustomService {
    jeto: JetoService,
}

impl tower_service::Service<Request<hyper::body::Incoming>> for CustomService {
    type Response = Response<ApiBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ApiBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<hyper::body::Incoming>) -> Self::Future {
        if request.uri().path() == "/version" {
            let body = format!(
                "{{\"server\":\"custom\",\"jeto\":\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            );
            return Box::pin(async move { Ok(Response::new(ApiBody::full(body))) });
        }
        let jeto = self.jeto.clone();
        Box::pin(async move { Ok(jeto.handle(request).await) })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keep_serving = std::env::args().any(|a| a == "--serve");
    let provider = InMemoryProvider::new()
        .with_instance("/srv/web", &["www", "db"])
        .with_instance("/srv/data", &["default"]);
    let jeto = Jeto::builder(Arc::new(provider))
        .policy(Arc::new(TeamPolicy))
        .build()
        .await?;
    let ops = Principal::admin("setup");
    for (team, path) in TEAMS.iter().zip(["/srv/web", "/srv/data"]) {
        let host = jeto.create_host(&ops, Host::new(*team, "memory")).await?;
        let request = CreateInstance::from_path(team.to_string(), host.id, path);
        jeto.create_instance(&ops, request).await?;
    }

    let address = if keep_serving {
        "127.0.0.1:7879"
    } else {
        "127.0.0.1:0"
    };
    let listener = tokio::net::TcpListener::bind(address).await?;
    let local = listener.local_addr()?;
    println!("custom server on http://{local}");
    let service = CustomService {
        jeto: JetoService::new(jeto),
    };
    let server = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    if keep_serving {
        server.await?;
        return Ok(());
    }

    let web = TestClient::new(local, Some("team-web"));
    println!("GET /version -> {}", web.get("/version").await.text());
    let listed = web.get("/api/instances").await.json();
    println!(
        "team-web sees instances {:?}",
        listed
            .as_array()
            .unwrap()
            .iter()
            .map(|i| &i["name"])
            .collect::<Vec<_>>()
    );
    let start = web
        .post(
            "/api/instances/1",
            &serde_json::json!({"state": "start", "machine": "www"}),
        )
        .await;
    println!(
        "team-web start www -> {} {}",
        start.status,
        start.json()["command"]["status"]
    );
    let reload = web
        .post("/api/instances/1", &serde_json::json!({"state": "reload"}))
        .await;
    println!(
        "team-web reload -> {} {}",
        reload.status,
        reload.json()["error"]["message"]
    );
    let other = web.get("/api/instances/2").await;
    println!("team-web GET another team's instance -> {}", other.status);
    assert_eq!(
        (
            start.status.as_u16(),
            reload.status.as_u16(),
            other.status.as_u16()
        ),
        (200, 403, 404)
    );
    Ok(())
}
