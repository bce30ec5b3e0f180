//! The real-provider tier: the real `jeto` binary over TCP driving Vagrant's docker provider on
//! real containers (an image built here from Debian packages, SSH published on 127.0.0.1
//! only). Each flow checks the real effect: the container's state, files inside it, exit codes.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::sse::Sse;
use common::{policy_commands, register, start_server_with, ADMIN_KEY};
use jeto_http::testing::{ServerProcess, TestClient};
use jeto_vagrant::fixture::{
    docker, docker_container, docker_image, docker_vagrantfile, docker_vagrantfile_without_ssh,
    free_port, FakeVagrant,
};
use serde_json::{json, Value};

const SCRIPTS: &str = r#"{"team": "blue", "scripts": {
    "hello": {"command": "echo hello-from-the-container; test -f /.dockerenv && echo in-docker"},
    "values": {"command": "test -f /.dockerenv && echo \"environment=[$ENVIRONMENT] team=[$JETO_TEAM]\""},
    "fail": {"command": "echo failing; exit 3"}
}}"#;

/// A server with host 3 on the docker provider, and the image.
struct Docker {
    fake: FakeVagrant,
    data: tempfile::TempDir,
    server: ServerProcess,
    admin: TestClient,
    image: String,
}

fn setup() -> Docker {
    setup_with("")
}

/// [`setup`] with more configuration after the docker host.
fn setup_with(more: &str) -> Docker {
    let image = docker_image();
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let extra = format!("[[hosts]]\nid = 3\nname = \"docker\"\nprovider = \"docker\"\n{more}");
    let server = start_server_with(&fake, data.path(), &extra);
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    Docker {
        fake,
        data,
        server,
        admin,
        image,
    }
}

impl Docker {
    /// A new instance folder `name` with these machines and provisioner.
    fn folder(&self, name: &str, machines: &[&str], provision: &str) -> PathBuf {
        let machines: Vec<(&str, u16)> = machines.iter().map(|m| (*m, free_port())).collect();
        self.folder_with_ports(name, &machines, provision)
    }

    /// [`Docker::folder`] with each machine's SSH published on a port of the caller's choosing.
    fn folder_with_ports(&self, name: &str, machines: &[(&str, u16)], provision: &str) -> PathBuf {
        let folder = self.fake.root().join(name);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(
            folder.join("Vagrantfile"),
            docker_vagrantfile(&self.image, machines, provision),
        )
        .unwrap();
        std::fs::write(folder.join("jeto.json"), SCRIPTS).unwrap();
        folder
    }

    async fn state(&self, id: u64, change: &str) -> (u16, Value) {
        let answer = self
            .admin
            .post(&format!("/api/instances/{id}"), &json!({"state": change}))
            .await;
        (answer.status.as_u16(), answer.json())
    }
}

/// Whether the machine's container is running (`None`: there is no such container).
fn running(folder: &Path, machine: &str) -> Option<bool> {
    let id = docker_container(folder, machine)?;
    docker(&["inspect", "-f", "{{.State.Running}}", &id]).map(|s| s == "true")
}

fn exec(folder: &Path, machine: &str, command: &str) -> Option<String> {
    let id = docker_container(folder, machine)?;
    docker(&["exec", &id, "sh", "-c", command])
}

