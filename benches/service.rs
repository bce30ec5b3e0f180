//! In-process costs: the JSON of 1,000 instances, and one request through routing, auth and
//! handler (`GET /api/instances/1` with a cached status) next to `GET /api/health` (little
//! handler work: with the bench's admin key it asks the in-memory provider for its version,
//! which it does not support) in the same process, so their ratio is Jeto's own per-request
//! work.
#![allow(missing_docs)] // criterion_group! generates undocumented functions.

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use http_body_util::{BodyExt, Empty};
use jeto_core::access::{Principal, TokenConfig, TokenPolicy};
use jeto_core::service::CreateInstance;
use jeto_core::testing::InMemoryProvider;
use jeto_core::Host;
use jeto_core::Jeto;
use jeto_http::JetoService;

const KEY: &str = "bench-key";

fn service(runtime: &tokio::runtime::Runtime, instances: usize) -> JetoService {
    runtime.block_on(async {
        let provider = InMemoryProvider::new();
        let policy = TokenPolicy::new(vec![TokenConfig::admin("bench", KEY)]).unwrap();
        let jeto = Jeto::builder(Arc::new(provider.clone()))
            .policy(Arc::new(policy))
            .build()
            .await
            .unwrap();
        let admin = Principal::admin("bench");
        let host = jeto
            .create_host(
                &admin,
                Host::new("h", "memory").with_params([("A", "1")].into_iter().collect()),
            )
            .await
            .unwrap();
        for i in 0..instances {
            let path = format!("/srv/bench/{i}");
            provider.add_instance(path.clone(), &["www", "db"]);
            let request = CreateInstance {
                name: format!("bench-{i}"),
                host: host.id,
                environment: "bench".into(),
                path: Some(path),
                ..Default::default()
            };
            let id = jeto
                .create_instance(&admin, request)
                .await
                .unwrap()
                .instance
                .id;
            jeto.instance(&admin, id, Some(Duration::ZERO))
                .await
                .unwrap();
        }
        JetoService::new(jeto)
    })
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let big = service(&runtime, 1_000);
    let views = runtime
        .block_on(big.jeto().instances(&Principal::admin("bench"), false))
        .unwrap();
    let bytes = serde_json::to_vec(&views).unwrap().len();
    let mut group = c.benchmark_group("json");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("1000_instances", |b| {
        b.iter(|| serde_json::to_vec(&views).unwrap())
    });
    group.finish();

    let small = service(&runtime, 100);
    let request = |path: &str| {
        http::Request::get(path)
            .header("x-jeto-key", KEY)
            .body(Empty::<bytes::Bytes>::new())
            .unwrap()
    };
    let mut group = c.benchmark_group("request");
    for path in ["/api/health", "/api/instances/1", "/api/instances"] {
        group.bench_function(path, |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let response = small.handle(request(path)).await;
                    assert_eq!(response.status(), 200);
                    response.into_body().collect().await.unwrap().to_bytes()
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
