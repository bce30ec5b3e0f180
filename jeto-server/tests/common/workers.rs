//! `jeto worker` processes for the tests, and the switch that runs the HTTP suite with its
//! hosts served by one (`JETO_TEST_OVER_WORKERS=1`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use jeto_nats::testing::NatsServer;
use jeto_vagrant::fixture::FakeVagrant;

use super::config_toml_with;

/// A `jeto worker` process; SIGKILLed on drop.
pub struct WorkerProcess {
    child: Child,
    config: PathBuf,
    url: String,
    hosts: Vec<u64>,
    name: String,
}

impl WorkerProcess {
    /// A worker named `name` for `hosts`, with its own data folder under `dir` (kept over
    /// restarts: its process records are there) and `extra` config (more hosts, say).
    pub fn start(
        fake: &FakeVagrant,
        dir: &Path,
        url: &str,
        name: &str,
        hosts: &[u64],
        extra: &str,
    ) -> WorkerProcess {
        let config = dir.join(format!("{name}.toml"));
        // Its folders: the fixture's, and those the test's server makes in `dir/data`.
        let roots = format!("instance_roots = [{:?}]", fake.root());
        let toml = config_toml_with(
            fake,
            &dir.join(format!("{name}-data")),
            &worker_trust(dir, extra),
        )
        .replace(
            &roots,
            &format!(
                "instance_roots = [{:?}, {:?}]",
                fake.root(),
                dir.join("data/instances")
            ),
        );
        std::fs::write(&config, toml).unwrap();
        let mut worker = WorkerProcess {
            child: Command::new("true").spawn().unwrap(),
            config,
            url: url.to_owned(),
            hosts: hosts.to_vec(),
            name: name.to_owned(),
        };
        worker.restart();
        worker
    }

    /// Starts the process (again) and waits until it serves.
    pub fn restart(&mut self) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_jeto"));
        command.args([
            "worker",
            "--config",
            self.config.to_str().unwrap(),
            "--nats",
            &self.url,
            "--name",
            &self.name,
        ]);
        for host in &self.hosts {
            command.args(["--host", &host.to_string()]);
        }
        let mut child = command
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        assert!(
            ready.contains(&format!("jeto worker {} serving hosts", self.name)),
            "{ready:?}"
        );
        self.child = child;
    }

    /// SIGKILL, as a box that dies.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM without waiting: the worker drains, then exits.
    pub fn signal_stop(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }

    /// Waits for the process to exit; whether it exited cleanly.
    pub fn wait(&mut self) -> bool {
        self.child.wait().map(|s| s.success()).unwrap_or(false)
    }

    /// SIGTERM: a clean stop.
    pub fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// With `JETO_TEST_OVER_WORKERS=1`, the servers the suite starts have hosts 1 and 2 served
/// by a worker process over a NATS server of their own: the `[nats]` table to add to the
/// server's config, and what must live as long as the server.
pub fn over_workers(fake: &FakeVagrant, dir: &Path) -> Option<(String, Companions)> {
    if std::env::var_os("JETO_TEST_OVER_WORKERS").is_none_or(|v| v.is_empty() || v == "0") {
        return None;
    }
    let nats = NatsServer::start();
    let worker = WorkerProcess::start(fake, dir, &nats.url, "suite-worker", &[1, 2], "");
    let table = format!(
        "\n[nats]\nurl = {:?}\nhosts = [1, 2]\n{}",
        nats.url,
        server_trust(dir, &[1, 2])
    );
    // Dropped in order: the worker, then NATS.
    Some((table, Box::new((worker, nats))))
}

/// What a server started over workers keeps alive.
pub type Companions = Box<dyn std::any::Any + Send>;

/// Fails unless the server lists the suite's worker for host 1 (within 5 s): the suite really
/// runs over it.
pub fn assert_served_by_the_worker(address: std::net::SocketAddr, admin_key: &str) {
    use std::io::{Read, Write};
    let mut answer = String::new();
    for _ in 0..50 {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        write!(
            stream,
            "GET /api/hosts/1/workers HTTP/1.0\r\nX-JETO-KEY: {admin_key}\r\n\r\n"
        )
        .unwrap();
        answer.clear();
        stream.read_to_string(&mut answer).unwrap();
        if answer.contains("\"suite-worker\"") && answer.contains("\"online\":true") {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!(
        "JETO_TEST_OVER_WORKERS is set but host 1 is not served by the suite's worker: {answer}"
    );
}

/// The signing keys of a test's server and of its workers (one key for all of them), as seed
/// files in `dir/keys`, made on first use.
pub struct Keys {
    pub server_seed: PathBuf,
    pub server: jeto_nats::SigningKey,
    pub worker_seed: PathBuf,
    pub worker: jeto_nats::SigningKey,
}

/// The keys of the test whose folder is `dir`.
pub fn keys(dir: &Path) -> Keys {
    let folder = dir.join("keys");
    std::fs::create_dir_all(&folder).unwrap();
    let load = |name: &str| {
        let file = folder.join(name);
        let key = match std::fs::read_to_string(&file) {
            Ok(seed) => jeto_nats::SigningKey::from_seed(&seed).unwrap(),
            Err(_) => {
                let key = jeto_nats::SigningKey::generate();
                std::fs::write(&file, key.seed()).unwrap();
                key
            }
        };
        (file, key)
    };
    let (server_seed, server) = load("server.seed");
    let (worker_seed, worker) = load("worker.seed");
    Keys {
        server_seed,
        server,
        worker_seed,
        worker,
    }
}

/// A worker's `extra` config with the `[nats]` lines that make it obey the test's server and
/// sign with the test's worker key.
pub fn worker_trust(dir: &Path, extra: &str) -> String {
    let keys = keys(dir);
    let lines = format!(
        "server_key = {:?}\nsigning_seed_file = {:?}\n",
        keys.server.public_key(),
        keys.worker_seed
    );
    match extra.find("[nats]\n") {
        Some(at) => format!("{}[nats]\n{lines}{}", &extra[..at], &extra[at + 7..]),
        None => format!("{extra}\n[nats]\n{lines}"),
    }
}

/// The lines ending a server's `[nats]` table: its signing key, and the test's worker key
/// trusted for `hosts`.
pub fn server_trust(dir: &Path, hosts: &[u64]) -> String {
    let keys = keys(dir);
    format!(
        "signing_seed_file = {:?}\n[[nats.workers]]\nkey = {:?}\nhosts = {hosts:?}\n",
        keys.server_seed,
        keys.worker.public_key()
    )
}
