//! A real `nats-server` with JetStream on a loopback port, for tests (feature `testing`).

use std::net::TcpStream;
use std::path::Path;
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
        let binary = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .map(str::to_owned)
            .or_else(|| {
                Command::new("sh")
                    .args(["-c", "command -v nats-server"])
                    .output()
                    .ok()
                    .filter(|o| o.status.success())
                    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            })
            .expect("these tests need nats-server: apt-get install -y nats-server (.ci/run installs it)");
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("nats.log");
        let log = std::fs::File::create(&log_path).unwrap();
        // The server picks its own free port (-1) and says which: no race with other tests.
        let mut child = Command::new(binary)
            .args(["-js", "-a", "127.0.0.1", "-p", "-1", "-sd"])
            .arg(dir.path().join("store"))
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
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "nats-server did not start listening within 10 s ({exited:?}): {text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        NatsServer {
            child,
            url: format!("nats://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    /// A client of this server.
    pub async fn client(&self) -> async_nats::Client {
        async_nats::connect(&self.url).await.expect("NATS answers")
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
