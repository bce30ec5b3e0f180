//! Untrusted keys stay in their box: each attack of a hostile tenant, black-box over TCP
//! against the real `jeto` binary, and what an operator needs to see who did what.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;

use common::{start_server_with, ADMIN_KEY};
use jeto_core::access::hash_key;
use jeto_http::testing::{ServerProcess, TestClient};
use jeto_vagrant::fixture::{git, serve, tar_gz, FakeVagrant};
use serde_json::{json, Value};

const TENANT_KEY: &str = "tenant-key-for-tests";

struct Setup {
    fake: FakeVagrant,
    data: tempfile::TempDir,
    server: ServerProcess,
    admin: TestClient,
    tenant: TestClient,
    /// A git repository the project clones (branches `main` and `feature`, tag `v1`).
    repository: String,
}

/// A Vagrantfile that leaves a marker file when Ruby evaluates it, then is a fixture instance.
fn marking_vagrantfile(fake: &FakeVagrant, marker: &Path) -> String {
    format!(
        "File.write({marker:?}, \"evaluated\")\nrequire {plugin:?}\nVagrant.configure(\"2\") do |c|\n  c.vm.communicator = :jeto_fake\n  c.vm.synced_folder \".\", \"/vagrant\", disabled: true\nend\n",
        marker = marker.display().to_string(),
        plugin = fake.root().join("plugin/jeto_fake").display().to_string(),
    )
}

fn setup() -> Setup {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let repo = data.path().join("repo");
    fake.git_repository(&repo, &fake.single());
    git(&repo, &["tag", "v1"]);
    git(&repo, &["branch", "feature"]);
    let repository = repo.display().to_string();
    let extra = format!(
        r#"
[[projects]]
id = 1
name = "web"
git_url = {repository:?}
references = ["main", "v*"]

[[projects]]
id = 2
name = "secret"
git_url = {repository:?}
references = ["*"]

[[tokens]]
name = "tenant"
key_sha256 = "{tenant}"
hosts = [1]
projects = [1]
actions = ["create", "status", "start", "destroy"]
"#,
        tenant = hash_key(TENANT_KEY)
    );
    let server = start_server_with(&fake, data.path(), &extra);
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let tenant = TestClient::new(server.address, Some(TENANT_KEY));
    Setup {
        fake,
        data,
        server,
        admin,
        tenant,
        repository,
    }
}

