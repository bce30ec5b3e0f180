//! At least 30 bad requests against the real `jeto` binary: each gets the right status and a
//! JSON error a person can act on, and none of them starts a vagrant process.

mod common;

use common::{start_server, ADMIN_KEY, CI_KEY, OTHER_KEY};
use http::Method;
use jeto_http::testing::{TestClient, TestResponse};
use jeto_vagrant::fixture::FakeVagrant;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Case {
    what: &'static str,
    method: Method,
    path: String,
    key: Option<&'static str>,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
}

fn case(what: &'static str, method: Method, path: &str, status: u16) -> Case {
    Case {
        what,
        method,
        path: path.to_owned(),
        key: Some(ADMIN_KEY),
        headers: Vec::new(),
        body: Vec::new(),
        status,
    }
}

impl Case {
    fn json(mut self, body: &str) -> Self {
        self.headers
            .push(("content-type", "application/json".into()));
        self.body = body.as_bytes().to_vec();
        self
    }
    fn key(mut self, key: Option<&'static str>) -> Self {
        self.key = key;
        self
    }
    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
    fn raw(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }
}

fn state(what: &'static str, body: &str) -> Case {
    case(what, Method::POST, "/api/instances/1", 400).json(body)
}

fn check_error(what: &str, response: &TestResponse, status: u16) {
    assert_eq!(
        response.status.as_u16(),
        status,
        "{what}: {}",
        response.text()
    );
    let body = response.json();
    let code = body["error"]["code"].as_str().unwrap_or_default();
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        !code.is_empty() && message.len() > 10,
        "{what}: no usable error in {body}"
    );
}

