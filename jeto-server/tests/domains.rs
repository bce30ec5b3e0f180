//! Issue 30, domains: the real binary's proxy over TCP in front of a web server of the test's
//! own (standing in for a machine: the fixture provider reports this box's own address as the
//! machine's IP). Routing by name, the three access modes, streaming, WebSocket upgrades,
//! HTTPS by SNI with certificates of a test CA, the answer for a stopped machine, and what a
//! tenant may not point a domain at.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::tls::TestCa;
use common::{register, start_server_top, ADMIN_KEY, CI_KEY, OTHER_KEY};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::Frame;
use jeto_http::testing::{ServerProcess, TestClient};
use jeto_vagrant::fixture::{free_port, FakeVagrant};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// This box's own address other than loopback (the fixture reports no loopback IP as a
/// machine's, as Vagrant's guests have none worth reaching). No packet leaves: a UDP
/// "connection" only picks the route.
fn own_address() -> IpAddr {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    socket
        .connect("192.0.2.1:9")
        .expect("these tests need a non-loopback address on this box (any route will do)");
    socket.local_addr().unwrap().ip()
}

type Body = BoxBody<Bytes, std::io::Error>;

/// The "machine": a web server on this box's own address. `/hello` says hello and which
/// headers came; `/stream` sends a first chunk, then the last once `release` is notified;
/// an upgrade to `echo` answers 101 and echoes bytes.
async fn machine(release: Arc<tokio::sync::Notify>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind((own_address(), 0))
        .await
        .unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let release = release.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |mut request: hyper::Request<hyper::body::Incoming>| {
                        let release = release.clone();
                        async move {
                            let full = |text: String| -> Body {
                                Full::new(Bytes::from(text))
                                    .map_err(|never| match never {})
                                    .boxed()
                            };
                            let response = match request.uri().path() {
                                "/hello" => {
                                    let seen = |name: &str| {
                                        request
                                            .headers()
                                            .get(name)
                                            .and_then(|v| v.to_str().ok())
                                            .map(str::to_owned)
                                    };
                                    let report = json!({
                                        "hello": "from the machine",
                                        "host": seen("host"),
                                        "x-forwarded-for": seen("x-forwarded-for"),
                                        "x-forwarded-proto": seen("x-forwarded-proto"),
                                        "x-forwarded-host": seen("x-forwarded-host"),
                                        "authorization": seen("authorization"),
                                        "x-jeto-key": seen("x-jeto-key"),
                                        "connection": seen("connection"),
                                    });
                                    hyper::Response::new(full(report.to_string()))
                                }
                                "/stream" => {
                                    let (sender, receiver) =
                                        tokio::sync::mpsc::channel::<
                                            Result<Frame<Bytes>, std::io::Error>,
                                        >(2);
                                    tokio::spawn(async move {
                                        let _ = sender
                                            .send(Ok(Frame::data(Bytes::from("first\n"))))
                                            .await;
                                        release.notified().await;
                                        let _ = sender
                                            .send(Ok(Frame::data(Bytes::from("last\n"))))
                                            .await;
                                    });
                                    let stream = futures_util::stream::unfold(
                                        receiver,
                                        |mut r| async move { r.recv().await.map(|item| (item, r)) },
                                    );
                                    hyper::Response::new(BodyExt::boxed(StreamBody::new(stream)))
                                }
                                "/echo" => {
                                    let upgrade = hyper::upgrade::on(&mut request);
                                    tokio::spawn(async move {
                                        if let Ok(upgraded) = upgrade.await {
                                            let mut io = hyper_util::rt::TokioIo::new(upgraded);
                                            let mut buffer = [0u8; 64];
                                            while let Ok(n) = io.read(&mut buffer).await {
                                                if n == 0
                                                    || io.write_all(&buffer[..n]).await.is_err()
                                                {
                                                    break;
                                                }
                                            }
                                        }
                                    });
                                    hyper::Response::builder()
                                        .status(101)
                                        .header("connection", "upgrade")
                                        .header("upgrade", "echo")
                                        .body(full(String::new()))
                                        .unwrap()
                                }
                                _ => hyper::Response::builder()
                                    .status(404)
                                    .body(full("no".into()))
                                    .unwrap(),
                            };
                            Ok::<_, std::convert::Infallible>(response)
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    address
}

/// A server with host 4 whose machines report this box's address, its proxy on `http` and
/// `https` (the CA's certificate as the default), and `t4`, a key granted host 4.
struct Proxied {
    fake: FakeVagrant,
    _data: tempfile::TempDir,
    server: ServerProcess,
    admin: TestClient,
    http: SocketAddr,
    https: SocketAddr,
    ca: TestCa,
}

const T4_KEY: &str = "t4-key-for-tests";

fn setup() -> Proxied {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let ca = TestCa::new(data.path());
    let (http, https) = (free_port(), free_port());
    let extra = format!(
        "\n[[hosts]]\nid = 4\nname = \"web\"\nprovider = \"jeto_fake\"\nparams = {{ JETO_FAKE_IPS = \"{ip}\", JETO_FAKE_SSH_HOST = \"{ip}\" }}\n\
         [[tokens]]\nname = \"t4\"\nkey_sha256 = \"{t4}\"\nhosts = [4]\nactions = [\"status\", \"start\", \"stop\"]\n\
         [proxy]\nlisten = \"127.0.0.1:{http}\"\ntls_listen = \"127.0.0.1:{https}\"\ncert_file = {cert:?}\nkey_file = {key:?}\n\
         reserved_names = [\"jeto.example.test\"]\nmax_body_bytes = 1000\n",
        ip = own_address(),
        t4 = jeto_core::access::hash_key(T4_KEY),
        cert = ca.cert_file,
        key = ca.key_file,
    );
    let server = start_server_top(&fake, data.path(), "", &extra);
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    Proxied {
        fake,
        _data: data,
        server,
        admin,
        http: SocketAddr::from(([127, 0, 0, 1], http)),
        https: SocketAddr::from(([127, 0, 0, 1], https)),
        ca,
    }
}

impl Proxied {
    /// A started instance on host 4 named `name`.
    async fn running(&self, name: &str) -> u64 {
        let id = register(&self.admin, name, 4, &self.fake.another_single(name)).await;
        let started = self
            .admin
            .post(&format!("/api/instances/{id}"), &json!({"state": "start"}))
            .await;
        assert_eq!(started.status, 200, "{}", started.text());
        id
    }

    /// A client sending every name to the proxy (as DNS would), trusting the test CA.
    fn visitor(&self, names: &[&str]) -> reqwest::Client {
        let mut builder = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(
                reqwest::Certificate::from_pem(self.ca.ca_pem.as_bytes()).unwrap(),
            )
            .redirect(reqwest::redirect::Policy::none());
        // The URL's port is used: only the name is resolved here.
        for name in names {
            builder = builder.resolve(name, self.http);
        }
        builder.build().unwrap()
    }

    fn url(&self, name: &str, path: &str) -> String {
        format!("http://{name}:{}{path}", self.http.port())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_reaches_its_machine_over_http_and_https_streaming_and_upgrading() {
    let p = setup();
    let release = Arc::new(tokio::sync::Notify::new());
    let upstream = machine(release.clone()).await;
    let id = p.running("shop").await;
    let (cert, key) = p.ca.issue(&["shop.test", "www.shop.test"]);
    let made = p
        .admin
        .post(
            "/api/domains",
            &json!({"name": "shop.test", "aliases": ["www.shop.test"], "instance": id,
                    "port": upstream.port(), "access": {"mode": "public"},
                    "tls": {"certificate_pem": cert, "private_key_pem": key}}),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text());
    assert!(
        !made.text().contains("PRIVATE KEY"),
        "the key is never shown"
    );
    let visitor = p.visitor(&["shop.test", "www.shop.test", "nowhere.test"]);

    // HTTP, by name and alias, with the forwarding headers set.
    for name in ["shop.test", "www.shop.test"] {
        let answer = visitor.get(p.url(name, "/hello")).send().await.unwrap();
        let status = answer.status();
        let text = answer.text().await.unwrap();
        assert_eq!(status, 200, "{text}");
        let seen: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(seen["hello"], "from the machine");
        assert_eq!(seen["x-forwarded-proto"], "http");
        assert_eq!(seen["x-forwarded-host"], name);
        assert_eq!(seen["x-forwarded-for"], "127.0.0.1");
    }
    // HTTPS with the domain's own certificate (the test CA's, chosen by SNI).
    let answer = visitor
        .get(format!("https://shop.test:{}/hello", p.https.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let seen: Value = answer.json().await.unwrap();
    assert_eq!(seen["x-forwarded-proto"], "https");

    // A streamed answer arrives before it ends.
    let mut streamed = visitor
        .get(p.url("shop.test", "/stream"))
        .send()
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), streamed.chunk())
        .await
        .expect("the first chunk before the end")
        .unwrap()
        .unwrap();
    assert_eq!(&first[..], b"first\n");
    release.notify_one();
    let last = streamed.chunk().await.unwrap().unwrap();
    assert_eq!(&last[..], b"last\n");

    // An upgrade passes through: bytes echo both ways.
    common::echo_through(p.http, "shop.test", b"ping over the tunnel").await;

    // A body over the limit is refused before anything is sent.
    let big = visitor
        .post(p.url("shop.test", "/hello"))
        .body(vec![b'x'; 2000])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 413);

    // An unknown name reaches no machine.
    let unknown = visitor
        .get(p.url("nowhere.test", "/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(!unknown.text().await.unwrap().contains("from the machine"));

    // A stopped machine: a clear page naming the instance, not the machine's content.
    let stopped = p
        .admin
        .post(&format!("/api/instances/{id}"), &json!({"state": "stop"}))
        .await;
    assert_eq!(stopped.status, 200, "{}", stopped.text());
    let answer = visitor
        .get(p.url("shop.test", "/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 503);
    let page = answer.text().await.unwrap();
    assert!(
        page.contains("shop") && page.contains("not running"),
        "{page}"
    );
    drop(p.server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_access_mode_lets_in_whom_it_should_and_nobody_else() {
    let p = setup();
    let upstream = machine(Arc::new(tokio::sync::Notify::new())).await;
    let id = p.running("site").await;
    let domain = |name: &str, access: Value| json!({"name": name, "instance": id, "port": upstream.port(), "access": access});
    let made = p
        .admin
        .post(
            "/api/domains",
            &domain(
                "locked.test",
                json!({"mode": "passwords", "logins": [{"name": "ann", "password": "correct horse"}]}),
            ),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text());
    assert!(
        !made.text().contains("argon2"),
        "no hash is shown: {}",
        made.text()
    );
    let made = p
        .admin
        .post(
            "/api/domains",
            &domain("team.test", json!({"mode": "granted"})),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text());
    let visitor = p.visitor(&["locked.test", "team.test"]);

    // Passwords: none, a wrong one refused; the right one served, and not passed on.
    let anonymous = visitor
        .get(p.url("locked.test", "/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("Basic"));
    let wrong = visitor
        .get(p.url("locked.test", "/hello"))
        .basic_auth("ann", Some("wrong horse"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    for _ in 0..2 {
        let right = visitor
            .get(p.url("locked.test", "/hello"))
            .basic_auth("ann", Some("correct horse"))
            .send()
            .await
            .unwrap();
        assert_eq!(right.status(), 200);
        let seen: Value = right.json().await.unwrap();
        assert_eq!(
            seen["authorization"],
            Value::Null,
            "the password stays with the proxy"
        );
    }

    // Granted: no key 401; a key that cannot see the instance 403; one that can is served,
    // and its key is not passed on.
    let anonymous = visitor
        .get(p.url("team.test", "/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    for stranger in [OTHER_KEY, CI_KEY, "not-a-key"] {
        let refused = visitor
            .get(p.url("team.test", "/hello"))
            .header("x-jeto-key", stranger)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 403, "{stranger}");
    }
    let granted = visitor
        .get(p.url("team.test", "/hello"))
        .bearer_auth(T4_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(granted.status(), 200);
    let seen: Value = granted.json().await.unwrap();
    assert_eq!(seen["authorization"], Value::Null);
    assert_eq!(seen["x-jeto-key"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domains_are_checked_and_tenants_point_only_at_what_they_may_manage() {
    let p = setup();
    let mine = p.running("mine").await;
    let theirs = register(&p.admin, "theirs", 1, &p.fake.another_single("theirs")).await;
    let tenant = TestClient::new(p.server.address, Some(T4_KEY));
    let create = |body: Value| {
        let tenant = tenant.clone();
        async move { tenant.post("/api/domains", &body).await }
    };

    // An instance the tenant cannot see: 404, as for one that does not exist.
    let hidden = create(json!({"name": "a.test", "instance": theirs, "port": 80})).await;
    assert_eq!(hidden.status, 404, "{}", hidden.text());
    let missing = create(json!({"name": "a.test", "instance": 999, "port": 80})).await;
    assert_eq!(missing.status, 404, "{}", missing.text());
    // An address of its choosing has no field to go in: refused as an unknown field.
    let address =
        create(json!({"name": "a.test", "instance": mine, "port": 80, "address": "10.0.0.9"}))
            .await;
    assert_eq!(address.status, 400, "{}", address.text());
    assert!(address.text().contains("address"), "{}", address.text());
    // Names: well formed, not the API's own, not taken.
    for (name, why) in [
        ("Shop.test", "lowercase"),
        ("10.0.0.1", "not a domain"),
        ("localhost", "one label"),
        ("jeto.example.test", "API"),
    ] {
        let refused = create(json!({"name": name, "instance": mine, "port": 80})).await;
        assert_eq!(refused.status, 400, "{name}: {}", refused.text());
        assert!(
            refused.text().contains("name") || refused.text().contains("domain"),
            "{why}: {}",
            refused.text()
        );
    }
    let made = create(json!({"name": "mine.test", "instance": mine, "port": 80})).await;
    assert_eq!(made.status, 201, "{}", made.text());
    let taken = p
        .admin
        .post(
            "/api/domains",
            &json!({"name": "x.test", "aliases": ["mine.test"], "instance": theirs, "port": 80}),
        )
        .await;
    assert_eq!(taken.status, 409, "{}", taken.text());
    // Moving its domain to an instance it cannot see: 404, nothing changes.
    let id = made.json()["id"].as_u64().unwrap();
    let moved = tenant
        .put(
            &format!("/api/domains/{id}"),
            &json!({"name": "mine.test", "instance": theirs, "port": 80}),
        )
        .await;
    assert_eq!(moved.status, 404, "{}", moved.text());
    assert_eq!(
        p.admin.get(&format!("/api/domains/{id}")).await.json()["instance"],
        mine
    );
    // Its own list shows its domain only; another tenant sees none of it.
    let admin_made = p
        .admin
        .post(
            "/api/domains",
            &json!({"name": "theirs.test", "instance": theirs, "port": 80}),
        )
        .await;
    assert_eq!(admin_made.status, 201, "{}", admin_made.text());
    let listed = tenant.get("/api/domains").await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let other = TestClient::new(p.server.address, Some(OTHER_KEY));
    assert_eq!(other.get(&format!("/api/domains/{id}")).await.status, 404);
    assert_eq!(
        other.delete(&format!("/api/domains/{id}")).await.status,
        404
    );
    // A bad certificate is refused with what is wrong.
    let bad_tls = create(json!({"name": "tls.test", "instance": mine, "port": 443,
        "tls": {"certificate_pem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                "private_key_pem": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}})).await;
    assert_eq!(bad_tls.status, 400, "{}", bad_tls.text());
    // Deleting the instance takes its domains with it.
    let deleted = p
        .admin
        .delete(&format!("/api/instances/{mine}?force=true"))
        .await;
    assert!(deleted.status.is_success(), "{}", deleted.text());
    assert_eq!(p.admin.get(&format!("/api/domains/{id}")).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visit_starts_a_stopped_machine_when_the_domain_asks_for_it_once() {
    let p = setup();
    let upstream = machine(Arc::new(tokio::sync::Notify::new())).await;
    let id = register(&p.admin, "lazy", 4, &p.fake.another_single("lazy")).await;
    let made = p
        .admin
        .post(
            "/api/domains",
            &json!({"name": "lazy.test", "instance": id, "port": upstream.port(),
                    "access": {"mode": "public"}, "start_on_visit": true}),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text());
    let visitor = p.visitor(&["lazy.test"]);
    let first = visitor
        .get(p.url("lazy.test", "/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 503);
    assert_eq!(first.headers()["retry-after"], "10");
    assert!(first.text().await.unwrap().contains("starting"));
    // Visits go on while it starts; once it runs, they are served.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let answer = visitor
            .get(p.url("lazy.test", "/hello"))
            .send()
            .await
            .unwrap();
        if answer.status() == 200 {
            break;
        }
        assert_eq!(answer.status(), 503);
        assert!(
            std::time::Instant::now() < deadline,
            "the machine did not start"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let commands = p
        .admin
        .get(&format!("/api/instances/{id}/commands"))
        .await
        .json();
    let starts: Vec<&Value> = commands
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["requested_by"] == "proxy:start-on-visit")
        .collect();
    assert_eq!(starts.len(), 1, "one start for many visits: {commands}");
    assert_eq!(starts[0]["action"], "start");
}
