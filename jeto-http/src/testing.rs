//! Helpers for end-to-end tests (feature `testing`): [`TestClient`], a real HTTP/1 client
//! over TCP, and [`ServerProcess`], a running `jeto` binary.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use bytes::Bytes;

/// Every route the service answers: its path pattern and methods (the OpenAPI test holds the
/// document to it).
pub use crate::routes::ROUTES;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// A finished response.
#[derive(Debug, Clone)]
pub struct TestResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl TestResponse {
    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An HTTP/1 client bound to one server and, optionally, one key.
#[derive(Debug, Clone)]
pub struct TestClient {
    base: String,
    key: Option<String>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl TestClient {
    /// A client for the server at `address`.
    pub fn new(address: SocketAddr, key: Option<&str>) -> Self {
        TestClient {
            base: format!("http://{address}"),
            key: key.map(str::to_owned),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// The same client with another key (or none).
    pub fn with_key(&self, key: Option<&str>) -> Self {
        TestClient {
            key: key.map(str::to_owned),
            ..self.clone()
        }
    }

    /// Sends a request with raw headers and body; the key goes in `X-JETO-KEY`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> TestResponse {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(key) = &self.key {
            request = request.header("X-JETO-KEY", key);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(body.into()))
            .expect("a valid request");
        let response = self
            .client
            .request(request)
            .await
            .expect("the server answers");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("the whole body").to_bytes();
        TestResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(Method::GET, path, &[], Bytes::new()).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> TestResponse {
        self.send(Method::DELETE, path, &[], Bytes::new()).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> TestResponse {
        self.post_raw(path, &body.to_string()).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> TestResponse {
        self.json_request(Method::PUT, path, body).await
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch(&self, path: &str, body: &Value) -> TestResponse {
        self.json_request(Method::PATCH, path, body).await
    }

    async fn json_request(&self, method: Method, path: &str, body: &Value) -> TestResponse {
        self.send(
            method,
            path,
            &[("content-type", "application/json")],
            body.to_string(),
        )
        .await
    }

    /// `POST path` with a raw JSON text.
    pub async fn post_raw(&self, path: &str, body: &str) -> TestResponse {
        self.send(
            Method::POST,
            path,
            &[("content-type", "application/json")],
            body.to_owned(),
        )
        .await
    }

    /// The streaming response of a `GET`: status and each body chunk as it arrives.
    pub async fn get_stream(&self, path: &str) -> (StatusCode, hyper::body::Incoming) {
        let mut request = Request::get(format!("{}{path}", self.base));
        if let Some(key) = &self.key {
            request = request.header("X-JETO-KEY", key);
        }
        let response = self
            .client
            .request(request.body(Full::new(Bytes::new())).unwrap())
            .await
            .expect("the server answers");
        (response.status(), response.into_body())
    }
}

/// A `jeto serve` process, stopped (SIGTERM, then SIGKILL) on drop.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// Where it listens.
    pub address: SocketAddr,
    /// The admin key it printed on first start, if it generated one.
    pub generated_key: Option<String>,
    /// The lines it printed before listening.
    pub banner: Vec<String>,
    /// What must outlive the process (the NATS server and workers it uses), dropped after it.
    companions: Vec<Box<dyn std::any::Any + Send>>,
}

impl ServerProcess {
    /// Starts `binary serve ARGS...` and waits until it prints where it listens.
    pub fn start(binary: impl AsRef<Path>, args: &[&str], envs: &[(&str, &str)]) -> ServerProcess {
        let mut command = Command::new(binary.as_ref());
        command.arg("serve").args(args).envs(envs.iter().copied());
        ServerProcess::spawn(command)
    }

    /// Starts `command` (a `jeto serve`, possibly behind a launcher that execs it, such as
    /// `prlimit`) and waits until it prints where it listens.
    pub fn spawn(command: Command) -> ServerProcess {
        ServerProcess::spawn_with_stderr(command, Stdio::inherit())
    }

    /// [`ServerProcess::spawn`] with the server's log (its standard error) written to `log`,
    /// at the `RUST_LOG` level the command sets (`warn` when neither it nor the test does).
    pub fn spawn_logging_to(command: Command, log: std::fs::File) -> ServerProcess {
        ServerProcess::spawn_with_stderr(command, Stdio::from(log))
    }

    fn spawn_with_stderr(mut command: Command, stderr: Stdio) -> ServerProcess {
        // Quiet unless the command or the test asks for logs with its own RUST_LOG.
        let level_set = command.get_envs().any(|(name, _)| name == "RUST_LOG");
        if !level_set && std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "warn");
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut banner = Vec::new();
        let mut generated_key = None;
        let address = loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("jeto exited before listening; it printed {banner:?}"))
                .expect("stdout");
            if let Some(key) = line.strip_prefix("admin key: ") {
                generated_key = Some(key.trim().to_owned());
            }
            // Not on a terminal, the key is written to a file readable by its user only.
            if let Some(file) = line.strip_prefix("admin key file: ") {
                let key = std::fs::read_to_string(file.trim()).expect("the admin key file");
                generated_key = Some(key.trim().to_owned());
            }
            if let Some(url) = line
                .strip_prefix("jeto listening on http://")
                .or_else(|| line.strip_prefix("jeto listening on https://"))
            {
                break url.trim().parse().expect("an address");
            }
            banner.push(line);
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        ServerProcess {
            child,
            address,
            generated_key,
            banner,
            companions: Vec::new(),
        }
    }

    /// Keeps `companion` (a NATS server, a worker process) alive until this process is
    /// stopped, and drops it after.
    pub fn keep_alive(&mut self, companion: Box<dyn std::any::Any + Send>) {
        self.companions.push(companion);
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The resident set size, in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        self.memory_kib("VmRSS:")
    }

    /// The peak resident set size so far, in KiB, from /proc.
    pub fn peak_rss_kib(&self) -> u64 {
        self.memory_kib("VmHWM:")
    }

    fn memory_kib(&self, field: &str) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Kills the process outright (SIGKILL), as a crash would, and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for the process to exit; returns whether it exited cleanly.
    pub fn terminate(&mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().map(|s| s.success()).unwrap_or(false)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.terminate();
        }
    }
}