/// Removes what a failed test may have left running.
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for folder in &self.0 {
            for machine in ["default", "www", "db"] {
                if let Some(id) = docker_container(folder, machine) {
                    let _ = docker(&["rm", "-f", &id]);
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_machine_through_its_whole_life_on_a_real_container() {
    let d = setup();
    let folder = d.folder("life", &["default"], "echo provisioned > /tmp/provisioned");
    let _cleanup = Cleanup(vec![folder.clone()]);
    // An environment that would be a command if it were ever pasted into a shell.
    let environment = "staging's $(touch /tmp/pwned) `touch /tmp/pwned2`";
    let created = d
        .admin
        .post(
            "/api/instances",
            &json!({"name": "life", "host": 3, "environment": environment,
                "path": folder.display().to_string()}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json()["id"].as_u64().unwrap();

    let before = d.fake.calls().len();
    let (status, started) = d.state(id, "start").await;
    assert_eq!(status, 200, "{started}");
    // The answer's state and IP came with the action: no second vagrant process.
    assert_eq!(
        d.fake.calls()[before..],
        ["--machine-readable up".to_owned()],
        "vagrant calls for a sync start"
    );
    assert_eq!(started["instance"]["status"][0]["status"], "running");
    let ip = started["instance"]["status"][0]["ip"]
        .as_str()
        .unwrap_or("");
    assert!(
        ip.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| !ip.is_loopback()),
        "the IP the machine sees: {started}"
    );
    assert_eq!(running(&folder, "default"), Some(true));
    assert_eq!(
        exec(&folder, "default", "hostname -I")
            .unwrap()
            .split_whitespace()
            .next(),
        Some(ip)
    );
    assert_eq!(
        exec(&folder, "default", "cat /tmp/provisioned").as_deref(),
        Some("provisioned"),
        "up provisions"
    );

    let before = d.fake.calls().len();
    let fresh = d.admin.get(&format!("/api/instances/{id}?max_age=0")).await;
    assert_eq!(fresh.json()["status"][0]["status"], "running");
    assert!(
        d.fake.calls()[before..]
            .iter()
            .any(|c| c.ends_with(" status")),
        "max_age=0 still reads"
    );

    // Scripts over real SSH.
    let run = |script: &'static str| json!({"state": "runScript", "machine": "default", "script": script});
    let hello = d
        .admin
        .post(&format!("/api/instances/{id}"), &run("hello"))
        .await;
    assert_eq!(hello.status, 200, "{}", hello.text());
    let console = hello.json()["command"]["console"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        console.contains("hello-from-the-container") && console.contains("in-docker"),
        "{console}"
    );
    // The instance's values reach the script inside the container, byte for byte.
    let values = d
        .admin
        .post(&format!("/api/instances/{id}"), &run("values"))
        .await;
    assert_eq!(values.status, 200, "{}", values.text());
    let console = values.json()["command"]["console"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        console.contains(&format!("environment=[{environment}] team=[blue]")),
        "{console}"
    );
    assert_eq!(
        exec(&folder, "default", "ls /tmp/pwned /tmp/pwned2 2>/dev/null"),
        None
    );
    let fail = d
        .admin
        .post(&format!("/api/instances/{id}"), &run("fail"))
        .await;
    assert_eq!(fail.status, 502, "{}", fail.text());
    assert_eq!(fail.json()["command"]["exit_code"], 3);

    // Provision again: the file comes back.
    exec(&folder, "default", "rm /tmp/provisioned").unwrap();
    let (status, body) = d.state(id, "provision").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        exec(&folder, "default", "cat /tmp/provisioned").as_deref(),
        Some("provisioned")
    );

    // rsync: a file edited on the host appears in the container.
    std::fs::write(folder.join("shared.txt"), "edited on the host").unwrap();
    let (status, body) = d.state(id, "rsync").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        exec(&folder, "default", "cat /vagrant/shared.txt").as_deref(),
        Some("edited on the host")
    );

    // The docker provider cannot suspend: a typed refusal, not a gateway error.
    let (status, refused) = d.state(id, "suspend").await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "not_supported");
    assert_eq!(refused["command"]["error"]["kind"], "not_supported");
    assert_eq!(running(&folder, "default"), Some(true));
    // Nor take snapshots: the same typed refusal, for the action and for the list.
    let saved = d
        .admin
        .post(
            &format!("/api/instances/{id}"),
            &json!({"state": "snapshot_save", "snapshot": "s1"}),
        )
        .await;
    assert_eq!(saved.status, 409, "{}", saved.text());
    assert_eq!(
        saved.json()["command"]["error"]["class"],
        "Vagrant::Errors::SnapshotNotSupported"
    );
    let listed = d.admin.get(&format!("/api/instances/{id}/snapshots")).await;
    assert_eq!(listed.status, 409, "{}", listed.text());
    assert_eq!(listed.json()["error"]["code"], "not_supported");
    // The machine's details: its SSH server in the container, as Vagrant reaches it.
    let details = d
        .admin
        .get(&format!("/api/instances/{id}/machines/default"))
        .await;
    assert_eq!(details.status, 200, "{}", details.text());
    let details = details.json();
    assert_eq!(details["state"], "running");
    assert_eq!(details["ssh"]["user"], "vagrant", "{details}");
    assert!(details["ssh"]["port"].as_u64().unwrap() > 0, "{details}");
    assert_eq!(
        details["ssh"]["host"], "127.0.0.1",
        "through the forwarded port: {details}"
    );
    let container = docker_container(&folder, "default").unwrap();
    let address = docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        &container,
    ]);
    assert_eq!(
        details["ip"].as_str(),
        address.as_deref(),
        "the container's own address"
    );
    // validate, and Vagrant's global status, on the docker provider too.
    let (status, validated) = d.state(id, "validate").await;
    assert_eq!(status, 200, "{validated}");
    let global = d.admin.get("/api/global-status").await;
    assert_eq!(global.status, 200, "{}", global.text());
    let listed = global.json();
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["directory"] == folder.display().to_string())
        .unwrap_or_else(|| panic!("{} not in {listed}", folder.display()));
    assert_eq!(
        (entry["name"].as_str(), entry["provider"].as_str()),
        (Some("default"), Some("docker"))
    );

    let before = d.fake.calls().len();
    let (status, stopped) = d.state(id, "stop").await;
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(
        d.fake.calls()[before..],
        ["--machine-readable halt".to_owned()]
    );
    assert_eq!(running(&folder, "default"), Some(false));
    assert_ne!(stopped["instance"]["status"][0]["status"], "running");

    let (status, reloaded) = d.state(id, "reload").await;
    assert_eq!(status, 200, "{reloaded}");
    assert_eq!(running(&folder, "default"), Some(true));
    assert_eq!(reloaded["instance"]["status"][0]["status"], "running");

    let container = docker_container(&folder, "default").unwrap();
    let deleted = d.admin.delete(&format!("/api/instances/{id}")).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    assert_eq!(
        docker(&["inspect", &container]),
        None,
        "the container is gone"
    );
    drop(d.server);
    drop(d.data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_machines_in_one_vagrantfile_and_two_instances_at_once() {
    let d = setup();
    let pair = d.folder("pair", &["www", "db"], "true");
    let solo = d.folder("solo", &["default"], "true");
    let _cleanup = Cleanup(vec![pair.clone(), solo.clone()]);
    let pair_id = register(&d.admin, "pair", 3, &pair).await;
    let solo_id = register(&d.admin, "solo", 3, &solo).await;

    let starts: Vec<_> = [pair_id, solo_id]
        .into_iter()
        .map(|id| {
            let admin = d.admin.clone();
            tokio::spawn(async move {
                admin
                    .post(&format!("/api/instances/{id}"), &json!({"state": "start"}))
                    .await
            })
        })
        .collect();
    for start in starts {
        let answer = start.await.unwrap();
        assert_eq!(answer.status, 200, "{}", answer.text());
    }
    for (folder, machine) in [(&pair, "www"), (&pair, "db"), (&solo, "default")] {
        assert_eq!(running(folder, machine), Some(true), "{machine}");
    }
    let view = d
        .admin
        .get(&format!("/api/instances/{pair_id}?max_age=0"))
        .await
        .json();
    let machines: Vec<(&str, &str)> = view["status"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(machines, [("www", "running"), ("db", "running")], "{view}");
    let ips: Vec<&str> = view["status"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["ip"].as_str())
        .collect();
    assert_eq!(ips.len(), 2, "{view}");
    assert_ne!(ips[0], ips[1]);

    // Stop one machine of the pair only.
    let stopped = d
        .admin
        .post(
            &format!("/api/instances/{pair_id}"),
            &json!({"state": "stop", "machine": "db"}),
        )
        .await;
    assert_eq!(stopped.status, 200, "{}", stopped.text());
    assert_eq!(running(&pair, "db"), Some(false));
    assert_eq!(running(&pair, "www"), Some(true));

    for id in [pair_id, solo_id] {
        let deleted = d.admin.delete(&format!("/api/instances/{id}")).await;
        assert_eq!(deleted.status, 200, "{}", deleted.text());
    }
    for (folder, machine) in [(&pair, "www"), (&pair, "db"), (&solo, "default")] {
        assert_eq!(running(folder, machine), None, "{machine} is gone");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_provisioner_answers_with_vagrants_error() {
    let d = setup();
    let folder = d.folder("broken", &["default"], "echo provisioning-breaks; exit 5");
    let _cleanup = Cleanup(vec![folder.clone()]);
    let id = register(&d.admin, "broken", 3, &folder).await;
    let (status, body) = d.state(id, "start").await;
    assert_eq!(status, 502, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("non-zero exit status"), "{message}");
    assert!(
        body["command"]["console"]
            .as_str()
            .unwrap()
            .contains("provisioning-breaks"),
        "{body}"
    );
    // The container itself came up; only the provisioner failed.
    assert_eq!(running(&folder, "default"), Some(true));
    let deleted = d.admin.delete(&format!("/api/instances/{id}")).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(running(&folder, "default"), None);
}

/// Issue 27: a container stopped with `docker stop` (outside Jeto and Vagrant) shows as an
/// event marked `outside` within the watch interval + 2 s, read from docker by the watcher (no
/// vagrant process once Vagrant said how), and in the list without `refresh`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_stopped_with_docker_stop_shows_within_the_watch_interval() {
    let d = setup_with("[watch]\ninterval_secs = 2\n");
    let folder = d.fake.root().join("watched");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("Vagrantfile"),
        docker_vagrantfile_without_ssh(&d.image, &["default"]),
    )
    .unwrap();
    let _cleanup = Cleanup(vec![folder.clone()]);
    let id = register(&d.admin, "watched", 3, &folder).await;
    let (status, started) = d.state(id, "start").await;
    assert_eq!(status, 200, "{started}");
    // A few rounds of the watcher: the first through Vagrant, then from docker alone.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let before = d.fake.calls().len();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        d.fake.calls().len(),
        before,
        "rounds of the watcher read docker, not vagrant: {:?}",
        &d.fake.calls()[before..]
    );
    let base = format!("http://{}", d.server.address);
    let mut stream = Sse::follow(&base, ADMIN_KEY, "?type=machine_state_changed", None).await;
    let container = docker_container(&folder, "default").unwrap();
    assert!(docker(&["stop", "-t", "1", &container]).is_some());
    let at = std::time::Instant::now();
    // The issue asks for the interval (2 s) + 2 s; a loaded CI machine gets twice that.
    let (_, _, event) = stream
        .next(Duration::from_secs(8))
        .await
        .expect("the change within the watch interval and a read");
    eprintln!("docker stop seen after {:?}", at.elapsed());
    assert_eq!(event["instance"], id);
    assert_eq!(event["outside"], true, "{event}");
    assert_eq!(event["from"], "running");
    assert_eq!(event["to"], "stopped");
    let listed = d.admin.get("/api/instances").await.json();
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .unwrap()
        .clone();
    assert_eq!(row["status"][0]["status"], "stopped", "{row}");
}

/// An `ssh` session held open (killed when dropped).
struct SshSession(std::process::Child);

impl SshSession {
    /// Logs in as `vagrant` with Vagrant's insecure key through 127.0.0.1:`port` and runs
    /// `sleep` there.
    fn open(port: u16, keys: &Path) -> SshSession {
        // ssh refuses a private key others may read: a copy only we can.
        let insecure = glob_one("/usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant");
        let key = keys.join("vagrant");
        std::fs::copy(&insecure, &key).unwrap();
        let only_us = std::os::unix::fs::PermissionsExt::from_mode(0o600);
        std::fs::set_permissions(&key, only_us).unwrap();
        let child = std::process::Command::new("ssh")
            .arg("-i")
            .arg(&key)
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
            ])
            .args([
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "LogLevel=ERROR",
            ])
            .args(["-p", &port.to_string(), "vagrant@127.0.0.1", "sleep 600"])
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("the docker tier needs an SSH client: apt-get install -y openssh-client");
        SshSession(child)
    }
}

