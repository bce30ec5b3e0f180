//! The service called in-process (no socket): the list cache never serves a stale list.

use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use jeto_core::access::{TokenConfig, TokenPolicy};
use jeto_core::testing::InMemoryProvider;
use jeto_core::Jeto;
use jeto_http::JetoService;
use serde_json::{json, Value};

async fn call(
    service: &JetoService,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("x-jeto-key", "k");
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let response = service
        .handle(request.body(Full::new(bytes::Bytes::from(body))).unwrap())
        .await;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cached_list_follows_every_change() {
    let provider = InMemoryProvider::new()
        .with_instance("/srv/a", &["web"])
        .with_instance("/srv/b", &["web"]);
    let policy = TokenPolicy::new(vec![TokenConfig::admin("admin", "k")]).unwrap();
    let jeto = Jeto::builder(Arc::new(provider))
        .policy(Arc::new(policy))
        .build()
        .await
        .unwrap();
    let service = JetoService::new(jeto);
    assert_eq!(
        call(&service, "GET", "/api/instances", None).await,
        (200, json!([]))
    );
    let (status, host) = call(
        &service,
        "POST",
        "/api/hosts",
        Some(json!({"name": "m", "provider": "memory"})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = call(
        &service,
        "POST",
        "/api/instances",
        Some(json!({"name": "a", "host": host["id"], "path": "/srv/a"})),
    )
    .await;
    assert_eq!(status, 201);
    let (_, list) = call(&service, "GET", "/api/instances", None).await;
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "a new instance shows at once"
    );
    assert_eq!(list[0]["status"], json!([]));

    let (status, _) = call(
        &service,
        "POST",
        "/api/instances/1",
        Some(json!({"state": "start"})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, list) = call(&service, "GET", "/api/instances", None).await;
    assert_eq!(
        list[0]["status"][0]["status"], "running",
        "a new status shows at once: {list}"
    );
    assert_eq!(
        call(&service, "GET", "/api/instances", None).await.1,
        list,
        "unchanged, the same answer"
    );

    let (status, _) = call(
        &service,
        "POST",
        "/api/instances",
        Some(json!({"name": "b", "host": host["id"], "path": "/srv/b"})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = call(&service, "DELETE", "/api/instances/1", None).await;
    assert_eq!(status, 200);
    let (_, list) = call(&service, "GET", "/api/instances", None).await;
    let names: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].clone())
        .collect();
    assert_eq!(names, [json!("b")], "a deleted instance is gone at once");
    let (_, refreshed) = call(&service, "GET", "/api/instances?refresh=true", None).await;
    assert_eq!(refreshed[0]["status"][0]["status"], "not_created");
}

/// A provider of its own that speaks no vagrant: each instance fails with the failure kind
/// its name says.
#[derive(Debug)]
struct TypedFailures(InMemoryProvider);

#[async_trait::async_trait]
impl jeto_core::Provider for TypedFailures {
    async fn status(
        &self,
        instance: &jeto_core::Instance,
    ) -> Result<Vec<jeto_core::Status>, jeto_core::ProviderError> {
        self.0.status(instance).await
    }
    async fn run(
        &self,
        instance: &jeto_core::Instance,
        _request: &jeto_core::CheckedRequest,
        _console: jeto_core::ConsoleSink,
    ) -> Result<jeto_core::Outcome, jeto_core::ProviderError> {
        use jeto_core::FailureKind::*;
        let kind = match instance.spec.name.as_str() {
            "absent" => MachineNotFound,
            "stopped" => MachineNotRunning,
            "unplugged" => ProviderUnavailable,
            "slow" => TimedOut,
            _ => Failed,
        };
        let error = jeto_core::CommandError::new(kind, format!("{} says no", instance.spec.name));
        Ok(jeto_core::Outcome::failure(7, error))
    }
    async fn ip(
        &self,
        instance: &jeto_core::Instance,
        machine: &str,
    ) -> Result<Option<String>, jeto_core::ProviderError> {
        self.0.ip(instance, machine).await
    }
    async fn prepare(
        &self,
        host: &jeto_core::Host,
        source: &jeto_core::InstanceSource,
        target: &std::path::Path,
    ) -> Result<std::path::PathBuf, jeto_core::ProviderError> {
        self.0.prepare(host, source, target).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_map_to_statuses_by_their_kind_not_by_provider_words() {
    let names = ["absent", "stopped", "unplugged", "slow", "broken"];
    let mut memory = InMemoryProvider::new();
    for name in names {
        memory = memory.with_instance(format!("/srv/{name}"), &["web"]);
    }
    let policy = TokenPolicy::new(vec![TokenConfig::admin("admin", "k")]).unwrap();
    let jeto = Jeto::builder(Arc::new(TypedFailures(memory)))
        .policy(Arc::new(policy))
        .build()
        .await
        .unwrap();
    let service = JetoService::new(jeto);
    let (_, host) = call(
        &service,
        "POST",
        "/api/hosts",
        Some(json!({"name": "own", "provider": "own"})),
    )
    .await;
    for (name, status, code) in [
        ("absent", 404, "machine_not_found"),
        ("stopped", 409, "machine_not_running"),
        ("unplugged", 503, "provider_unavailable"),
        ("slow", 504, "timeout"),
        ("broken", 502, "action_failed"),
    ] {
        let (created, instance) = call(
            &service,
            "POST",
            "/api/instances",
            Some(json!({"name": name, "host": host["id"], "path": format!("/srv/{name}")})),
        )
        .await;
        assert_eq!(created, 201, "{instance}");
        let path = format!("/api/instances/{}", instance["id"]);
        let (answered, body) = call(&service, "POST", &path, Some(json!({"state": "start"}))).await;
        assert_eq!(
            (answered, body["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}"
        );
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{name} says no")));
        assert_eq!(
            body["command"]["error"]["class"],
            Value::Null,
            "no provider words"
        );
    }
}