/// A chunked request body (no Content-Length) over the limit, written on a raw socket.
async fn chunked_over_limit(address: std::net::SocketAddr) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /api/instances/1 HTTP/1.1\r\nhost: x\r\nx-jeto-key: {ADMIN_KEY}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 8192, " ".repeat(8192));
    for _ in 0..10 {
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break; // The server answered and closed early: fine.
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer).await;
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors_and_start_no_process() {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let server = start_server(&fake, data.path());
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let multi = fake.multi().display().to_string();
    let created = admin
        .post(
            "/api/instances",
            &json!({"name": "web", "host": 1, "path": multi}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());

    // A folder outside instance_roots, and a link inside the root that points to it.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("Vagrantfile"), "").unwrap();
    let link = fake.root().join("escape");
    std::os::unix::fs::symlink(outside.path(), &link).unwrap();
    let outside_path = outside.path().display().to_string();
    let link_path = link.display().to_string();

    let big = format!(
        "{{\"state\": \"start\", \"machine\": \"{}\"}}",
        "x".repeat(100 * 1024)
    );
    let cases = vec![
        state("bad JSON", r#"{"state":"#),
        state("JSON that is not an object", "[]"),
        state("state of the wrong type", r#"{"state": 5}"#),
        state("async of the wrong type", r#"{"state": "start", "async": "yes"}"#),
        state("machine of the wrong type", r#"{"state": "start", "machine": ["www"]}"#),
        state("unknown state", r#"{"state": "halt"}"#),
        state("missing state", r#"{"machine": "www"}"#),
        state("misspelt field", r#"{"state": "start", "machin": "www"}"#),
        state("destroy through state", r#"{"state": "destroy"}"#),
        state("runScript without machine", r#"{"state": "runScript", "script": "hello"}"#),
        state("runScript without script", r#"{"state": "runScript", "machine": "www"}"#),
        state("undeclared script", r#"{"state": "runScript", "machine": "www", "script": "rm-rf"}"#),
        state("script of the wrong type", r#"{"state": "runScript", "machine": "www", "script": 5}"#),
        state("machine -f", r#"{"state": "start", "machine": "-f"}"#),
        state("machine --help", r#"{"state": "start", "machine": "--help"}"#),
        state("machine with a space", r#"{"state": "start", "machine": "a b"}"#),
        state("machine with a NUL", r#"{"state": "start", "machine": "a\u0000b"}"#),
        state("machine with a newline", r#"{"state": "rsync", "machine": "www\n"}"#),
        state("empty body", ""),
        case("100 KiB body", Method::POST, "/api/instances/1", 413).json(&big),
        case("text/plain body", Method::POST, "/api/instances/1", 415)
            .header("content-type", "text/plain")
            .raw(br#"{"state": "start"}"#.to_vec()),
        case("no content type", Method::POST, "/api/instances/1", 415).raw(br#"{"state": "start"}"#.to_vec()),
        case("no key", Method::GET, "/api/instances", 401).key(None),
        case("wrong key", Method::GET, "/api/instances", 401).key(Some("wrong")),
        case("basic auth", Method::GET, "/api/instances", 401)
            .key(None)
            .header("authorization", "Basic YWRtaW46YWRtaW4="),
        case("another token's instance", Method::GET, "/api/instances/1", 404).key(Some(OTHER_KEY)),
        case("another token's instance, POST", Method::POST, "/api/instances/1", 404)
            .key(Some(OTHER_KEY))
            .json(r#"{"state": "start"}"#),
        case("ungranted action", Method::POST, "/api/instances/1", 403)
            .key(Some(CI_KEY))
            .json(r#"{"state": "reload"}"#),
        case("ungranted delete", Method::DELETE, "/api/instances/1", 403).key(Some(CI_KEY)),
        case("id 0", Method::GET, "/api/instances/0", 404),
        case("id -1", Method::GET, "/api/instances/-1", 404),
        case("id abc", Method::GET, "/api/instances/abc", 404),
        case("id too large", Method::GET, "/api/instances/99999999999999999999", 404),
        case("absent instance", Method::POST, "/api/instances/42", 404).json(r#"{"state": "start"}"#),
        case("unknown route", Method::GET, "/api/nope", 404),
        case("wrong method", Method::PUT, "/api/instances", 405),
        case("PUT an instance", Method::PUT, "/api/instances/1", 405),
        case("PATCH an instance with an unknown field", Method::PATCH, "/api/instances/1", 400)
            .json(r#"{"colour": "red"}"#),
        case("PATCH an instance by a tenant", Method::PATCH, "/api/instances/1", 403)
            .key(Some(CI_KEY))
            .json(r#"{"name": "mine"}"#),
        case("delete a host in use", Method::DELETE, "/api/hosts/1", 409),
        case("max_age not a number", Method::GET, "/api/instances/1?max_age=soon", 400),
        // Found by the schema fuzzer: beyond int64, a 500 from the store before.
        case("max_age beyond int64", Method::GET, "/api/instances/1?max_age=9223372036854775808", 400),
        case("command id beyond int64", Method::GET, "/api/instances/1/commands/9223372036854775808", 404),
        case("console id beyond int64", Method::GET, "/api/instances/1/commands/9223372036854775808/console", 404),
        case("limit 0", Method::GET, "/api/instances/1/commands?limit=0", 400),
        // A client may not pick (and so overwrite) a host's or project's id.
        case("host with an id", Method::POST, "/api/hosts", 400)
            .json(r#"{"id": 1, "name": "x", "provider": "memory"}"#),
        case("project with an id", Method::POST, "/api/projects", 400)
            .json(r#"{"id": 9223372036854775808, "name": "x", "git_url": "https://g.invalid/x.git"}"#),
        case("refresh not a boolean", Method::GET, "/api/instances?refresh=maybe", 400),
        case("unknown query parameter", Method::GET, "/api/instances?maxage=0", 400),
        case("unknown command action", Method::POST, "/api/instances/1/commands", 400).json(r#"{"action": "explode"}"#),
        case("absent command", Method::GET, "/api/instances/1/commands/999", 404),
        case("cancel an absent command", Method::DELETE, "/api/instances/1/commands/999", 404),
        case("console of an absent command", Method::GET, "/api/instances/1/commands/999/console", 404),
        case("create without name", Method::POST, "/api/instances", 400).json(r#"{"host": 1, "path": "/tmp"}"#),
        case("create with a 129-character name", Method::POST, "/api/instances", 400)
            .json(&format!(r#"{{"name": "{}", "host": 1, "path": "/tmp"}}"#, "n".repeat(129))),
        case("create with two sources", Method::POST, "/api/instances", 400)
            .json(r#"{"name": "x", "host": 1, "path": "/tmp", "archive_url": "https://example.org/a.tgz"}"#),
        case("create with a relative path", Method::POST, "/api/instances", 400)
            .json(r#"{"name": "x", "host": 1, "path": "srv/x"}"#),
        case("create in a folder without Vagrantfile", Method::POST, "/api/instances", 400)
            .json(r#"{"name": "x", "host": 1, "path": "/"}"#),
        case("register a folder twice", Method::POST, "/api/instances", 409)
            .json(&format!(r#"{{"name": "again", "host": 1, "path": "{multi}"}}"#)),
        case("create on an absent host", Method::POST, "/api/instances", 404)
            .json(&format!(r#"{{"name": "x", "host": 99, "path": "{multi}"}}"#)),
        case("create outside instance_roots", Method::POST, "/api/instances", 403)
            .key(Some(CI_KEY))
            .json(&format!(r#"{{"name": "x", "host": 1, "path": "{outside_path}"}}"#)),
        case("create through a link that points out", Method::POST, "/api/instances", 403)
            .key(Some(CI_KEY))
            .json(&format!(r#"{{"name": "x", "host": 1, "path": "{link_path}"}}"#)),
        case("git URL that looks like an option", Method::POST, "/api/instances", 400)
            .json(r#"{"name": "x", "host": 1, "git_url": "--upload-pack=touch /tmp/x", "git_reference": "main"}"#),
        case("host with a bad provider", Method::POST, "/api/hosts", 400)
            .json(r#"{"name": "x", "provider": "virtual box"}"#),
        case("host param that is no variable name", Method::POST, "/api/hosts", 400)
            .json(r#"{"name": "x", "provider": "libvirt", "params": {"A B": "1"}}"#),
        case("host without provider", Method::POST, "/api/hosts", 400).json(r#"{"name": "x"}"#),
        // Issue 24, item 12: booleans are `true` or `false`, and a parameter comes once.
        case("force=1", Method::DELETE, "/api/instances/1?force=1", 400),
        case("force given twice", Method::DELETE, "/api/instances/1?force=true&force=true", 400),
        case("refresh=1", Method::GET, "/api/instances?refresh=1", 400),
        case("max_age given twice", Method::GET, "/api/instances/1?max_age=0&max_age=10", 400),
        case("git reference with an option after tags/", Method::POST, "/api/instances", 400)
            .json(r#"{"name": "x", "host": 1, "git_url": "https://git.example/r.git", "git_reference": "tags/--upload-pack=x"}"#),
    ];
    assert!(cases.len() >= 30);
    for c in &cases {
        let client = admin.with_key(c.key);
        let headers: Vec<(&str, &str)> = c.headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let response = client
            .send(c.method.clone(), &c.path, &headers, c.body.clone())
            .await;
        check_error(c.what, &response, c.status);
        // Issue 24, item 12: every API answer, errors too, is data a browser must not sniff
        // or frame.
        assert_eq!(
            response.header("x-content-type-options"),
            Some("nosniff"),
            "{}",
            c.what
        );
        assert!(
            response
                .header("content-security-policy")
                .is_some_and(|csp| csp.contains("frame-ancestors 'none'")),
            "{}: {:?}",
            c.what,
            response.header("content-security-policy")
        );
        if c.status == 405 {
            assert!(
                response.header("allow").is_some(),
                "{}: no Allow header",
                c.what
            );
        }
        if c.status == 401 {
            assert_eq!(
                response.header("www-authenticate"),
                Some("Bearer"),
                "{}",
                c.what
            );
        }
    }
    // (Health without a key: with an admin key it asks vagrant for its version.)
    for (path, key) in [
        ("/api/instances", Some(ADMIN_KEY)),
        ("/api/health", None),
        ("/api/openapi.json", None),
    ] {
        let ok = admin.with_key(key).get(path).await;
        assert_eq!(ok.status, 200, "{path}");
        assert_eq!(
            ok.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert!(
            ok.header("content-security-policy")
                .is_some_and(|csp| csp.contains("frame-ancestors 'none'")),
            "{path}"
        );
    }
    assert_eq!(
        chunked_over_limit(server.address).await,
        413,
        "chunked body over the limit"
    );
    assert_eq!(
        admin.get("/api/instances/1/commands").await.json(),
        json!([]),
        "no command was recorded"
    );
    assert_eq!(
        fake.calls(),
        Vec::<String>::new(),
        "a bad request started vagrant"
    );
}
