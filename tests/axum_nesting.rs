//! The axum example as a user runs it: its own session middleware puts a `Principal` into the
//! request, Jeto is nested at `/api` and at `/vagrant`, and every `Location` and `console_url`
//! the API gives is followed over TCP and answers.

#[allow(dead_code)]
#[path = "../examples/axum.rs"]
mod example;

use std::future::IntoFuture;
use std::time::Duration;

use http::Method;
use jeto_http::testing::{TestClient, TestResponse};
use serde_json::{json, Value};

struct App {
    client: TestClient,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
}

async fn start() -> App {
    let jeto = example::demo_jeto().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        jeto_http::serve(
            listener,
            example::app(jeto.clone(), example::Sessions::demo()),
        )
        .stopping(jeto)
        .with_graceful_shutdown(
            async {
                let _ = stopped.await;
            },
            Duration::from_secs(5),
        )
        .into_future(),
    );
    App {
        client: TestClient::new(address, None),
        stop,
        server,
    }
}

impl App {
    async fn call(
        &self,
        session: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> TestResponse {
        let mut headers = vec![("x-session", session)];
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.client.send(method, path, &headers, body).await
    }

    /// Follows the `Location` of `created` (which must be under `root`) and returns its JSON.
    async fn follow(&self, root: &str, created: &TestResponse) -> Value {
        let location = created
            .header("location")
            .unwrap_or_else(|| panic!("no Location in {} {}", created.status, created.text()));
        assert!(
            location.starts_with(&format!("{root}/")),
            "{location} is not under {root}"
        );
        let followed = self.call("s-alice", Method::GET, location, None).await;
        assert_eq!(followed.status, 200, "GET {location}: {}", followed.text());
        followed.json()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_twice_every_link_followed() {
    let app = start().await;
    for (root, folder) in [("/api", "/srv/shop"), ("/vagrant/api", "/srv/blog")] {
        let health = app
            .call("s-alice", Method::GET, &format!("{root}/health"), None)
            .await;
        assert_eq!(health.status, 200, "{root}/health: {}", health.text());

        let host = app
            .call(
                "s-alice",
                Method::POST,
                &format!("{root}/hosts"),
                Some(json!({"name": format!("box{root}"), "provider": "memory"})),
            )
            .await;
        assert_eq!(host.status, 201, "{}", host.text());
        let host = app.follow(root, &host).await;

        let instance = app
            .call(
                "s-alice",
                Method::POST,
                &format!("{root}/instances"),
                Some(json!({"name": "app", "host": host["id"], "path": folder})),
            )
            .await;
        assert_eq!(instance.status, 201, "{}", instance.text());
        let instance = app.follow(root, &instance).await;
        assert_eq!(instance["path"], folder);
        let id = instance["id"].as_u64().unwrap();

        let command = app
            .call(
                "s-alice",
                Method::POST,
                &format!("{root}/instances/{id}/commands"),
                Some(json!({"action": "start"})),
            )
            .await;
        assert_eq!(command.status, 202, "{}", command.text());
        let command = app.follow(root, &command).await;
        assert_eq!(command["action"], "start");

        let listed = app
            .call(
                "s-alice",
                Method::GET,
                &format!("{root}/instances/{id}/commands"),
                None,
            )
            .await
            .json();
        let console_url = listed[0]["console_url"].as_str().unwrap().to_owned();
        assert!(
            console_url.starts_with(&format!("{root}/")),
            "{console_url}"
        );
        let console = app.call("s-alice", Method::GET, &console_url, None).await;
        assert_eq!(console.status, 200, "GET {console_url}: {}", console.text());

        let project = app
            .call("s-alice", Method::POST, &format!("{root}/projects"),
                Some(json!({"name": format!("p{id}"), "archive_url": "https://example.invalid/app.tar.gz"})))
            .await;
        assert_eq!(project.status, 201, "{}", project.text());
        app.follow(root, &project).await;

        let document = app
            .call(
                "s-alice",
                Method::GET,
                &format!("{root}/openapi.json"),
                None,
            )
            .await
            .json();
        let server = document["servers"][0]["url"].as_str().unwrap_or("/");
        let health_path = format!("{}/api/health", server.trim_end_matches('/'));
        assert_eq!(
            health_path,
            format!("{root}/health"),
            "the document's server and paths give the routes"
        );
    }
    let _ = app.stop.send(());
    app.server.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_apps_own_auth_decides_who_sees_what() {
    let app = start().await;
    let refused = app.client.get("/api/instances").await;
    assert_eq!(
        refused.status,
        401,
        "the app's middleware refuses: {}",
        refused.text()
    );
    // A Jeto key header means nothing to this app: its middleware decides.
    let keyed = app
        .client
        .send(
            Method::GET,
            "/vagrant/api/instances",
            &[("x-jeto-key", "anything")],
            "",
        )
        .await;
    assert_eq!(keyed.status, 401);

    for (name, path) in [("one", "/srv/shop"), ("two", "/srv/blog")] {
        let host = app
            .call(
                "s-alice",
                Method::POST,
                "/api/hosts",
                Some(json!({"name": name, "provider": "memory"})),
            )
            .await
            .json();
        let created = app
            .call(
                "s-alice",
                Method::POST,
                "/api/instances",
                Some(json!({"name": name, "host": host["id"], "path": path})),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text());
    }
    // bob sees host 1 only, may start but not reload, and cannot tell instance 2 exists.
    let listed = app
        .call("s-bob", Method::GET, "/vagrant/api/instances", None)
        .await
        .json();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["one"]);
    let hidden = app
        .call("s-bob", Method::GET, "/api/instances/2", None)
        .await;
    assert_eq!(hidden.status, 404, "{}", hidden.text());
    let reload = app
        .call(
            "s-bob",
            Method::POST,
            "/api/instances/1/commands",
            Some(json!({"action": "reload"})),
        )
        .await;
    assert_eq!(reload.status, 403, "{}", reload.text());
    let start = app
        .call(
            "s-bob",
            Method::POST,
            "/api/instances/1/commands",
            Some(json!({"action": "start"})),
        )
        .await;
    assert_eq!(start.status, 202, "{}", start.text());
    let whoami = app.call("s-bob", Method::GET, "/whoami", None).await;
    assert_eq!(whoami.text(), "bob");
    let _ = app.stop.send(());
    app.server.await.unwrap();
}
