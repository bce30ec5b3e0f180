//! Storage against the real binary: a data folder written by the JSON-file version starts with
//! every instance, host, project and command intact; commands are listed in pages without
//! consoles; 20 concurrent lists over 40 commands of 1.2 MB consoles keep the server's memory
//! flat.

mod common;

use std::path::Path;

use common::ADMIN_KEY;
use jeto_core::access::hash_key;
use jeto_core::store::{InstanceRecord, SqliteStore, Store};
use jeto_core::{Action, ActionRequest, Command, CommandStatus, InstanceSpec};
use jeto_http::testing::{ServerProcess, TestClient};
use serde_json::{json, Value};

/// Writes a config with only an admin key (the hosts are those of the data folder
/// `data/data`) and returns its path.
fn write_config(data: &Path, top: &str) -> std::path::PathBuf {
    let config = data.join("jeto.toml");
    std::fs::write(
        &config,
        format!(
            "{top}\nlisten = \"127.0.0.1:0\"\ndata_dir = {:?}\n[[tokens]]\nname = \"admin\"\nkey_sha256 = \"{}\"\nadmin = true\n",
            data.join("data").display().to_string(),
            hash_key(ADMIN_KEY)
        ),
    )
    .unwrap();
    config
}

/// Starts the server on [`write_config`].
fn start(data: &Path, top: &str) -> ServerProcess {
    let config = write_config(data, top);
    ServerProcess::start(
        env!("CARGO_BIN_EXE_jeto"),
        &["--config", config.to_str().unwrap()],
        &[],
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn ids(list: &Value) -> Vec<u64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_folder_of_the_json_version_is_imported_whole() {
    let data = tempfile::tempdir().unwrap();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../jeto-core/tests/fixtures/json-data-dir");
    copy_dir(&fixture, &data.path().join("data"));
    let server = start(data.path(), "");
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));

    let instances = admin.get("/api/instances").await.json();
    assert_eq!(ids(&instances), [1, 2], "{instances}");
    assert_eq!(instances[0]["name"], "bench-1");
    assert_eq!(instances[0]["jeto_infos"]["team"], "conformance");
    let hosts = admin.get("/api/hosts").await.json();
    assert_eq!(ids(&hosts), [1, 2]);
    assert_eq!(hosts[1]["name"], "second host");
    assert_eq!(hosts[1]["params"]["A_PARAM"], "a value");
    let projects = admin.get("/api/projects").await.json();
    assert_eq!(projects[0]["name"], "web");
    assert_eq!(projects[0]["references"], json!(["main", "tags/v*"]));

    let commands = admin.get("/api/instances/1/commands").await.json();
    assert_eq!(ids(&commands), [4, 3, 2, 1], "newest first");
    let statuses: Vec<&str> = commands
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["succeeded", "failed", "succeeded", "succeeded"]);
    assert!(
        commands[0].get("console").is_none(),
        "lists carry no console"
    );
    assert_eq!(commands[2]["console_bytes"], 16);
    assert_eq!(
        commands[2]["console_url"],
        "/api/instances/1/commands/2/console"
    );
    let console = admin.get("/api/instances/1/commands/2/console").await;
    assert_eq!(console.text(), "hello-from-jeto\n");
    let one = admin.get("/api/instances/1/commands/3").await.json();
    assert_eq!(one["console"], "failing\n");
    assert_eq!(one["exit_code"], 3);
    assert_eq!(
        ids(&admin.get("/api/instances/2/commands").await.json()),
        [5]
    );

    // Pages.
    let page = admin.get("/api/instances/1/commands?limit=2").await.json();
    assert_eq!(ids(&page), [4, 3]);
    let next = admin
        .get("/api/instances/1/commands?limit=2&before=3")
        .await
        .json();
    assert_eq!(ids(&next), [2, 1]);
    let bad = admin.get("/api/instances/1/commands?limit=0").await;
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert!(bad.text().contains("limit must be between 1 and 1000"));

    // The id counters go on where the JSON files left them.
    let host = admin
        .post(
            "/api/hosts",
            &json!({"name": "third", "provider": "jeto_fake"}),
        )
        .await;
    assert_eq!(host.json()["id"], 3);
    let queued = admin
        .post("/api/instances/2/commands", &json!({"action": "status"}))
        .await;
    assert_eq!(queued.status, 202, "{}", queued.text());
    assert!(queued.json()["command"]["id"].as_u64().unwrap() >= 1001);

    // The audit log came along, and goes on after its last id.
    let audit = admin.get("/api/audit?limit=1000").await.json();
    let entries = audit["entries"].as_array().unwrap();
    let ids: Vec<u64> = entries.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert_eq!(ids[ids.len() - 11..], [11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(
        ids[..2],
        [13, 12],
        "the two requests above, after the imported ones"
    );
    assert_eq!(entries.last().unwrap()["principal"], "bench");

    // The old files are kept, renamed; the database is where the data lives now.
    let folder = data.path().join("data");
    assert!(folder.join("instances.json.imported").exists());
    assert!(folder.join("commands.imported/1.json").exists());
    assert!(folder.join("audit.jsonl.imported").exists());
    assert!(!folder.join("instances.json").exists());
    assert!(folder.join("jeto.sqlite3").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_over_40_commands_of_1_2_mb_consoles_keep_memory_flat() {
    let data = tempfile::tempdir().unwrap();
    {
        let store = SqliteStore::open(&data.path().join("data")).unwrap();
        store
            .put_host(jeto_core::Host::new("fake", "jeto_fake"))
            .await
            .unwrap();
        let instance = store
            .insert_instance(InstanceRecord::new(
                InstanceSpec::new("loud", "/srv/loud"),
                1,
            ))
            .await
            .unwrap();
        let request = ActionRequest::new(Action::RunScript)
            .on("default")
            .script("loud");
        let line = format!("{}\n", "x".repeat(999));
        let chunk = line.repeat(100);
        for _ in 0..40 {
            let mut command = store
                .insert_command(
                    Command {
                        status: CommandStatus::Running,
                        ..Command::queued(instance.id, &request, "admin")
                    },
                    100,
                )
                .await
                .unwrap();
            for _ in 0..12 {
                store
                    .append_console(command.id, &chunk, 2 << 20)
                    .await
                    .unwrap();
            }
            command.status = CommandStatus::Succeeded;
            store.update_command(&command).await.unwrap();
        }
    }
    let server = start(data.path(), "console_limit_bytes = 2097152");
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let listed = admin.get("/api/instances/1/commands").await.json();
    assert_eq!(listed.as_array().unwrap().len(), 40);
    assert_eq!(listed[0]["console_bytes"], 1_200_000);
    let before = server.rss_kib();
    let lists: Vec<_> = (0..20)
        .map(|_| {
            let admin = admin.clone();
            tokio::spawn(async move { admin.get("/api/instances/1/commands").await })
        })
        .collect();
    for list in lists {
        let answer = list.await.unwrap();
        assert_eq!(answer.status, 200);
        assert!(answer.body.len() < 64 * 1024, "{} bytes", answer.body.len());
    }
    let peak = server.peak_rss_kib();
    println!(
        "20 concurrent lists: RSS {before} KiB before, peak {peak} KiB (+{} KiB)",
        peak.saturating_sub(before)
    );
    assert!(
        peak < before + 64 * 1024,
        "peak RSS {peak} KiB, {} KiB above the {before} KiB before the lists",
        peak.saturating_sub(before)
    );
    // A console is still read whole.
    let id = listed[0]["id"].as_u64().unwrap();
    let console = admin
        .get(&format!("/api/instances/1/commands/{id}/console"))
        .await;
    assert_eq!(console.body.len(), 1_200_000);
}

/// Issue 24, item 10: a hostile JSON data folder used to be imported unchecked: an audit id near
/// the top of int64 silently stopped all later auditing, a `next_instance_id` at the top made
/// every create a 500, an instance with a missing host answered 500, names with bidi characters
/// came in as they were, and out-of-range ids stopped the start without naming the file. Now
/// each is refused at start, naming the file and the record, and leaves nothing imported: with
/// the file fixed, the next start imports it whole.
#[test]
fn a_hostile_json_data_folder_is_refused_naming_the_file_and_record() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../jeto-core/tests/fixtures/json-data-dir");
    let registry: Value =
        serde_json::from_slice(&std::fs::read(fixture.join("instances.json")).unwrap()).unwrap();
    let edited = |edit: &dyn Fn(&mut Value)| {
        let mut registry = registry.clone();
        edit(&mut registry);
        registry.to_string()
    };
    let cases: Vec<(&str, &str, String, &str)> = vec![
        (
            "next_instance_id at the top of int64",
            "instances.json",
            edited(&|r| r["next_instance_id"] = json!(i64::MAX)),
            "next_instance_id",
        ),
        (
            "an instance on a host the file does not have",
            "instances.json",
            edited(&|r| r["instances"][1]["host_id"] = json!(9)),
            "instance 2",
        ),
        (
            "an instance name with a bidi override",
            "instances.json",
            edited(&|r| r["instances"][0]["name"] = json!("\u{202e}nimda")),
            "instance 1",
        ),
        (
            "a host id beyond int64",
            "instances.json",
            edited(&|r| r["hosts"][1]["id"] = json!(u64::MAX)),
            "host 18446744073709551615",
        ),
        (
            "a git reference that is an option once tags/ is dropped",
            "instances.json",
            edited(&|r| r["instances"][0]["git_reference"] = json!("tags/--upload-pack=x")),
            "instance 1",
        ),
        (
            "an audit id near the top of int64",
            "audit.jsonl",
            format!(
                "{{\"id\":{},\"time\":\"2026-01-01T00:00:00Z\",\"principal\":\"admin\",\"method\":\"POST\",\"route\":\"/api/hosts\",\"instance\":null,\"status\":201,\"outcome\":\"ok\"}}\n",
                i64::MAX - 1
            ),
            "line 1",
        ),
    ];
    for (what, file, text, record) in cases {
        let data = tempfile::tempdir().unwrap();
        let folder = data.path().join("data");
        copy_dir(&fixture, &folder);
        std::fs::write(folder.join(file), &text).unwrap();
        let config = write_config(data.path(), "");
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_jeto"))
            .args(["serve", "--config", config.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{what}: the server started");
        assert!(
            stderr.contains(file)
                && stderr.contains(record)
                && stderr.contains("cannot be imported"),
            "{what}: {stderr}"
        );
        // Nothing was imported: the files are still there to fix, and once fixed the next
        // start imports them whole.
        assert!(folder.join(file).exists(), "{what}");
        std::fs::copy(fixture.join(file), folder.join(file)).unwrap();
        let server = ServerProcess::start(
            env!("CARGO_BIN_EXE_jeto"),
            &["--config", config.to_str().unwrap()],
            &[],
        );
        drop(server);
        assert!(folder.join("instances.json.imported").exists(), "{what}");
    }
}

/// Issue 26 (one item): the data folder holds the hosts' secret params, every console and the
/// admin key's hash; it used to be made with the umask's 0755 and its files 0644, readable by
/// every user of the box. It is now readable by the server's user only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_folder_is_readable_by_the_servers_user_only() {
    use std::os::unix::fs::PermissionsExt;
    let data = tempfile::tempdir().unwrap();
    let server = start(data.path(), "");
    let folder = data.path().join("data");
    let mode = std::fs::metadata(&folder).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{mode:o}");
    // And its files, the database's write-ahead log among them, are its alone too.
    let admin = jeto_http::testing::TestClient::new(server.address, Some(common::ADMIN_KEY));
    assert_eq!(
        admin
            .post(
                "/api/hosts",
                &serde_json::json!({"name": "h", "provider": "p"})
            )
            .await
            .status,
        201
    );
    for file in ["jeto.sqlite3", "jeto.sqlite3-wal", "jeto.sqlite3-shm"] {
        let mode = std::fs::metadata(folder.join(file))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{file}: {mode:o}");
    }
    drop(server);
}