impl Drop for SshSession {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The one file matching `pattern` (Vagrant's insecure private key, installed with vagrant).
fn glob_one(pattern: &str) -> PathBuf {
    let (dir, rest) = pattern.split_once("vagrant-*").unwrap();
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("vagrant-2")
        })
        .map(|p| PathBuf::from(format!("{}{rest}", p.display())))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{pattern} not found: apt-get install -y vagrant"))
}

/// Issue 29: idle stop on real containers. Two running machines with no Jeto command since
/// their start; the test holds an SSH session open to one through its published port. The
/// watcher's docker reads see the session (no vagrant process), the idle container is halted
/// by `policy:idle` after the idle period, and the one with the session is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_container_is_halted_and_one_with_an_ssh_session_is_not() {
    let idle_secs = 20;
    let d = setup_with(&format!(
        "[watch]\ninterval_secs = 1\n[lifecycle]\ncheck_interval_secs = 1\nidle_stop_secs = {idle_secs}\n"
    ));
    let port = free_port();
    let idle_folder = d.folder("idle", &["default"], "true");
    let used_folder = d.folder_with_ports("used", &[("default", port)], "true");
    let _cleanup = Cleanup(vec![idle_folder.clone(), used_folder.clone()]);
    let idle = register(&d.admin, "idle", 3, &idle_folder).await;
    let used = register(&d.admin, "used", 3, &used_folder).await;
    for id in [idle, used] {
        let (status, started) = d.state(id, "start").await;
        assert_eq!(status, 200, "{started}");
    }
    let keys = tempfile::tempdir().unwrap();
    let _session = SshSession::open(port, keys.path());

    // The session shows in the status the watcher read from docker.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let now = d.admin.get(&format!("/api/instances/{used}")).await.json();
        if now["status"][0]["ssh_sessions"] == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no session seen: {now}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let calls_before = d.fake.calls().len();

    // The idle one is halted once its idle period is over.
    let deadline = std::time::Instant::now() + Duration::from_secs(idle_secs + 30);
    while running(&idle_folder, "default") != Some(false) {
        assert!(
            std::time::Instant::now() < deadline,
            "the idle container still runs"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let halts = policy_commands(&d.admin, idle, "policy:idle").await;
    assert_eq!(halts.len(), 1, "{halts:?}");
    assert_eq!(halts[0]["action"], "stop");

    // Well past the idle period of the one with the session (it started last), it still runs.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let view = d.admin.get(&format!("/api/instances/{used}")).await.json();
    let last = time::OffsetDateTime::parse(
        view["idle_stop"]["last_activity"]
            .as_str()
            .expect("an idle stop time"),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(
        time::OffsetDateTime::now_utc() - last < time::Duration::seconds(5),
        "the open session is recent activity: {view}"
    );
    assert_eq!(running(&used_folder, "default"), Some(true));
    assert!(policy_commands(&d.admin, used, "policy:idle")
        .await
        .is_empty());
    // No vagrant process but the policy's halt: the sessions came from docker and /proc.
    let calls = d.fake.calls();
    let after: Vec<&String> = calls[calls_before..].iter().collect();
    assert!(
        after.iter().all(|c| c.contains("halt")) && after.len() == 1,
        "{after:?}"
    );
}

/// Issue 30 on real containers: a web server started by the provisioner in a container is
/// reached through its domain over HTTP and over HTTPS (a certificate of the test's own CA,
/// uploaded through the API), a streamed answer arrives before it ends, and an upgraded
/// connection echoes bytes both ways. The proxy forwards to the container's address as Jeto
/// read it (`hostname -I` in the machine).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_serving_http_is_reached_through_its_domain() {
    let (http, https) = (free_port(), free_port());
    let certificates = tempfile::tempdir().unwrap();
    let ca = common::tls::TestCa::new(certificates.path());
    let d = setup_with(&format!(
        "[proxy]\nlisten = \"127.0.0.1:{http}\"\ntls_listen = \"127.0.0.1:{https}\"\n"
    ));
    let folder = d.folder(
        "served",
        &["default"],
        "setsid nohup python3 /vagrant/web.py > /tmp/web.log 2>&1 < /dev/null &",
    );
    std::fs::write(folder.join("web.py"), include_str!("docker/web.py")).unwrap();
    let _cleanup = Cleanup(vec![folder.clone()]);
    let id = register(&d.admin, "served", 3, &folder).await;
    let (status, started) = d.state(id, "start").await;
    assert_eq!(status, 200, "{started}");
    let (cert, key) = ca.issue(&["shop.test"]);
    let made = d
        .admin
        .post(
            "/api/domains",
            &json!({"name": "shop.test", "instance": id, "port": 8080, "access": {"mode": "public"},
                    "tls": {"certificate_pem": cert, "private_key_pem": key}}),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text());
    let proxy = std::net::SocketAddr::from(([127, 0, 0, 1], http));
    let visitor = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.ca_pem.as_bytes()).unwrap())
        .resolve("shop.test", proxy)
        .build()
        .unwrap();
    // The provisioner started the server in the background: it may take a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let hello = loop {
        let answer = visitor
            .get(format!("http://shop.test:{http}/"))
            .send()
            .await
            .unwrap();
        let status = answer.status();
        let text = answer.text().await.unwrap();
        if status == 200 {
            break text;
        }
        assert!(std::time::Instant::now() < deadline, "{status}: {text}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(hello.starts_with("hello from the container"), "{hello}");
    let over_tls = visitor
        .get(format!("https://shop.test:{https}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(over_tls.status(), 200);
    assert_eq!(over_tls.text().await.unwrap(), hello);

    // Streamed: the first chunk arrives while the container still holds the last.
    let mut streamed = visitor
        .get(format!("http://shop.test:{http}/stream"))
        .send()
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), streamed.chunk())
        .await
        .expect("the first chunk before the end")
        .unwrap()
        .unwrap();
    assert_eq!(&first[..], b"first\n");
    assert!(exec(&folder, "default", "touch /tmp/release").is_some());
    let last = streamed.chunk().await.unwrap().unwrap();
    assert_eq!(&last[..], b"last\n");

    // Upgraded: bytes echo through the proxy and the container.
    common::echo_through(proxy, "shop.test", b"ping through the container").await;
}