/// Whether an answer carries anything of the data folder's database (host params, its header).
fn leaks_registry(answer: &str) -> bool {
    answer.contains("secret-value") || answer.contains("SQLite format")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_own_archive_or_repository_is_never_evaluated() {
    let s = setup();
    let marker = s.data.path().join("marker");
    let archive = tar_gz(
        &[(
            "Vagrantfile",
            marking_vagrantfile(&s.fake, &marker).as_bytes(),
        )],
        &[],
    );
    let (base, _) = serve(HashMap::from([("evil.tar.gz".to_owned(), archive)])).await;
    let answer = s
        .tenant
        .post(
            "/api/instances",
            &json!({"name": "evil", "host": 1, "archive_url": format!("{base}/evil.tar.gz")}),
        )
        .await;
    assert_eq!(answer.status, 403, "{}", answer.text());
    assert!(
        answer.text().contains("run_own_vagrantfile"),
        "{}",
        answer.text()
    );
    let answer = s
        .tenant
        .post(
            "/api/instances",
            &json!({"name": "evil", "host": 1, "git_url": "https://git.invalid/evil.git", "git_reference": "main"}),
        )
        .await;
    assert_eq!(answer.status, 403, "{}", answer.text());
    let instances = s.admin.get("/api/instances").await.json();
    assert_eq!(instances, json!([]), "nothing was registered");
    assert!(!marker.exists(), "the tenant's Vagrantfile ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_tricks_in_archives_and_repositories_are_refused() {
    let s = setup();
    let registry = s.data.path().join("data/jeto.sqlite3");
    // a/b/u -> ../.. then jeto.json -> a/b/u/../../<relative path to the registry>.
    let vagrantfile = std::fs::read(s.fake.single().join("Vagrantfile")).unwrap();
    let chained = tar_gz(
        &[("Vagrantfile", &vagrantfile), ("a/b/keep", b"x")],
        &[
            ("a/b/u", "../.."),
            ("jeto.json", "a/b/u/../../jeto.sqlite3"),
            ("data", "a/b/u/../../jeto.sqlite3"),
        ],
    );
    let (base, _) = serve(HashMap::from([("chain.tar.gz".to_owned(), chained)])).await;
    let answer = s
        .admin
        .post(
            "/api/instances",
            &json!({"name": "chain", "host": 1, "archive_url": format!("{base}/chain.tar.gz")}),
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert!(!leaks_registry(&answer.text()), "{}", answer.text());
    assert!(registry.exists());

    // A repository whose jeto.json is an absolute link to the registry.
    let repo = s.data.path().join("linked");
    std::fs::create_dir(&repo).unwrap();
    std::fs::copy(
        s.fake.single().join("Vagrantfile"),
        repo.join("Vagrantfile"),
    )
    .unwrap();
    std::os::unix::fs::symlink(&registry, repo.join("jeto.json")).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "link"]);
    let answer = s
        .admin
        .post(
            "/api/instances",
            &json!({"name": "linked", "host": 1, "git_url": repo.display().to_string(), "git_reference": "main"}),
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert!(!leaks_registry(&answer.text()), "{}", answer.text());
    assert!(
        answer.text().contains("jeto.json must be a regular file"),
        "{}",
        answer.text()
    );
    let left: Vec<_> = std::fs::read_dir(s.data.path().join("data/instances"))
        .map(|d| d.collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "nothing is left behind: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_tell_nothing_of_what_the_key_cannot_see() {
    let s = setup();
    let outside = s.data.path().join("not-a-vagrant-folder");
    std::fs::create_dir(&outside).unwrap();
    let mut answers = Vec::new();
    for path in [
        outside.display().to_string(),
        "/nonexistent/folder".to_owned(),
        s.data.path().join("jeto.toml").display().to_string(),
    ] {
        let answer = s
            .tenant
            .post(
                "/api/instances",
                &json!({"name": "x", "host": 1, "path": path}),
            )
            .await;
        answers.push((answer.status, answer.json()["error"].clone()));
    }
    assert_eq!(answers[0].0, 403);
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");

    // A link inside the roots that points out: refused without naming its target.
    let link = s.fake.root().join("out");
    std::os::unix::fs::symlink(s.data.path(), &link).unwrap();
    let answer = s
        .tenant
        .post(
            "/api/instances",
            &json!({"name": "x", "host": 1, "path": link.display().to_string()}),
        )
        .await;
    assert_eq!((answer.status, answer.json()["error"].clone()), answers[0]);
    assert!(!answer.text().contains(&s.data.path().display().to_string()));

    // A folder registered on a host the tenant cannot see: 409 without the id.
    let hidden = s
        .admin
        .post(
            "/api/instances",
            &json!({"name": "hidden", "host": 2, "path": s.fake.single().display().to_string()}),
        )
        .await;
    assert_eq!(hidden.status, 201, "{}", hidden.text());
    let id = hidden.json()["id"].to_string();
    let answer = s
        .tenant
        .post(
            "/api/instances",
            &json!({"name": "mine", "host": 1, "path": s.fake.single().display().to_string()}),
        )
        .await;
    assert_eq!(answer.status, 409, "{}", answer.text());
    assert!(
        !answer.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("instance {id}")),
        "{}",
        answer.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_glob_url_makes_at_most_one_request_and_spoofed_names_are_refused() {
    let s = setup();
    let (base, requests) = serve(HashMap::new()).await;
    let glob = format!("{base}/{{a,b,c,d}}/[1-9].tar.gz");
    let answer = s
        .tenant
        .post(
            "/api/instances",
            &json!({"name": "g", "host": 1, "archive_url": glob}),
        )
        .await;
    assert_eq!(answer.status, 403);
    assert_eq!(requests.load(Ordering::SeqCst), 0);
    let answer = s
        .admin
        .post(
            "/api/instances",
            &json!({"name": "g", "host": 1, "archive_url": glob}),
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert!(
        requests.load(Ordering::SeqCst) <= 1,
        "{} requests",
        requests.load(Ordering::SeqCst)
    );

    for name in [
        "\u{202e}nimda",
        "admin\u{200b}",
        "a\u{2066}b",
        "soft\u{ad}hyphen",
    ] {
        let answer = s
            .admin
            .post(
                "/api/instances",
                &json!({"name": name, "host": 1, "path": s.fake.single().display().to_string()}),
            )
            .await;
        assert_eq!(answer.status, 400, "{name:?}: {}", answer.text());
        assert!(
            answer.text().contains("formatting characters"),
            "{}",
            answer.text()
        );
        let answer = s
            .admin
            .post(
                "/api/hosts",
                &json!({"name": name, "provider": "jeto_fake"}),
            )
            .await;
        assert_eq!(answer.status, 400, "{name:?}: {}", answer.text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_create_from_granted_projects_at_permitted_references() {
    let s = setup();
    let projects = s.tenant.get("/api/projects").await.json();
    assert_eq!(projects.as_array().unwrap().len(), 1, "{projects}");
    assert_eq!(projects[0]["name"], "web");
    assert_eq!(s.tenant.get("/api/projects/2").await.status, 404);

    let created = s
        .tenant
        .post(
            "/api/instances",
            &json!({"name": "web", "host": 1, "project": 1, "gitReference": "main"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.json()["git_url"], s.repository.as_str());
    let tagged = s
        .tenant
        .post(
            "/api/instances",
            &json!({"name": "web-v1", "host": 1, "project": 1, "git_reference": "v1"}),
        )
        .await;
    assert_eq!(tagged.status, 201, "{}", tagged.text());
    for (project, reference) in [
        (1, "feature"),
        (1, "main/../feature"),
        (2, "main"),
        (99, "main"),
    ] {
        let answer = s
            .tenant
            .post(
                "/api/instances",
                &json!({"name": "no", "host": 1, "project": project, "git_reference": reference}),
            )
            .await;
        assert_eq!(
            answer.status,
            403,
            "project {project} at {reference}: {}",
            answer.text()
        );
    }
    let answer = s
        .tenant
        .post(
            "/api/projects",
            &json!({"name": "mine", "git_url": "https://git.invalid/x.git"}),
        )
        .await;
    assert_eq!(answer.status, 403);
    let defined = s
        .admin
        .post(
            "/api/projects",
            &json!({"name": "lab", "git_url": s.repository, "references": ["main"], "hosts": [1]}),
        )
        .await;
    assert_eq!(defined.status, 201, "{}", defined.text());
    assert_eq!(defined.header("location"), Some("/api/projects/3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_say_who_asked_and_the_audit_log_pages_every_change_and_denial() {
    let s = setup();
    let created = s
        .tenant
        .post(
            "/api/instances",
            &json!({"name": "web", "host": 1, "project": 1, "git_reference": "main"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json()["id"].as_u64().unwrap();
    let started = s
        .tenant
        .post(&format!("/api/instances/{id}"), &json!({"state": "start"}))
        .await;
    assert_eq!(started.status, 200, "{}", started.text());
    assert_eq!(started.json()["command"]["requested_by"], "tenant");
    let denied = s
        .tenant
        .post(&format!("/api/instances/{id}"), &json!({"state": "reload"}))
        .await;
    assert_eq!(denied.status, 403);
    let deleted = s.tenant.delete(&format!("/api/instances/{id}")).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    assert_eq!(deleted.json()["command"]["requested_by"], "tenant");
    let unknown = TestClient::new(s.server.address, Some("wrong-key"));
    assert_eq!(unknown.get("/api/instances").await.status, 401);

    assert_eq!(s.tenant.get("/api/audit").await.status, 404);
    let page = s.admin.get("/api/audit?limit=100").await.json();
    let entries = page["entries"].as_array().unwrap();
    let line = |method: &str, route: &str, status: u64| {
        entries
            .iter()
            .find(|e| e["method"] == method && e["route"] == route && e["status"] == status)
    };
    let create = line("POST", "/api/instances", 201).expect("the create");
    assert_eq!(create["principal"], "tenant");
    assert_eq!(create["instance"], id);
    // Routes are recorded as their pattern (never the path as sent); the instance by id.
    let route = "/api/instances/{id}";
    let action = line("POST", route, 200).expect("the action");
    assert_eq!(action["instance"], id, "{page}");
    assert_eq!(
        line("POST", route, 403).expect("the denial")["outcome"],
        "forbidden"
    );
    assert!(line("DELETE", route, 200).is_some(), "the delete");
    let anonymous = line("GET", "/api/instances", 401).expect("the unknown key");
    assert_eq!(anonymous["principal"], Value::Null);
    assert!(
        line("GET", "/api/audit", 404).is_none(),
        "reads are not audited"
    );

    // Paging: two at a time, newest first, down to the first entry.
    let mut seen = Vec::new();
    let mut next = String::from("/api/audit?limit=2");
    loop {
        let page = s.admin.get(&next).await.json();
        seen.extend(
            page["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_u64().unwrap()),
        );
        match page["next_before"].as_u64() {
            Some(before) => next = format!("/api/audit?limit=2&before={before}"),
            None => break,
        }
    }
    let ids: Vec<u64> = entries.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert_eq!(seen, ids);
    assert!(seen.windows(2).all(|w| w[0] > w[1]));
    assert!(s.data.path().join("data/jeto.sqlite3").exists());
}

/// Every file under `dir` whose name is `name`.
fn files_named(dir: &Path, name: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                folders.push(path);
            } else if path.file_name().is_some_and(|n| n == name) {
                found.push(path);
            }
        }
    }
    found
}

/// Issue 24, item 8: a project's repository holds a tag named like a git option. `tags/*` is a
/// permitted pattern, and the leading-dash check used to run before `tags/` was dropped, so
/// the name reached `git fetch` as `--upload-pack=...` on sync: a command of the repository's
/// choosing run by the server. Now the reference is refused (400) as it is given, and nothing
/// runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_named_like_a_git_option_never_reaches_git_as_one() {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let repo = data.path().join("repo");
    fake.git_repository(&repo, &fake.single());
    let evil = "--upload-pack=touch${IFS}pwned;git-upload-pack";
    git(&repo, &["update-ref", &format!("refs/tags/{evil}"), "HEAD"]);
    let extra = format!(
        r#"
[[projects]]
id = 3
name = "tagged"
git_url = {repository:?}
references = ["main", "tags/*"]

[[tokens]]
name = "tenant"
key_sha256 = "{tenant}"
hosts = [1]
projects = [3]
actions = ["create", "status", "sync"]
"#,
        repository = repo.display().to_string(),
        tenant = hash_key(TENANT_KEY)
    );
    let server = start_server_with(&fake, data.path(), &extra);
    let tenant = TestClient::new(server.address, Some(TENANT_KEY));

    let answer = tenant
        .post(
            "/api/instances",
            &json!({"name": "tagged", "host": 1, "project": 3, "git_reference": format!("tags/{evil}")}),
        )
        .await;
    if answer.status == 201 {
        // The old behaviour: the clone took the tag as a branch name; a sync then ran it.
        let id = answer.json()["id"].as_u64().unwrap();
        let _ = tenant
            .post(&format!("/api/instances/{id}"), &json!({"state": "sync"}))
            .await;
    }
    assert!(
        files_named(data.path(), "pwned").is_empty(),
        "the repository's command ran on the server"
    );
    assert_eq!(answer.status, 400, "{}", answer.text());
    let message = answer.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("starting with '-'") && message.contains("git_reference"),
        "{message}"
    );
    // The same refusal for an admin, and for a reference given with a URL.
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let answer = admin
        .post(
            "/api/instances",
            &json!({"name": "direct", "host": 1, "git_url": repo.display().to_string(), "git_reference": format!("tags/{evil}")}),
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.text());
    // A well-named tag of the same project still works.
    git(&repo, &["tag", "v2"]);
    let answer = tenant
        .post(
            "/api/instances",
            &json!({"name": "v2", "host": 1, "project": 3, "git_reference": "tags/v2"}),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text());
    assert!(files_named(data.path(), "pwned").is_empty());
}

/// Issue 24, item 9: reading a status runs vagrant. A key granted `start` but not `status`
/// used to make vagrant run with `?max_age=0` and `?refresh=true`; now both are refused (403,
/// naming the grant) and its plain reads show the last known status without running anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_status_reads_need_the_status_grant() {
    const STARTER_KEY: &str = "starter-key-for-tests";
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let extra = format!(
        "\n[[tokens]]\nname = \"starter\"\nkey_sha256 = \"{}\"\nhosts = [1]\nactions = [\"start\"]\n",
        hash_key(STARTER_KEY)
    );
    let server = start_server_with(&fake, data.path(), &extra);
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let starter = TestClient::new(server.address, Some(STARTER_KEY));
    let id = common::register(&admin, "web", 1, &fake.single()).await;
    let read = admin.get(&format!("/api/instances/{id}?max_age=0")).await;
    assert_eq!(read.status, 200, "{}", read.text());
    let calls_before = fake.calls().len();

    for path in [
        format!("/api/instances/{id}?max_age=0"),
        format!("/api/instances/{id}?max_age=5"),
        "/api/instances?refresh=true".to_owned(),
    ] {
        let answer = starter.get(&path).await;
        assert_eq!(answer.status, 403, "{path}: {}", answer.text());
        let message = answer.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains("status grant"), "{path}: {message}");
    }
    let plain = starter.get(&format!("/api/instances/{id}")).await;
    assert_eq!(plain.status, 200, "{}", plain.text());
    assert_eq!(
        plain.json()["status"][0]["status"],
        "not_created",
        "{}",
        plain.text()
    );
    let listed = starter.get("/api/instances").await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    assert_eq!(
        fake.calls().len(),
        calls_before,
        "vagrant ran for a key without the status grant: {:?}",
        &fake.calls()[calls_before..]
    );
    // An instance it cannot see is still 404, not 403: ids cannot be probed this way either.
    assert_eq!(
        starter.get("/api/instances/999?max_age=0").await.status,
        404
    );
}

/// Issue 24, item 7: 30 parallel registrations of one folder, by an admin and by a tenant at
/// once, used to give several instances sharing one `.vagrant` (deleting one destroyed the
/// others' machines). The store now checks the folder in the same step as the insert: exactly
/// one is created, every other answer is 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_registrations_of_one_folder_make_one_instance() {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let server = start_server_with(&fake, data.path(), "");
    let folder = std::fs::canonicalize(fake.another_single("shared"))
        .unwrap()
        .display()
        .to_string();
    let clients = [
        TestClient::new(server.address, Some(ADMIN_KEY)),
        TestClient::new(server.address, Some(common::CI_KEY)),
    ];
    let attempts: Vec<_> = (0..30)
        .map(|i| {
            let client = clients[i % 2].clone();
            let body = json!({"name": format!("shared-{i}"), "host": 1, "path": folder});
            tokio::spawn(async move { client.post("/api/instances", &body).await })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        let answer = attempt.await.unwrap();
        if answer.status == 409 {
            assert!(answer.text().contains("one folder"), "{}", answer.text());
        }
        statuses.push(answer.status);
    }
    let created = statuses.iter().filter(|s| **s == 201).count();
    assert_eq!(created, 1, "answers: {statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    let listed = clients[0].get("/api/instances").await.json();
    let on_folder = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["path"] == folder.as_str())
        .count();
    assert_eq!(on_folder, 1, "{listed}");
}

/// Size in bytes of the files under `dir` whose names start with `prefix`.
fn bytes_of(dir: &Path, prefix: &str) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

/// Issue 24, item 5: keyless requests with long paths used to be one audit entry each with
/// the raw path (evicting older entries, 65 MB of database in seconds) and logged twice. Now,
/// under 10,000 of them: every signed-in entry written before is kept, the database grows by
/// less than 1 MB and the server log by less than 5 MB, and the flood is a few counted entries
/// naming the route's pattern and the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyless_flood_cannot_erase_or_bloat_the_audit_log() {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("jeto.toml");
    std::fs::write(
        &config,
        format!(
            "audit_entries = 1000\n{}",
            common::config_toml(&fake, &data.path().join("data"))
        ),
    )
    .unwrap();
    let log = data.path().join("server.log");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_jeto"));
    command
        .args(["serve", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "info");
    let server = ServerProcess::spawn_logging_to(command, std::fs::File::create(&log).unwrap());
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    for i in 0..20 {
        let created = admin
            .post(
                "/api/hosts",
                &json!({"name": format!("host-{i}"), "provider": "jeto_fake"}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text());
    }
    let before: Vec<Value> = admin.get("/api/audit?limit=1000").await.json()["entries"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(before.len(), 20);
    let database = data.path().join("data");
    let (db_before, log_before) = (
        bytes_of(&database, "jeto.sqlite3"),
        bytes_of(data.path(), "server.log"),
    );

    let long = "x".repeat(16 * 1024);
    let keyless = TestClient::new(server.address, None);
    let wrong = TestClient::new(server.address, Some("a-wrong-key"));
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let (keyless, wrong, long) = (keyless.clone(), wrong.clone(), long.clone());
        tasks.spawn(async move {
            for i in 0..1250 {
                let answer = match i % 3 {
                    0 => keyless.delete(&format!("/{long}/{worker}/{i}")).await,
                    1 => keyless.delete(&format!("/api/instances/{i}{long}")).await,
                    _ => wrong.get(&format!("/api/health?{long}")).await,
                };
                assert!(
                    matches!(answer.status.as_u16(), 400 | 401 | 404),
                    "{}",
                    answer.status
                );
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }

    let after: Vec<Value> = admin.get("/api/audit?limit=1000").await.json()["entries"]
        .as_array()
        .unwrap()
        .clone();
    for entry in &before {
        assert!(after.contains(entry), "lost {entry}");
    }
    let flood: Vec<&Value> = after.iter().filter(|e| e["principal"].is_null()).collect();
    let counted: u64 = flood.iter().map(|e| e["count"].as_u64().unwrap()).sum();
    assert_eq!(counted, 10_000, "{flood:?}");
    assert!(
        flood.len() <= 10,
        "one entry per route and answer: {flood:?}"
    );
    for entry in &flood {
        assert!(entry.to_string().len() < 1024, "{entry}");
        assert_eq!(entry["source"], "127.0.0.1", "{entry}");
    }
    assert!(
        flood
            .iter()
            .any(|e| e["route"] == "/api/health" && e["status"] == 401),
        "a wrong key on health is audited: {flood:?}"
    );
    let db_growth = bytes_of(&database, "jeto.sqlite3").saturating_sub(db_before);
    let log_growth = bytes_of(data.path(), "server.log").saturating_sub(log_before);
    assert!(
        db_growth < 1 << 20,
        "the database grew by {db_growth} bytes"
    );
    assert!(
        log_growth < 5 << 20,
        "the server log grew by {log_growth} bytes"
    );
    println!("10,000 keyless requests: database +{db_growth} bytes, log +{log_growth} bytes, {} audit entries", flood.len());
}
