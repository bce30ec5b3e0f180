//! Shared setup of the end-to-end tests of the `jeto` binary: a config over the `jeto_fake` fixture.

#![allow(dead_code)]

use jeto_core::access::hash_key;
use jeto_http::testing::TestClient;
use jeto_vagrant::fixture::FakeVagrant;

pub mod identity;
pub mod sse;
pub mod tls;
pub mod workers;

pub const ADMIN_KEY: &str = "admin-key-for-tests";
pub const CI_KEY: &str = "ci-key-for-tests";
pub const OTHER_KEY: &str = "other-key-for-tests";

/// A config file over the fixture: host 1 (`jeto_fake`), host 2 (`jeto_fake` whose `up`
/// hangs), an admin key, a `ci` key granted host 1 for some actions, and an `other` key granted
/// only host 2. Vagrant runs through the counting wrapper.
pub fn config_toml(fake: &FakeVagrant, data_dir: &std::path::Path) -> String {
    config_toml_with(fake, data_dir, "")
}

/// Writes [`config_toml`] into `data` and starts the real `jeto` binary on it.
pub fn start_server(
    fake: &FakeVagrant,
    data: &std::path::Path,
) -> jeto_http::testing::ServerProcess {
    start_server_with(fake, data, "")
}

/// [`start_server`] over [`config_toml_with`] `extra`.
pub fn start_server_with(
    fake: &FakeVagrant,
    data: &std::path::Path,
    extra: &str,
) -> jeto_http::testing::ServerProcess {
    start_server_top(fake, data, "", extra)
}

/// [`start_server_with`], with `top` (top-level keys such as `history_limit = 5`) at the
/// start of the file, where TOML reads them as top-level keys.
pub fn start_server_top(
    fake: &FakeVagrant,
    data: &std::path::Path,
    top: &str,
    extra: &str,
) -> jeto_http::testing::ServerProcess {
    let config = data.join("jeto.toml");
    let workers = workers::over_workers(fake, data);
    let nats_table = workers
        .as_ref()
        .map(|(table, _)| table.as_str())
        .unwrap_or("");
    let mut body = config_toml_with(fake, &data.join("data"), extra);
    if top
        .lines()
        .any(|line| line.trim_start().starts_with("listen"))
    {
        body = body.replacen("listen = \"127.0.0.1:0\"\n", "", 1);
    }
    let toml = format!("{top}\n{body}{nats_table}");
    std::fs::write(&config, toml).unwrap();
    let mut server = jeto_http::testing::ServerProcess::start(
        env!("CARGO_BIN_EXE_jeto"),
        &["--config", config.to_str().unwrap()],
        &[],
    );
    if let Some((_, companions)) = workers {
        server.keep_alive(companions);
        workers::assert_served_by_the_worker(server.address, ADMIN_KEY);
    }
    server
}

/// [`config_toml`] with more TOML appended (more `[[hosts]]`, say).
pub fn config_toml_with(fake: &FakeVagrant, data_dir: &std::path::Path, extra: &str) -> String {
    let config = fake.config();
    let env: Vec<String> = config
        .env
        .iter()
        .map(|(k, v)| format!("{k} = {v:?}"))
        .collect();
    format!(
        r#"
listen = "127.0.0.1:0"
data_dir = {data:?}
instance_roots = [{root:?}]
status_max_age_secs = 10
shutdown_grace_secs = 5

{watch}
[vagrant]
binary = {binary:?}
max_concurrent = 2
command_timeout_secs = 60
kill_grace_secs = 2
env = {{ {env} }}

[[hosts]]
id = 1
name = "fake"
provider = "jeto_fake"
params = {{ SOME_PARAM = "secret-value" }}

[[hosts]]
id = 2
name = "hanging"
provider = "jeto_fake"
params = {{ JETO_FAKE_UP = "hang" }}

[[tokens]]
name = "admin"
key_sha256 = "{admin}"
admin = true

[[tokens]]
name = "ci"
key_sha256 = "{ci}"
hosts = [1]
actions = ["status", "start", "stop", "runScript", "create"]

[[tokens]]
name = "other"
key_sha256 = "{other}"
hosts = [2]
{extra}
"#,
        data = data_dir.display().to_string(),
        // The watcher reads states on its own: off unless a test asks (its reads would count
        // among the vagrant calls tests count).
        watch = if extra.contains("[watch]") {
            ""
        } else {
            "[watch]\ninterval_secs = 0\n"
        },
        root = fake.root().display().to_string(),
        binary = fake.counting_binary().display().to_string(),
        env = env.join(", "),
        admin = hash_key(ADMIN_KEY),
        ci = hash_key(CI_KEY),
        other = hash_key(OTHER_KEY),
    )
}

