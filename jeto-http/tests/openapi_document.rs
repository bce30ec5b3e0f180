//! The generated OpenAPI document and the server agree: every route and method of the route
//! table is documented and nothing else, and every status an operation answers is documented
//! for it, and every documented status is answered by some request below.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http_body_util::{BodyExt, Full};
use jeto_core::access::{hash_key, Permission, TokenConfig, TokenPolicy};
use jeto_core::testing::InMemoryProvider;
use jeto_core::{
    BoxInfo, CheckedRequest, ConsoleSink, FailureKind, GlobalMachine, Host, HostWorker, Instance,
    InstanceSource, Jeto, JetoConfig, MachineDetails, MachineSnapshots, Outcome, Provider,
    ProviderError, Status,
};
use jeto_http::testing::ROUTES;
use jeto_http::JetoService;
use serde_json::{json, Value};

/// The in-memory provider, with faults chosen by the instance's name.
#[derive(Debug, Clone)]
struct FaultyProvider(InMemoryProvider, Arc<AtomicU8>);

/// What the faulty provider's host-level calls do (its second field).
const HOST_CALLS_WORK: u8 = 0;
const HOST_CALLS_UNSUPPORTED: u8 = 1;
const HOST_CALLS_UNAVAILABLE: u8 = 2;

impl FaultyProvider {
    fn host_call<T: Default>(&self, what: &str) -> Result<T, ProviderError> {
        match self.1.load(Ordering::SeqCst) {
            HOST_CALLS_UNSUPPORTED => Err(ProviderError::NotSupported { what: what.into() }),
            HOST_CALLS_UNAVAILABLE => Err(unavailable()),
            _ => Ok(T::default()),
        }
    }
}

#[async_trait]
impl Provider for FaultyProvider {
    async fn status(&self, instance: &Instance) -> Result<Vec<Status>, ProviderError> {
        // A host whose provider cannot read the instances moved to it.
        if instance.host.name == "unreadable" {
            return Err(unavailable());
        }
        self.0.status(instance).await
    }
    async fn run(
        &self,
        instance: &Instance,
        request: &CheckedRequest,
        console: ConsoleSink,
    ) -> Result<Outcome, ProviderError> {
        match instance.spec.name.as_str() {
            "unavailable" => Err(unavailable()),
            "slow" => Err(ProviderError::Timeout {
                what: "the action".into(),
                after: Duration::from_secs(1),
            }),
            "broken" => Ok(Outcome::failure(
                1,
                jeto_core::CommandError::message("it broke"),
            )),
            "sleepy" | "queue" => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                self.0.run(instance, request, console).await
            }
            _ => self.0.run(instance, request, console).await,
        }
    }
    async fn ip(
        &self,
        instance: &Instance,
        machine: &str,
    ) -> Result<Option<String>, ProviderError> {
        self.0.ip(instance, machine).await
    }
    async fn prepare(
        &self,
        host: &Host,
        source: &InstanceSource,
        target: &Path,
    ) -> Result<std::path::PathBuf, ProviderError> {
        self.0.prepare(host, source, target).await
    }
    async fn machine(
        &self,
        instance: &Instance,
        machine: &str,
    ) -> Result<MachineDetails, ProviderError> {
        match instance.spec.name.as_str() {
            "unavailable" => Err(unavailable()),
            _ => self.0.machine(instance, machine).await,
        }
    }
    async fn boxes(&self, _host: &Host, _outdated: bool) -> Result<Vec<BoxInfo>, ProviderError> {
        self.host_call("list boxes")
    }
    async fn global_status(&self) -> Result<Vec<GlobalMachine>, ProviderError> {
        self.host_call("give a global status")
    }
    async fn workers(&self, _host: &Host) -> Result<Vec<HostWorker>, ProviderError> {
        self.host_call("list workers")
    }
    async fn snapshots(&self, instance: &Instance) -> Result<Vec<MachineSnapshots>, ProviderError> {
        match instance.spec.name.as_str() {
            "unavailable" => Err(unavailable()),
            "broken" => Err(ProviderError::failed(
                instance,
                jeto_core::Action::Status,
                jeto_core::CommandError::new(FailureKind::NotSupported, "no snapshots here"),
            )),
            _ => self.0.snapshots(instance).await,
        }
    }
}

fn unavailable() -> ProviderError {
    ProviderError::Unavailable {
        message: "the tool is missing".into(),
        source: None,
    }
}

struct Api {
    service: JetoService,
    /// (path pattern, method) -> statuses seen.
    seen: BTreeMap<(String, String), BTreeSet<String>>,
}

