//! Real `nats-server`s with JetStream on loopback ports, for tests (feature `testing`): one
//! server, or a cluster.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `nats-server -js` on 127.0.0.1 with its store in a temporary folder; killed on drop.
pub struct NatsServer {
    child: Child,
    /// `nats://127.0.0.1:PORT`.
    pub url: String,
    /// The store folder, removed when the server is dropped.
    _dir: tempfile::TempDir,
}

impl NatsServer {
    /// Starts one and waits until it takes connections.
    pub fn start() -> NatsServer {
        NatsServer::with_config("")
    }

    /// Starts one on `port` (for a test that needs the address before the server exists)
    /// and waits until it takes connections.
    pub fn on_port(port: u16) -> NatsServer {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "host: 127.0.0.1\nport: {port}\njetstream {{ store_dir: {:?} }}\n",
            dir.path().join("store")
        );
        NatsServer::spawn(dir, &config)
    }

    /// Starts one with more configuration (nats-server's config syntax: an `authorization`
    /// block, say) and waits until it takes connections.
    pub fn with_config(extra: &str) -> NatsServer {
        let dir = tempfile::tempdir().unwrap();
        // The server picks its own free port (-1) and says which: no race with other tests.
        let config = format!(
            "host: 127.0.0.1\nport: -1\njetstream {{ store_dir: {:?} }}\n{extra}\n",
            dir.path().join("store")
        );
        NatsServer::spawn(dir, &config)
    }

    fn spawn(dir: tempfile::TempDir, config: &str) -> NatsServer {
        NatsServer::try_spawn(dir, config).unwrap_or_else(|e| panic!("{e}"))
    }

    fn try_spawn(dir: tempfile::TempDir, config: &str) -> Result<NatsServer, String> {
        let config_path = dir.path().join("nats.conf");
        std::fs::write(&config_path, config).unwrap();
        let log_path = dir.path().join("nats.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let mut child = Command::new(binary())
            .arg("-c")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("nats-server starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        let port = loop {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            let port = text
                .lines()
                .find_map(|l| l.split("Listening for client connections on ").nth(1))
                .and_then(|address| address.trim().rsplit(':').next()?.parse::<u16>().ok());
            if let Some(port) = port {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    break port;
                }
            }
            let exited = child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "nats-server did not start listening within 10 s ({exited:?}): {text}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Ok(NatsServer {
            child,
            url: format!("nats://127.0.0.1:{port}"),
            _dir: dir,
        })
    }

    /// A client of this server.
    pub async fn client(&self) -> async_nats::Client {
        async_nats::connect(&self.url).await.expect("NATS answers")
    }

    /// Kills it outright (SIGKILL), as a crashed box would go.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Several `nats-server`s routed into one JetStream cluster on loopback.
pub struct NatsCluster {
    /// The servers, in order; [`NatsServer::kill`] one to see the others carry on.
    pub nodes: Vec<NatsServer>,
}

impl NatsCluster {
    /// Starts `size` servers that route to each other (JetStream elects its leaders once
    /// they meet: the first stream made waits for that).
    pub fn start(size: usize) -> NatsCluster {
        // A route port picked free may be taken by another server's client port before its
        // own server binds it: then that server exits at once, and the cluster starts over.
        let mut failures = Vec::new();
        for _ in 0..5 {
            match NatsCluster::try_start(size) {
                Ok(cluster) => return cluster,
                Err(error) => failures.push(error),
            }
        }
        panic!("a {size}-node NATS cluster did not start in 5 attempts: {failures:#?}");
    }

    fn try_start(size: usize) -> Result<NatsCluster, String> {
        let route_ports: Vec<u16> = (0..size).map(|_| free_port()).collect();
        let routes: Vec<String> = route_ports
            .iter()
            .map(|p| format!("\"nats-route://127.0.0.1:{p}\""))
            .collect();
        let nodes = route_ports
            .iter()
            .enumerate()
            .map(|(index, port)| {
                let dir = tempfile::tempdir().unwrap();
                let config = format!(
                    "server_name: jeto-{index}\nhost: 127.0.0.1\nport: -1\n\
                     jetstream {{ store_dir: {:?} }}\n\
                     cluster {{ name: jeto, host: 127.0.0.1, port: {port}, routes: [{}] }}\n",
                    dir.path().join("store"),
                    routes.join(", ")
                );
                NatsServer::try_spawn(dir, &config)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(NatsCluster { nodes })
    }

    /// Every server's URL.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.url.clone()).collect()
    }

    /// A client that knows every server (and moves to another when its own dies).
    pub async fn client(&self) -> async_nats::Client {
        async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect(self.urls())
            .await
            .expect("NATS answers")
    }
}

/// A port free right now (the cluster's route ports must be known before the servers start).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn binary() -> PathBuf {
    ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .or_else(|| {
            Command::new("sh")
                .args(["-c", "command -v nats-server"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        })
        .filter(|p: &PathBuf| Path::new(p).exists())
        .expect(
            "these tests need nats-server: apt-get install -y nats-server (.ci/run installs it)",
        )
}

/// A server key and a worker key that trust each other, for tests of a [`crate::Worker`] and
/// a [`crate::NatsProvider`].
#[derive(Debug, Clone)]
pub struct TestTrust {
    /// The server's signing key.
    pub server: crate::SigningKey,
    /// The worker's signing key.
    pub worker: crate::SigningKey,
}

impl Default for TestTrust {
    fn default() -> Self {
        TestTrust {
            server: crate::SigningKey::generate(),
            worker: crate::SigningKey::generate(),
        }
    }
}

impl TestTrust {
    /// A new pair of keys.
    pub fn new() -> Self {
        TestTrust::default()
    }

    /// The worker's side: obeys the server's key, serves any folder, and takes scripts from
    /// the server (an in-memory provider's instances have no folder).
    pub fn worker(&self) -> crate::WorkerTrust {
        crate::WorkerTrust::new(
            self.worker.clone(),
            &self.server.public_key(),
            vec![PathBuf::from("/")],
        )
        .expect("a generated key")
        .scripts_from_server()
    }

    /// The server's side: the worker trusted for hosts 1 to 64.
    pub fn workers(&self) -> crate::TrustedWorkers {
        crate::TrustedWorkers::default()
            .with(&self.worker.public_key(), 1..=64)
            .expect("a generated key")
    }
}

/// `body` signed by `key` for `subject` under `id`, as a server or worker would send it: for
/// tests that play a forger holding a key, or the right key with a wrong message.
pub fn seal(
    key: &crate::SigningKey,
    subject: &str,
    id: &str,
    body: &serde_json::Value,
) -> bytes::Bytes {
    key.seal(subject, id, body)
}

/// The JSON payload of a signed message, whoever signed it (no check at all): what any
/// subscriber can read.
pub fn payload_of(message: &[u8]) -> serde_json::Value {
    let envelope: serde_json::Value = serde_json::from_slice(message).unwrap_or_default();
    envelope["body"]
        .as_str()
        .and_then(|body| serde_json::from_str(body).ok())
        .unwrap_or_default()
}
