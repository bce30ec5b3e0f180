//! Coalescing on the real vagrant (test plugin): 100 concurrent `GET
//! /api/instances/{id}?max_age=0` over HTTP against an in-process server, counting the vagrant
//! processes with a wrapper binary, and the wall time divided by one plain `vagrant status`
//! measured in the same run.
//!
//! `cargo bench --bench coalescing`. Needs vagrant (`apt-get install -y vagrant`).

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Instant;

use jeto_core::access::{TokenConfig, TokenPolicy};
use jeto_core::Jeto;
use jeto_http::testing::TestClient;
use jeto_http::JetoService;
use jeto_vagrant::fixture::FakeVagrant;
use jeto_vagrant::{VagrantConfig, VagrantProvider};

#[tokio::main]
async fn main() {
    let fake = FakeVagrant::new();
    let config = VagrantConfig {
        binary: fake.counting_binary(),
        ..fake.config()
    };
    let policy = TokenPolicy::new(vec![TokenConfig::admin("bench", "k")]).unwrap();
    let jeto = Jeto::builder(Arc::new(VagrantProvider::new(config.clone())))
        .policy(Arc::new(policy))
        .build()
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(jeto_http::serve(listener, JetoService::new(jeto)).into_future());
    let client = TestClient::new(address, Some("k"));
    let host = client
        .post(
            "/api/hosts",
            &serde_json::json!({"name": "fake", "provider": "jeto_fake"}),
        )
        .await
        .json();
    let created = client
        .post("/api/instances", &serde_json::json!({"name": "multi", "host": host["id"], "path": fake.multi().display().to_string()}))
        .await
        .json();
    let path = format!("/api/instances/{}?max_age=0", created["id"]);

    // One plain `vagrant status` (after a warm-up), the unit of the ratio.
    let plain = || {
        let t = Instant::now();
        fake.run_vagrant(&fake.multi(), &["--machine-readable", "status"]);
        t.elapsed()
    };
    plain();
    let single = plain();

    let before = fake.calls().len();
    let started = Instant::now();
    let requests: Vec<_> = (0..100)
        .map(|_| {
            let (client, path) = (client.clone(), path.clone());
            tokio::spawn(async move { client.get(&path).await.status })
        })
        .collect();
    for request in requests {
        assert_eq!(request.await.unwrap(), 200);
    }
    let wall = started.elapsed();
    let processes = fake.calls().len() - before;
    println!("100 concurrent GET {path}");
    println!("  vagrant processes: {processes}");
    println!("  wall time: {wall:?}; one plain `vagrant status`: {single:?}");
    println!(
        "  wall time / plain status: {:.2}",
        wall.as_secs_f64() / single.as_secs_f64()
    );
}