impl Api {
    /// A request whose answer may be an endless stream: its status is noted, and its response
    /// kept (holding the stream open) rather than read.
    async fn open(
        &mut self,
        pattern: &str,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
    ) -> http::Response<jeto_http::ApiBody> {
        let mut request = http::Request::builder().method("GET").uri(path);
        if let Some(key) = key {
            request = request.header("x-jeto-key", key);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self
            .service
            .handle(request.body(Full::new(bytes::Bytes::new())).unwrap())
            .await;
        self.seen
            .entry((pattern.to_owned(), "get".to_owned()))
            .or_default()
            .insert(response.status().as_u16().to_string());
        response
    }

    async fn call(
        &mut self,
        pattern: &str,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&str>,
    ) -> (u16, Value) {
        let mut request = http::Request::builder().method(method).uri(path);
        if let Some(key) = key {
            request = request.header("x-jeto-key", key);
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let body = body.unwrap_or("").to_owned();
        let response = self
            .service
            .handle(request.body(Full::new(bytes::Bytes::from(body))).unwrap())
            .await;
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        self.seen
            .entry((pattern.to_owned(), method.to_lowercase()))
            .or_default()
            .insert(status.to_string());
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

/// Takes every webhook delivery at once (200).
#[derive(Debug)]
struct Accepting;

#[async_trait]
impl jeto_core::webhooks::WebhookSender for Accepting {
    async fn post(
        &self,
        _url: &str,
        _headers: &[(&'static str, String)],
        _body: String,
    ) -> Result<u16, String> {
        Ok(200)
    }
}

/// The webhook routes on a service that sends them (`Accepting`); `events` makes an event.
async fn webhooks(api: &mut Api, big: &str) {
    let (admin, limited) = (Some("admin"), Some("limited"));
    let list = "/api/webhooks";
    let one = "/api/webhooks/{id}";
    let deliveries = "/api/webhooks/{id}/deliveries";
    let again = "/api/webhooks/{id}/deliveries/{did}";
    let hook = r#"{"url": "http://127.0.0.1:9/hooks"}"#;
    api.call(list, "GET", list, admin, None).await;
    api.call(list, "GET", list, limited, None).await;
    api.call(list, "GET", list, None, None).await;
    api.call(list, "GET", "/api/webhooks?x=1", admin, None)
        .await;
    let (status, made) = api.call(list, "POST", list, admin, Some(hook)).await;
    assert_eq!(status, 201, "{made}");
    api.call(list, "POST", list, admin, Some(r#"{"url": "ftp://x/"}"#))
        .await;
    api.call(list, "POST", list, limited, Some(hook)).await;
    api.call(list, "POST", list, None, Some(hook)).await;
    api.call(list, "POST", list, admin, Some(big)).await;
    send_as_text(api, list, list).await;
    let path = format!("/api/webhooks/{}", made["id"]);
    api.call(one, "GET", &path, admin, None).await;
    api.call(one, "GET", "/api/webhooks/999", admin, None).await;
    api.call(one, "GET", &format!("{path}?x=1"), admin, None)
        .await;
    api.call(one, "GET", &path, None, None).await;
    api.call(one, "PUT", &path, admin, Some(hook)).await;
    api.call(one, "PUT", &path, admin, Some(r#"{"url": "nope"}"#))
        .await;
    api.call(one, "PUT", "/api/webhooks/999", admin, Some(hook))
        .await;
    api.call(one, "PUT", &path, None, Some(hook)).await;
    api.call(one, "PUT", &path, admin, Some(big)).await;
    send_as_text_with(api, "PUT", one, &path).await;
    // An event (a command queued), delivered at once.
    let (status, answer) = api
        .call(
            "/api/instances/{id}/commands",
            "POST",
            "/api/instances/1/commands",
            admin,
            Some(r#"{"action": "status"}"#),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    let listed = format!("{path}/deliveries");
    let delivery = loop {
        let (_, answer) = api.call(deliveries, "GET", &listed, admin, None).await;
        if let Some(first) = answer.as_array().and_then(|a| a.first()) {
            break first["id"].clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    api.call(deliveries, "GET", &format!("{listed}?limit=0"), admin, None)
        .await;
    api.call(deliveries, "GET", &listed, None, None).await;
    api.call(
        deliveries,
        "GET",
        "/api/webhooks/999/deliveries",
        admin,
        None,
    )
    .await;
    let resend = format!("{listed}/{delivery}");
    assert_eq!(
        api.call(again, "POST", &resend, admin, Some("{}")).await.0,
        202
    );
    api.call(again, "POST", &format!("{listed}/999"), admin, Some("{}"))
        .await;
    api.call(again, "POST", &format!("{resend}?x=1"), admin, Some("{}"))
        .await;
    api.call(again, "POST", &resend, None, Some("{}")).await;
    api.call(one, "DELETE", &path, admin, None).await;
    api.call(one, "DELETE", &path, admin, None).await;
    api.call(one, "DELETE", &format!("{path}?x=1"), admin, None)
        .await;
    api.call(one, "DELETE", &path, None, None).await;
}

/// Expiries and keeping up, on instance 1 (on host 1, which `limited` sees with `status` only).
async fn lifecycle(api: &mut Api, big: &str) {
    let (admin, limited) = (Some("admin"), Some("limited"));
    let expiry = "/api/instances/{id}/expiry";
    let keep = "/api/instances/{id}/keep-up";
    let path = "/api/instances/1/expiry";
    let ok = r#"{"in_secs": 3600}"#;
    assert_eq!(api.call(expiry, "PUT", path, admin, Some(ok)).await.0, 200);
    api.call(
        expiry,
        "PUT",
        path,
        admin,
        Some(r#"{"in_secs": 1, "at": "2030-01-01T00:00:00Z"}"#),
    )
    .await;
    api.call(expiry, "PUT", path, limited, Some(ok)).await;
    api.call(expiry, "PUT", path, None, Some(ok)).await;
    api.call(expiry, "PUT", "/api/instances/999/expiry", admin, Some(ok))
        .await;
    api.call(expiry, "PUT", path, admin, Some(big)).await;
    send_as_text_with(api, "PUT", expiry, path).await;
    api.call(expiry, "DELETE", path, limited, None).await;
    api.call(expiry, "DELETE", path, None, None).await;
    api.call(expiry, "DELETE", "/api/instances/999/expiry", admin, None)
        .await;
    api.call(expiry, "DELETE", &format!("{path}?x=1"), admin, None)
        .await;
    assert_eq!(api.call(expiry, "DELETE", path, admin, None).await.0, 200);
    let kept = "/api/instances/1/keep-up";
    assert_eq!(api.call(keep, "POST", kept, admin, Some("{}")).await.0, 200);
    api.call(keep, "POST", kept, limited, Some("{}")).await;
    api.call(keep, "POST", kept, None, Some("{}")).await;
    api.call(
        keep,
        "POST",
        "/api/instances/999/keep-up",
        admin,
        Some("{}"),
    )
    .await;
    api.call(keep, "POST", &format!("{kept}?x=1"), admin, Some("{}"))
        .await;
}

/// Domains of instance 1 (on host 1, which `limited` sees with `status` only: 403 to change).
async fn domains(api: &mut Api, big: &str) {
    let (admin, limited) = (Some("admin"), Some("limited"));
    let list = "/api/domains";
    let one = "/api/domains/{id}";
    let shop = r#"{"name": "shop.test", "instance": 1, "port": 80}"#;
    let (status, made) = api.call(list, "POST", list, admin, Some(shop)).await;
    assert_eq!(status, 201, "{made}");
    api.call(list, "POST", list, admin, Some(shop)).await; // 409: taken
    api.call(
        list,
        "POST",
        list,
        admin,
        Some(r#"{"name": "Bad", "instance": 1, "port": 80}"#),
    )
    .await;
    api.call(
        list,
        "POST",
        list,
        limited,
        Some(r#"{"name": "l.test", "instance": 1, "port": 80}"#),
    )
    .await;
    api.call(
        list,
        "POST",
        list,
        admin,
        Some(r#"{"name": "n.test", "instance": 999, "port": 80}"#),
    )
    .await;
    api.call(list, "POST", list, None, Some(shop)).await;
    api.call(list, "POST", list, admin, Some(big)).await;
    send_as_text(api, list, list).await;
    api.call(list, "GET", list, admin, None).await;
    api.call(list, "GET", "/api/domains?x=1", admin, None).await;
    api.call(list, "GET", list, None, None).await;
    let (_, other) = api
        .call(
            list,
            "POST",
            list,
            admin,
            Some(r#"{"name": "other.test", "instance": 1, "port": 81}"#),
        )
        .await;
    let path = format!("/api/domains/{}", made["id"]);
    api.call(one, "GET", &path, admin, None).await;
    api.call(one, "GET", &format!("{path}?x=1"), admin, None)
        .await;
    api.call(one, "GET", &path, None, None).await;
    api.call(one, "GET", "/api/domains/999", admin, None).await;
    assert_eq!(api.call(one, "PUT", &path, admin, Some(shop)).await.0, 200);
    api.call(
        one,
        "PUT",
        &path,
        admin,
        Some(r#"{"id": 77, "name": "shop.test", "instance": 1, "port": 80}"#),
    )
    .await;
    api.call(
        one,
        "PUT",
        &path,
        admin,
        Some(r#"{"name": "other.test", "instance": 1, "port": 80}"#),
    )
    .await; // 409
    api.call(one, "PUT", &path, limited, Some(shop)).await;
    api.call(one, "PUT", &path, None, Some(shop)).await;
    api.call(one, "PUT", "/api/domains/999", admin, Some(shop))
        .await;
    api.call(one, "PUT", &path, admin, Some(big)).await;
    send_as_text_with(api, "PUT", one, &path).await;
    api.call(one, "DELETE", &path, limited, None).await;
    api.call(one, "DELETE", &path, None, None).await;
    api.call(one, "DELETE", "/api/domains/999", admin, None)
        .await;
    api.call(one, "DELETE", &format!("{path}?x=1"), admin, None)
        .await;
    assert_eq!(api.call(one, "DELETE", &path, admin, None).await.0, 200);
    let other = format!("/api/domains/{}", other["id"]);
    assert_eq!(api.call(one, "DELETE", &other, admin, None).await.0, 200);
}

/// The webhook routes on a service that sends none: 409 each.
async fn webhooks_without_a_sender(api: &mut Api) {
    let admin = Some("admin");
    let hook = r#"{"url": "http://127.0.0.1:9/hooks"}"#;
    api.call("/api/webhooks", "GET", "/api/webhooks", admin, None)
        .await;
    api.call("/api/webhooks", "POST", "/api/webhooks", admin, Some(hook))
        .await;
    api.call("/api/webhooks/{id}", "GET", "/api/webhooks/1", admin, None)
        .await;
    api.call(
        "/api/webhooks/{id}",
        "PUT",
        "/api/webhooks/1",
        admin,
        Some(hook),
    )
    .await;
    api.call(
        "/api/webhooks/{id}",
        "DELETE",
        "/api/webhooks/1",
        admin,
        None,
    )
    .await;
    api.call(
        "/api/webhooks/{id}/deliveries",
        "GET",
        "/api/webhooks/1/deliveries",
        admin,
        None,
    )
    .await;
    api.call(
        "/api/webhooks/{id}/deliveries/{did}",
        "POST",
        "/api/webhooks/1/deliveries/1",
        admin,
        Some("{}"),
    )
    .await;
}

/// Reloads once, then refuses (a broken file).
#[derive(Debug, Default)]
struct OnceReloader(std::sync::atomic::AtomicBool);

#[async_trait]
impl jeto_core::Reloader for OnceReloader {
    async fn reload(&self, _jeto: &Jeto) -> Result<jeto_core::ReloadReport, String> {
        if self.0.swap(true, Ordering::SeqCst) {
            Err("config file jeto.toml: TOML parse error at line 1".into())
        } else {
            Ok(jeto_core::ReloadReport::new(vec!["tokens".into()], vec![]))
        }
    }
}

fn documented(doc: &Value) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            let statuses = operation["responses"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            out.insert((path.clone(), method.clone()), statuses);
        }
    }
    out
}

#[test]
fn every_route_and_method_is_documented_and_nothing_else() {
    let doc: Value = serde_json::from_slice(&jeto_http::openapi::document()).unwrap();
    let documented: BTreeSet<_> = documented(&doc).into_keys().collect();
    let routed: BTreeSet<_> = ROUTES
        .iter()
        .flat_map(|(path, methods)| {
            methods
                .iter()
                .map(move |m| (path.to_string(), m.to_lowercase()))
        })
        .collect();
    let missing: Vec<_> = routed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "routed but not documented: {missing:?}; documented but not routed: {extra:?}"
    );
}

#[test]
fn every_status_answered_is_documented_and_every_documented_status_is_answered() {
    // One long walk through the API: its future's frames outgrow a test thread's 2 MiB in a
    // debug build, so it runs as a task on workers with more stack.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_stack_size(16 << 20)
        .enable_all()
        .build()
        .unwrap()
        .block_on(async { tokio::spawn(walk_every_route()).await.unwrap() });
}

async fn walk_every_route() {
    let folders = tempfile::tempdir().unwrap();
    let memory = InMemoryProvider::new();
    let mut paths = BTreeMap::new();
    for name in [
        "ok",
        "second",
        "unavailable",
        "slow",
        "broken",
        "sleepy",
        "queue",
        "delete-me",
    ] {
        let folder = folders.path().join(name);
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join("Vagrantfile"), "").unwrap();
        std::fs::write(
            folder.join("jeto.json"),
            r#"{"scripts": {"fail": {"command": "exit 1"}, "hello": {"command": "echo hi"}, "nap": {"command": "sleep 30"}}}"#,
        )
        .unwrap();
        memory.add_instance(folder.to_str().unwrap(), &["web"]);
        paths.insert(name, folder.to_str().unwrap().to_owned());
    }
    let data = tempfile::tempdir().unwrap();
    let limited = TokenConfig {
        name: "limited".into(),
        key_sha256: hash_key("limited"),
        admin: false,
        hosts: [1].into(),
        instances: BTreeSet::new(),
        projects: Default::default(),
        actions: Some([Permission::Action(jeto_core::Action::Status)].into()),
        metrics_only: false,
    };
    let blind = TokenConfig {
        name: "blind".into(),
        key_sha256: hash_key("blind"),
        actions: Some([Permission::Action(jeto_core::Action::Start)].into()),
        metrics_only: false,
        ..limited.clone()
    };
    let policy =
        TokenPolicy::new(vec![TokenConfig::admin("admin", "admin"), limited, blind]).unwrap();
    let host_calls = Arc::new(AtomicU8::new(HOST_CALLS_WORK));
    let jeto = Jeto::builder(Arc::new(FaultyProvider(memory, host_calls.clone())))
        .policy(Arc::new(policy))
        .reloader(Arc::new(OnceReloader::default()))
        .webhook_sender(Arc::new(Accepting))
        .config(JetoConfig {
            data_dir: Some(data.path().to_owned()),
            ..JetoConfig::default()
        })
        .build()
        .await
        .unwrap();
    let mut api = Api {
        service: JetoService::new(jeto.clone()),
        seen: BTreeMap::new(),
    };
    let admin = Some("admin");
    let limited = Some("limited");
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(70 * 1024));

    // Meta.
    api.call("/api/health", "GET", "/api/health", None, None)
        .await;
    api.call("/api/health", "GET", "/api/health?x=1", None, None)
        .await;
    let (status, me) = api.call("/api/me", "GET", "/api/me", limited, None).await;
    assert_eq!(status, 200);
    assert_eq!(me["admin"], false, "{me}");
    api.call("/api/me", "GET", "/api/me?x=1", admin, None).await;
    api.call("/api/me", "GET", "/api/me", None, None).await;
    api.call("/api/openapi.json", "GET", "/api/openapi.json", None, None)
        .await;
    api.call(
        "/api/openapi.json",
        "GET",
        "/api/openapi.json?x=1",
        None,
        None,
    )
    .await;

    // Hosts.
    let hosts = "/api/hosts";
    let host_body = r#"{"name": "local", "provider": "memory"}"#;
    assert_eq!(
        api.call(hosts, "POST", hosts, admin, Some(host_body))
            .await
            .0,
        201
    );
    api.call(hosts, "POST", hosts, limited, Some(host_body))
        .await;
    api.call(hosts, "POST", hosts, admin, Some("{}")).await;
    api.call(hosts, "POST", hosts, None, Some(host_body)).await;
    api.call(hosts, "POST", hosts, admin, Some(&big)).await;
    send_as_text(&mut api, hosts, hosts).await;
    api.call(hosts, "GET", hosts, admin, None).await;
    api.call(hosts, "GET", "/api/hosts?x=1", admin, None).await;
    api.call(hosts, "GET", hosts, None, None).await;
    let host = "/api/hosts/{id}";
    api.call(host, "GET", "/api/hosts/1", admin, None).await;
    api.call(host, "GET", "/api/hosts/1?x=1", admin, None).await;
    api.call(host, "GET", "/api/hosts/1", None, None).await;
    api.call(host, "GET", "/api/hosts/9", admin, None).await;
    let boxes = "/api/hosts/{id}/boxes";
    let global = "/api/global-status";
    let workers = "/api/hosts/{id}/workers";
    for mode in [
        HOST_CALLS_WORK,
        HOST_CALLS_UNSUPPORTED,
        HOST_CALLS_UNAVAILABLE,
    ] {
        host_calls.store(mode, Ordering::SeqCst);
        api.call(
            boxes,
            "GET",
            "/api/hosts/1/boxes?outdated=true",
            admin,
            None,
        )
        .await;
        api.call(global, "GET", global, admin, None).await;
        api.call(workers, "GET", "/api/hosts/1/workers", admin, None)
            .await;
    }
    host_calls.store(HOST_CALLS_WORK, Ordering::SeqCst);
    api.call(
        boxes,
        "GET",
        "/api/hosts/1/boxes?outdated=maybe",
        admin,
        None,
    )
    .await;
    api.call(boxes, "GET", "/api/hosts/1/boxes", None, None)
        .await;
    api.call(boxes, "GET", "/api/hosts/9/boxes", admin, None)
        .await;
    api.call(global, "GET", "/api/global-status?x=1", admin, None)
        .await;
    api.call(workers, "GET", "/api/hosts/1/workers?x=1", admin, None)
        .await;
    api.call(workers, "GET", "/api/hosts/1/workers", None, None)
        .await;
    api.call(workers, "GET", "/api/hosts/9/workers", admin, None)
        .await;
    api.call(global, "GET", global, None, None).await;
    api.call(global, "GET", global, limited, None).await;

    // Projects and the audit log.
    let projects = "/api/projects";
    let project_body =
        r#"{"name": "web", "git_url": "https://git.invalid/web.git", "references": ["main"]}"#;
    assert_eq!(
        api.call(projects, "POST", projects, admin, Some(project_body))
            .await
            .0,
        201
    );
    api.call(projects, "POST", projects, limited, Some(project_body))
        .await;
    api.call(projects, "POST", projects, admin, Some(r#"{"name": "x"}"#))
        .await;
    api.call(
        projects,
        "POST",
        projects,
        admin,
        Some(r#"{"name": "x", "git_url": "https://g.invalid/x", "hosts": [9]}"#),
    )
    .await;
    api.call(projects, "POST", projects, None, Some(project_body))
        .await;
    api.call(projects, "POST", projects, admin, Some(&big))
        .await;
    send_as_text(&mut api, projects, projects).await;
    api.call(projects, "GET", projects, admin, None).await;
    api.call(projects, "GET", "/api/projects?x=1", admin, None)
        .await;
    api.call(projects, "GET", projects, None, None).await;
    let project = "/api/projects/{id}";
    api.call(project, "GET", "/api/projects/1", admin, None)
        .await;
    let usage = "/api/projects/{id}/usage";
    assert_eq!(
        api.call(usage, "GET", "/api/projects/1/usage", admin, None)
            .await
            .0,
        200
    );
    api.call(usage, "GET", "/api/projects/1/usage?x=1", admin, None)
        .await;
    api.call(usage, "GET", "/api/projects/1/usage", None, None)
        .await;
    api.call(usage, "GET", "/api/projects/9/usage", admin, None)
        .await;
    api.call(project, "GET", "/api/projects/1?x=1", admin, None)
        .await;
    api.call(project, "GET", "/api/projects/1", None, None)
        .await;
    api.call(project, "GET", "/api/projects/9", admin, None)
        .await;
    let audit = "/api/audit";
    api.call(audit, "GET", "/api/audit?limit=5", admin, None)
        .await;
    api.call(audit, "GET", "/api/audit?limit=0", admin, None)
        .await;
    api.call(audit, "GET", audit, None, None).await;
    api.call(audit, "GET", audit, limited, None).await;

    // People (boxed: the test's future is large enough already).
    Box::pin(people(&mut api, &big)).await;

    // Changing hosts and projects.
    let spare = r#"{"name": "spare", "provider": "memory"}"#;
    let (_, spare_host) = api.call(hosts, "POST", hosts, admin, Some(spare)).await;
    let spare_url = format!("/api/hosts/{}", spare_host["id"]);
    let renamed = r#"{"name": "renamed", "provider": "memory"}"#;
    assert_eq!(
        api.call(host, "PUT", &spare_url, admin, Some(renamed))
            .await
            .0,
        200
    );
    api.call(
        host,
        "PUT",
        &spare_url,
        admin,
        Some(r#"{"id": 77, "name": "x", "provider": "memory"}"#),
    )
    .await;
    api.call(host, "PUT", &spare_url, limited, Some(renamed))
        .await;
    api.call(host, "PUT", &spare_url, None, Some(renamed)).await;
    api.call(host, "PUT", "/api/hosts/9", admin, Some(renamed))
        .await;
    api.call(host, "PUT", &spare_url, admin, Some(&big)).await;
    send_as_text_with(&mut api, "PUT", host, &spare_url).await;
    let naming =
        json!({"name": "pinned", "git_url": "https://g.invalid/p", "hosts": [spare_host["id"]]});
    let (_, pinned) = api
        .call(projects, "POST", projects, admin, Some(&naming.to_string()))
        .await;
    api.call(host, "DELETE", &spare_url, admin, None).await; // 409: a project names it
    api.call(host, "DELETE", &format!("{spare_url}?x=1"), admin, None)
        .await;
    api.call(host, "DELETE", &spare_url, limited, None).await;
    api.call(host, "DELETE", &spare_url, None, None).await;
    api.call(host, "DELETE", "/api/hosts/9", admin, None).await;
    let pinned_url = format!("/api/projects/{}", pinned["id"]);
    let unpinned = r#"{"name": "pinned", "git_url": "https://g.invalid/p"}"#;
    assert_eq!(
        api.call(project, "PUT", &pinned_url, admin, Some(unpinned))
            .await
            .0,
        200
    );
    api.call(project, "PUT", &pinned_url, admin, Some(r#"{"name": "x"}"#))
        .await;
    api.call(project, "PUT", &pinned_url, limited, Some(unpinned))
        .await;
    api.call(project, "PUT", &pinned_url, None, Some(unpinned))
        .await;
    api.call(project, "PUT", "/api/projects/9", admin, Some(unpinned))
        .await;
    api.call(project, "PUT", &pinned_url, admin, Some(&big))
        .await;
    send_as_text_with(&mut api, "PUT", project, &pinned_url).await;
    api.call(project, "DELETE", &format!("{pinned_url}?x=1"), admin, None)
        .await;
    api.call(project, "DELETE", &pinned_url, limited, None)
        .await;
    api.call(project, "DELETE", &pinned_url, None, None).await;
    assert_eq!(
        api.call(project, "DELETE", &pinned_url, admin, None)
            .await
            .0,
        200
    );
    api.call(project, "DELETE", "/api/projects/9", admin, None)
        .await;
    assert_eq!(
        api.call(host, "DELETE", &spare_url, admin, None).await.0,
        200
    );

    // Instances.
    let list = "/api/instances";
    let mut ids = BTreeMap::new();
    for (name, path) in &paths {
        let body = json!({"name": name, "host": 1, "path": path}).to_string();
        let (status, created) = api.call(list, "POST", list, admin, Some(&body)).await;
        assert_eq!(status, 201, "{created}");
        ids.insert(*name, created["id"].as_u64().unwrap());
    }
    // Machines and snapshots.
    let blind = Some("blind");
    let machine = "/api/instances/{id}/machines/{machine}";
    let web = |name: &str| format!("/api/instances/{}/machines/web", ids[name]);
    for (path, key) in [
        (web("ok"), admin),
        (format!("{}?x=1", web("ok")), admin),
        (format!("/api/instances/{}/machines/-x", ids["ok"]), admin),
        (web("ok"), None),
        (web("ok"), blind),
        ("/api/instances/999/machines/web".to_owned(), admin),
        (web("unavailable"), admin),
    ] {
        api.call(machine, "GET", &path, key, None).await;
    }
    let snapshots = "/api/instances/{id}/snapshots";
    let listed = |name: &str| format!("/api/instances/{}/snapshots", ids[name]);
    for (path, key) in [
        (listed("ok"), admin),
        (format!("{}?x=1", listed("ok")), admin),
        (listed("ok"), None),
        (listed("ok"), blind),
        ("/api/instances/999/snapshots".to_owned(), admin),
        (listed("broken"), admin),
        (listed("unavailable"), admin),
    ] {
        api.call(snapshots, "GET", &path, key, None).await;
    }

    let again = json!({"name": "again", "host": 1, "path": paths["ok"]}).to_string();
    api.call(list, "POST", list, admin, Some(&again)).await; // 409: one folder, one instance
    let unknown_host = json!({"name": "h", "host": 9, "path": paths["ok"]}).to_string();
    api.call(list, "POST", list, admin, Some(&unknown_host))
        .await;
    let git = r#"{"name": "g", "host": 1, "git_url": "https://git.invalid/r.git", "git_reference": "main", "async": true}"#;
    api.call(list, "POST", list, admin, Some(git)).await;
    api.call(list, "POST", list, limited, Some(git)).await;
    api.call(list, "POST", list, admin, Some(r#"{"name": "x"}"#))
        .await;
    api.call(list, "POST", list, None, Some(git)).await;
    api.call(list, "POST", list, admin, Some(&big)).await;
    send_as_text(&mut api, list, list).await;
    api.call(list, "GET", list, admin, None).await;
    api.call(list, "GET", "/api/instances?refresh=maybe", admin, None)
        .await;
    api.call(list, "GET", list, None, None).await;

    let one = "/api/instances/{id}";
    let ok = format!("/api/instances/{}", ids["ok"]);
    api.call(one, "GET", &ok, admin, None).await;
    api.call(one, "GET", &format!("{ok}?max_age=x"), admin, None)
        .await;
    api.call(one, "GET", &ok, None, None).await;
    api.call(one, "GET", "/api/instances/999", admin, None)
        .await;
    // Changing an instance.
    let unreadable = r#"{"name": "unreadable", "provider": "memory"}"#;
    let (_, other_host) = api
        .call(hosts, "POST", hosts, admin, Some(unreadable))
        .await;
    let rename = r#"{"name": "ok-renamed", "environment": "staging"}"#;
    let (status, changed) = api.call(one, "PATCH", &ok, admin, Some(rename)).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["name"], "ok-renamed", "{changed}");
    api.call(one, "PATCH", &ok, admin, Some(r#"{"colour": "red"}"#))
        .await;
    api.call(one, "PATCH", &ok, limited, Some(rename)).await;
    api.call(one, "PATCH", &ok, None, Some(rename)).await;
    api.call(one, "PATCH", "/api/instances/999", admin, Some(rename))
        .await;
    api.call(one, "PATCH", &ok, admin, Some(&big)).await;
    send_as_text_with(&mut api, "PATCH", one, &ok).await;
    let moving = json!({"host": other_host["id"]}).to_string();
    api.call(one, "PATCH", &ok, admin, Some(&moving)).await; // 409: its status fails there
    api.call(host, "DELETE", "/api/hosts/1", admin, None).await; // 409: instances run on it
    let start = r#"{"state": "start", "machine": "web"}"#;
    api.call(one, "POST", &ok, admin, Some(start)).await;
    api.call(
        one,
        "POST",
        &ok,
        admin,
        Some(r#"{"state": "rsync", "machine": "web", "async": true}"#),
    )
    .await;
    api.call(one, "POST", &ok, limited, Some(start)).await;
    api.call(one, "POST", &ok, admin, Some(r#"{"state": "fly"}"#))
        .await;
    api.call(one, "POST", &ok, None, Some(start)).await;
    api.call(one, "POST", "/api/instances/999", admin, Some(start))
        .await;
    api.call(one, "POST", &ok, admin, Some(&big)).await;
    send_as_text(&mut api, one, &ok).await;
    let second = format!("/api/instances/{}", ids["second"]);
    let script = r#"{"state": "runScript", "machine": "web", "script": "hello"}"#;
    api.call(one, "POST", &second, admin, Some(script)).await; // 409: not running
    api.call(
        one,
        "POST",
        &ok,
        admin,
        Some(r#"{"state": "runScript", "machine": "web", "script": "fail"}"#),
    )
    .await; // 502
    for (name, expected) in [("unavailable", 503), ("slow", 504)] {
        let path = format!("/api/instances/{}", ids[name]);
        assert_eq!(
            api.call(one, "POST", &path, admin, Some(start)).await.0,
            expected
        );
        assert_eq!(
            api.call(one, "DELETE", &path, admin, None).await.0,
            expected
        );
    }
    let broken = format!("/api/instances/{}", ids["broken"]);
    assert_eq!(api.call(one, "DELETE", &broken, admin, None).await.0, 502);
    api.call(one, "DELETE", &ok, limited, None).await;
    api.call(one, "DELETE", &ok, None, None).await;
    api.call(one, "DELETE", &format!("{ok}?x=1"), admin, None)
        .await;
    api.call(one, "DELETE", "/api/instances/999", admin, None)
        .await;
    let delete_me = format!("/api/instances/{}", ids["delete-me"]);
    assert_eq!(
        api.call(one, "DELETE", &delete_me, admin, None).await.0,
        200
    );
    // A destroy cancelled while it runs: 409 for the DELETE that waited on it.
    let sleepy = ids["sleepy"];
    let deleting = {
        let service = api.service.clone();
        tokio::spawn(async move {
            let request = http::Request::delete(format!("/api/instances/{sleepy}"))
                .header("x-jeto-key", "admin")
                .body(Full::new(bytes::Bytes::new()))
                .unwrap();
            service.handle(request).await.status().as_u16()
        })
    };
    let commands = "/api/instances/{id}/commands";
    let sleepy_commands = format!("/api/instances/{sleepy}/commands");
    let cid = loop {
        let (_, list) = api
            .call(commands, "GET", &sleepy_commands, admin, None)
            .await;
        if let Some(id) = list[0]["id"].as_u64() {
            break id;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // While it is being deleted, the instance takes no new command.
    assert_eq!(
        api.call(
            commands,
            "POST",
            &sleepy_commands,
            admin,
            Some(r#"{"action": "provision"}"#)
        )
        .await
        .0,
        409
    );
    let command = "/api/instances/{id}/commands/{cid}";
    let sleepy_command = format!("{sleepy_commands}/{cid}");
    assert_eq!(
        api.call(command, "DELETE", &sleepy_command, admin, None)
            .await
            .0,
        200
    );
    let status = deleting.await.unwrap();
    assert_eq!(status, 409);
    api.seen
        .entry((one.to_owned(), "delete".to_owned()))
        .or_default()
        .insert(status.to_string());

    // Commands.
    let ok_commands = format!("{ok}/commands");
    api.call(commands, "GET", &format!("{ok_commands}?x=1"), admin, None)
        .await;
    api.call(commands, "GET", &ok_commands, None, None).await;
    api.call(commands, "GET", "/api/instances/999/commands", admin, None)
        .await;
    let provision = r#"{"action": "provision", "machine": "web"}"#;
    let (_, queued) = api
        .call(commands, "POST", &ok_commands, admin, Some(provision))
        .await;
    api.call(commands, "POST", &ok_commands, limited, Some(provision))
        .await;
    api.call(
        commands,
        "POST",
        &ok_commands,
        admin,
        Some(r#"{"action": "fly"}"#),
    )
    .await;
    api.call(commands, "POST", &ok_commands, None, Some(provision))
        .await;
    api.call(
        commands,
        "POST",
        "/api/instances/999/commands",
        admin,
        Some(provision),
    )
    .await;
    api.call(commands, "POST", &ok_commands, admin, Some(&big))
        .await;
    send_as_text(&mut api, commands, &ok_commands).await;
    // A full queue: one running for 30 s, 16 waiting, the next one refused.
    let queue_commands = format!("/api/instances/{}/commands", ids["queue"]);
    let (first, answer) = api
        .call(commands, "POST", &queue_commands, admin, Some(provision))
        .await;
    assert_eq!(first, 202, "{answer}");
    let first = format!("{queue_commands}/{}", answer["command"]["id"]);
    // Only once it runs does the queue hold 16 more.
    while api.call(command, "GET", &first, admin, None).await.1["status"] != "running" {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut statuses = vec![202];
    for _ in 0..17 {
        let (status, _) = api
            .call(commands, "POST", &queue_commands, admin, Some(provision))
            .await;
        statuses.push(status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 202).count(), 17);
    assert_eq!(statuses.last(), Some(&429));
    // Eight followers of the running one, and a ninth refused.
    let (_, running) = api
        .call(commands, "GET", &queue_commands, admin, None)
        .await;
    let running = running.as_array().unwrap().last().unwrap()["id"].clone();
    let follow = format!("{queue_commands}/{running}/console?follow=true");
    let mut followers = Vec::new();
    for _ in 0..8 {
        let request = http::Request::get(&follow)
            .header("x-jeto-key", "admin")
            .body(Full::new(bytes::Bytes::new()))
            .unwrap();
        let response = api.service.handle(request).await;
        assert_eq!(response.status(), 200);
        followers.push(response);
    }
    let console = "/api/instances/{id}/commands/{cid}/console";
    assert_eq!(api.call(console, "GET", &follow, admin, None).await.0, 429);
    drop(followers);
    let done = format!("{ok_commands}/{}", queued["command"]["id"]);
    api.call(command, "GET", &done, admin, None).await;
    api.call(command, "GET", &format!("{done}?x=1"), admin, None)
        .await;
    api.call(command, "GET", &done, None, None).await;
    api.call(command, "GET", &format!("{ok_commands}/999"), admin, None)
        .await;
    jeto.command(
        &jeto_core::access::Principal::admin("t"),
        ids["ok"],
        queued["command"]["id"].as_u64().unwrap(),
    )
    .await
    .unwrap()
    .wait()
    .await;
    api.call(command, "DELETE", &done, admin, None).await; // 409: already ended
    api.call(command, "DELETE", &done, limited, None).await;
    api.call(command, "DELETE", &done, None, None).await;
    api.call(command, "DELETE", &format!("{done}?x=1"), admin, None)
        .await;
    api.call(
        command,
        "DELETE",
        &format!("{ok_commands}/999"),
        admin,
        None,
    )
    .await;
    api.call(console, "GET", &format!("{done}/console"), admin, None)
        .await;
    api.call(
        console,
        "GET",
        &format!("{done}/console?follow=maybe"),
        admin,
        None,
    )
    .await;
    api.call(console, "GET", &format!("{done}/console"), None, None)
        .await;
    api.call(
        console,
        "GET",
        &format!("{ok_commands}/999/console"),
        admin,
        None,
    )
    .await;
    // Reloading the configuration: with the walk's reloader (it works once, then refuses),
    // and on a service with none.
    let reload = "/api/reload";
    api.call(reload, "POST", reload, admin, Some("{}")).await;
    api.call(reload, "POST", reload, admin, Some("{}")).await;
    api.call(reload, "POST", reload, limited, Some("{}")).await;
    api.call(reload, "POST", reload, None, Some("{}")).await;
    api.call(reload, "POST", "/api/reload?x=1", admin, Some("{}"))
        .await;
    // Metrics: admins read them; a tenant is refused; a service without metrics says so.
    let metrics = "/metrics";
    api.call(metrics, "GET", metrics, admin, None).await;
    api.call(metrics, "GET", metrics, limited, None).await;
    api.call(metrics, "GET", metrics, None, None).await;
    api.call(metrics, "GET", "/metrics?x=1", admin, None).await;
    webhooks(&mut api, &big).await;
    lifecycle(&mut api, &big).await;
    domains(&mut api, &big).await;
    let mut one_follower = JetoConfig::default();
    one_follower.scheduler.max_followers = 1;
    one_follower.metrics = false;
    let without = Jeto::builder(Arc::new(InMemoryProvider::new()))
        .policy(Arc::new(
            TokenPolicy::new(vec![TokenConfig::admin("admin", "admin")]).unwrap(),
        ))
        .config(one_follower)
        .build()
        .await
        .unwrap();
    let walked = std::mem::replace(&mut api.service, JetoService::new(without));
    api.call(reload, "POST", reload, admin, Some("{}")).await;
    api.call(metrics, "GET", metrics, admin, None).await;
    webhooks_without_a_sender(&mut api).await;
    // The event stream: one follower at most on this service.
    let events = "/api/events";
    let held = api.open(events, events, admin, &[]).await;
    assert_eq!(held.status(), 200);
    assert_eq!(api.open(events, events, admin, &[]).await.status(), 429);
    drop(held);
    api.service = walked;
    let resumed = api
        .open(events, events, admin, &[("last-event-id", "1")])
        .await;
    assert_eq!(resumed.status(), 200);
    drop(resumed);
    api.open(events, events, admin, &[("last-event-id", "one")])
        .await;
    api.open(events, "/api/events?type=nonsense", admin, &[])
        .await;
    api.open(events, "/api/events?x=1", admin, &[]).await;
    api.open(events, events, None, &[]).await;
    let tenant = api
        .open(events, "/api/events?after=0&instance=1", limited, &[])
        .await;
    drop(tenant);
    let ready = "/api/ready";
    api.call(ready, "GET", ready, None, None).await;
    api.call(ready, "GET", ready, admin, None).await;
    api.call(ready, "GET", "/api/ready?x=1", None, None).await;

    // Last: a server that is stopping takes no command, and is not ready.
    jeto.drain(Duration::ZERO).await;
    api.call(ready, "GET", ready, None, None).await;
    jeto.shutdown(Duration::from_secs(1)).await;
    api.call(commands, "POST", &ok_commands, admin, Some(provision))
        .await;

    let doc: Value = serde_json::from_slice(&jeto_http::openapi::document()).unwrap();
    let documented = documented(&doc);
    let mut problems = Vec::new();
    for (operation, statuses) in &documented {
        let seen = api.seen.get(operation).cloned().unwrap_or_default();
        let undocumented: Vec<_> = seen.difference(statuses).collect();
        let unanswered: Vec<_> = statuses.difference(&seen).collect();
        if !undocumented.is_empty() {
            problems.push(format!(
                "{operation:?} answered undocumented {undocumented:?}"
            ));
        }
        if !unanswered.is_empty() {
            problems.push(format!(
                "{operation:?} documents {unanswered:?}, never answered"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Users, teams (admins only; 404 for others) and the keys users make.
async fn people(api: &mut Api, big: &str) {
    let admin = Some("admin");
    let limited = Some("limited");
    for (list, one, first, second) in [
        ("/api/users", "/api/users/{id}", "ann", "bob"),
        ("/api/teams", "/api/teams/{id}", "ops", "devs"),
    ] {
        let body = |name: &str| json!({ "name": name }).to_string();
        let (status, made) = api
            .call(list, "POST", list, admin, Some(&body(first)))
            .await;
        assert_eq!(status, 201, "{made}");
        api.call(list, "POST", list, admin, Some(&body(second)))
            .await;
        api.call(list, "POST", list, admin, Some(&body(first)))
            .await; // 409: the name is taken
        api.call(list, "POST", list, admin, Some("{}")).await;
        api.call(list, "POST", list, limited, Some(&body("x")))
            .await;
        api.call(list, "POST", list, None, Some(&body("x"))).await;
        api.call(list, "POST", list, admin, Some(big)).await;
        send_as_text(api, list, list).await;
        api.call(list, "GET", list, admin, None).await;
        api.call(list, "GET", &format!("{list}?x=1"), admin, None)
            .await;
        api.call(list, "GET", list, None, None).await;
        api.call(list, "GET", list, limited, None).await;
        let url = format!("{list}/{}", made["id"]);
        api.call(one, "GET", &url, admin, None).await;
        api.call(one, "GET", &format!("{url}?x=1"), admin, None)
            .await;
        api.call(one, "GET", &url, None, None).await;
        api.call(one, "GET", &format!("{list}/999"), admin, None)
            .await;
        let usage = format!("{one}/usage");
        let (status, used) = api
            .call(&usage, "GET", &format!("{url}/usage"), admin, None)
            .await;
        assert_eq!(status, 200, "{used}");
        api.call(&usage, "GET", &format!("{url}/usage?x=1"), admin, None)
            .await;
        api.call(&usage, "GET", &format!("{url}/usage"), None, None)
            .await;
        api.call(&usage, "GET", &format!("{list}/999/usage"), admin, None)
            .await;
        api.call(one, "PUT", &url, admin, Some(&body(first))).await;
        api.call(one, "PUT", &url, admin, Some(&body(second))).await; // 409
        api.call(one, "PUT", &url, admin, Some(r#"{"id": 77, "name": "x"}"#))
            .await;
        api.call(one, "PUT", &url, None, Some(&body(first))).await;
        api.call(one, "PUT", &format!("{list}/999"), admin, Some(&body("z")))
            .await;
        api.call(one, "PUT", &url, admin, Some(big)).await;
        send_as_text_with(api, "PUT", one, &url).await;
        api.call(one, "DELETE", &format!("{url}?x=1"), admin, None)
            .await;
        api.call(one, "DELETE", &url, None, None).await;
        api.call(one, "DELETE", &format!("{list}/999"), admin, None)
            .await;
    }
    let keys = "/api/keys";
    let (_, carl) = api
        .call(
            "/api/users",
            "POST",
            "/api/users",
            admin,
            Some(r#"{"name": "carl"}"#),
        )
        .await;
    let for_carl = json!({"name": "laptop", "user": carl["id"]}).to_string();
    let (status, made) = api.call(keys, "POST", keys, admin, Some(&for_carl)).await;
    assert_eq!(status, 201, "{made}");
    let carls = made["key"].as_str().unwrap().to_owned();
    let (status, mine) = api
        .call("/api/me", "GET", "/api/me", Some(&carls), None)
        .await;
    assert_eq!((status, &mine["user"]), (200, &carl["id"]), "{mine}");
    api.call(keys, "POST", keys, admin, Some(r#"{"name": "no-user"}"#))
        .await; // 400
    api.call(
        keys,
        "POST",
        keys,
        Some(&carls),
        Some(r#"{"name": "x", "user": 1}"#),
    )
    .await; // 403
    api.call(
        keys,
        "POST",
        keys,
        admin,
        Some(r#"{"name": "x", "user": 999}"#),
    )
    .await; // 404
    api.call(keys, "POST", keys, None, Some(&for_carl)).await;
    api.call(keys, "POST", keys, admin, Some(big)).await;
    send_as_text(api, keys, keys).await;
    api.call(keys, "GET", keys, Some(&carls), None).await;
    api.call(keys, "GET", "/api/keys?x=1", admin, None).await;
    api.call(keys, "GET", keys, None, None).await;
    let key = "/api/keys/{id}";
    let url = format!("/api/keys/{}", made["id"]);
    api.call(key, "DELETE", &format!("{url}?x=1"), admin, None)
        .await;
    api.call(key, "DELETE", &url, None, None).await;
    api.call(key, "DELETE", "/api/keys/999", admin, None).await;
    assert_eq!(api.call(key, "DELETE", &url, admin, None).await.0, 200);
    for (user_or_team, id) in [("/api/users", &carl["id"])] {
        let url = format!("{user_or_team}/{id}");
        assert_eq!(
            api.call("/api/users/{id}", "DELETE", &url, admin, None)
                .await
                .0,
            200
        );
    }
    let (_, doomed) = api
        .call(
            "/api/teams",
            "POST",
            "/api/teams",
            admin,
            Some(r#"{"name": "doomed"}"#),
        )
        .await;
    let url = format!("/api/teams/{}", doomed["id"]);
    assert_eq!(
        api.call("/api/teams/{id}", "DELETE", &url, admin, None)
            .await
            .0,
        200
    );
}

/// A body sent as text/plain: 415.
async fn send_as_text(api: &mut Api, pattern: &str, path: &str) {
    send_as_text_with(api, "POST", pattern, path).await;
}

/// A body sent as text/plain with `method`: 415.
async fn send_as_text_with(api: &mut Api, method: &str, pattern: &str, path: &str) {
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("x-jeto-key", "admin")
        .header("content-type", "text/plain")
        .body(Full::new(bytes::Bytes::from_static(b"{}")))
        .unwrap();
    let status = api.service.handle(request).await.status().as_u16();
    api.seen
        .entry((pattern.to_owned(), method.to_lowercase()))
        .or_default()
        .insert(status.to_string());
}