/// Registers the folder as an instance named `name` on `host` (201 or the test fails); its id.
pub async fn register(admin: &TestClient, name: &str, host: u64, folder: &std::path::Path) -> u64 {
    let created = admin
        .post(
            "/api/instances",
            &serde_json::json!({"name": name, "host": host, "path": folder.display().to_string()}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    created.json()["id"].as_u64().unwrap()
}

/// Whether a process is gone (or only a zombie left for init to reap).
pub fn gone(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next());
    matches!(state, None | Some("Z"))
}

/// Polls `check` every 50 ms until it holds; fails the test after 15 s, naming `what`.
pub async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..300 {
        if check() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The machines' states in an action's answer (`{"instance": {"status": [...]}}`), in order.
pub fn machine_states(answer: &serde_json::Value) -> Vec<String> {
    answer["instance"]["status"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["status"].as_str().unwrap().to_owned())
        .collect()
}

/// Polls the command at `location` until it is no longer queued or running (60 s at most): the
/// command as it ended.
pub async fn ended(client: &TestClient, location: &str) -> serde_json::Value {
    for _ in 0..600 {
        let command = client.get(location).await.json();
        if !matches!(command["status"].as_str(), Some("queued" | "running")) {
            return command;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{location} did not end in 60 s");
}

/// A fixture folder named `name` whose `jeto.json` has one script, `five`: it prints `begin`,
/// sleeps 5 s and prints `end` (a command that runs long enough to stop a server under it).
pub fn five_second_script_folder(fake: &FakeVagrant, name: &str) -> std::path::PathBuf {
    let folder = fake.another_single(name);
    std::fs::write(
        folder.join("jeto.json"),
        r#"{"scripts": {"five": {"command": "echo begin; sleep 5; echo end"}}}"#,
    )
    .unwrap();
    folder
}

/// Registers a [`five_second_script_folder`] named `name` on host 1, starts its machine and
/// runs its script, waiting until the script printed `begin`: the instance's id and the running
/// command's location.
pub async fn running_five_second_script(
    fake: &FakeVagrant,
    admin: &TestClient,
    name: &str,
) -> (u64, String) {
    let folder = five_second_script_folder(fake, name);
    let id = register(admin, name, 1, &folder).await;
    let started = admin
        .post(
            &format!("/api/instances/{id}"),
            &serde_json::json!({"state": "start"}),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.text());
    let run = admin
        .post(
            &format!("/api/instances/{id}"),
            &serde_json::json!({"state": "runScript", "script": "five", "machine": "default", "async": true}),
        )
        .await;
    assert_eq!(run.status, 202, "{}", run.text());
    let location = run.header("location").unwrap().to_owned();
    for _ in 0..300 {
        if admin
            .get(&format!("{location}/console"))
            .await
            .text()
            .contains("begin")
        {
            return (id, location);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the script never started");
}

/// The commands `policy` requested on instance `id` (`requested_by`).
pub async fn policy_commands(admin: &TestClient, id: u64, policy: &str) -> Vec<serde_json::Value> {
    let commands = admin
        .get(&format!("/api/instances/{id}/commands"))
        .await
        .json();
    commands
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["requested_by"] == policy)
        .cloned()
        .collect()
}

/// Asks `proxy` for an upgrade to the `echo` protocol at `host`'s `/echo`, and checks that
/// `text` comes back through the joined connections.
pub async fn echo_through(proxy: std::net::SocketAddr, host: &str, text: &[u8]) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut raw = tokio::net::TcpStream::connect(proxy).await.unwrap();
    let ask = format!(
        "GET /echo HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"
    );
    raw.write_all(ask.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let read = raw.read(&mut byte).await.unwrap();
        assert_eq!(read, 1, "{}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    raw.write_all(text).await.unwrap();
    let mut echoed = vec![0u8; text.len()];
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        raw.read_exact(&mut echoed),
    )
    .await
    .expect("the echo")
    .unwrap();
    assert_eq!(echoed, text);
}
