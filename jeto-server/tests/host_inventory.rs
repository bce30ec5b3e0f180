//! Host-level reads through the real binary and the real vagrant CLI (test plugin): installed
//! boxes (and newer versions in a box catalog on disk), Vagrant's global status (admin), and
//! Vagrant's version and plugins in the health answer for admins.

mod common;

use common::{register, start_server, ADMIN_KEY, CI_KEY, OTHER_KEY};
use jeto_http::testing::TestClient;
use jeto_vagrant::fixture::FakeVagrant;
use serde_json::{json, Value};

/// A catalog (Vagrant's box metadata JSON) offering `versions` of `team/base`.
fn write_catalog(fake: &FakeVagrant, versions: &[&str]) -> std::path::PathBuf {
    let box_file = fake.box_file("base.box");
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| json!({"version": v, "providers": [{"name": "jeto_fake", "url": format!("file://{}", box_file.display())}]}))
        .collect();
    let catalog = fake.root().join("catalog.json");
    std::fs::write(
        &catalog,
        json!({"name": "team/base", "versions": versions}).to_string(),
    )
    .unwrap();
    catalog
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boxes_are_listed_and_newer_versions_found_in_their_catalog() {
    let fake = FakeVagrant::new();
    let catalog = write_catalog(&fake, &["1.0.0"]);
    fake.run_vagrant(
        fake.root(),
        &["box", "add", &format!("file://{}", catalog.display())],
    );
    let plain = fake.box_file("plain.box");
    fake.run_vagrant(
        fake.root(),
        &[
            "box",
            "add",
            "--name",
            "local/plain",
            plain.to_str().unwrap(),
        ],
    );
    // The catalog now offers a newer version than the one installed.
    write_catalog(&fake, &["1.0.0", "1.1.0"]);

    let data = tempfile::tempdir().unwrap();
    let server = start_server(&fake, data.path());
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let listed = admin.get("/api/hosts/1/boxes").await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    assert_eq!(
        listed.json(),
        json!([
            {"name": "local/plain", "provider": "jeto_fake", "version": "0", "outdated": null, "latest_version": null},
            {"name": "team/base", "provider": "jeto_fake", "version": "1.0.0", "outdated": null, "latest_version": null},
        ])
    );
    let checked = admin.get("/api/hosts/1/boxes?outdated=true").await;
    assert_eq!(checked.status, 200, "{}", checked.text());
    let checked = checked.json();
    assert_eq!(checked[1]["outdated"], true, "{checked}");
    assert_eq!(checked[1]["latest_version"], "1.1.0");
    assert_eq!(
        checked[0]["outdated"],
        Value::Null,
        "a box from no catalog: unknown"
    );

    let ci = TestClient::new(server.address, Some(CI_KEY));
    assert_eq!(
        ci.get("/api/hosts/1/boxes").await.status,
        200,
        "host 1 is the ci key's"
    );
    let other = TestClient::new(server.address, Some(OTHER_KEY));
    assert_eq!(
        other.get("/api/hosts/1/boxes").await.status,
        404,
        "not its host: not found"
    );
    assert_eq!(admin.get("/api/hosts/99/boxes").await.status, 404);
    let bad = admin.get("/api/hosts/1/boxes?outdated=maybe").await;
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("outdated"), "{}", bad.text());
    let unknown = admin.get("/api/hosts/1/boxes?old=1").await;
    assert_eq!(unknown.status, 400);
    assert_eq!(
        TestClient::new(server.address, None)
            .get("/api/hosts/1/boxes")
            .await
            .status,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_status_shows_every_machine_to_admins_only() {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let server = start_server(&fake, data.path());
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let id = register(&admin, "single", 1, &fake.single()).await;
    let started = admin
        .post(&format!("/api/instances/{id}"), &json!({"state": "start"}))
        .await;
    assert_eq!(started.status, 200, "{}", started.text());
    // A machine started outside Jeto shows too: Vagrant's index knows every folder.
    fake.run_vagrant(&fake.multi(), &["up", "db"]);

    let global = admin.get("/api/global-status").await;
    assert_eq!(global.status, 200, "{}", global.text());
    let machines = global.json();
    let find = |dir: &std::path::Path, name: &str| {
        machines
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["directory"] == dir.display().to_string() && m["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {} not in {machines}", dir.display()))
    };
    let single = find(&fake.single(), "default");
    assert_eq!(
        (single["state"].as_str(), single["provider"].as_str()),
        (Some("running"), Some("jeto_fake"))
    );
    assert_eq!(
        single["id"].as_str().unwrap().len(),
        7,
        "Vagrant's short id"
    );
    // Vagrant's index is a cache: it may still hold the state `up` started from.
    assert!(!find(&fake.multi(), "db")["state"]
        .as_str()
        .unwrap()
        .is_empty());

    let ci = TestClient::new(server.address, Some(CI_KEY));
    let refused = ci.get("/api/global-status").await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert_eq!(
        admin.get("/api/global-status?prune=false").await.status,
        400
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_tells_admins_vagrants_version_and_plugins() {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let server = start_server(&fake, data.path());
    let anonymous = TestClient::new(server.address, None)
        .get("/api/health")
        .await;
    assert_eq!(anonymous.json(), json!({"status": "ok"}));
    let ci = TestClient::new(server.address, Some(CI_KEY))
        .get("/api/health")
        .await;
    assert_eq!(
        ci.json(),
        json!({"status": "ok"}),
        "a tenant learns nothing of the tool"
    );

    let admin = TestClient::new(server.address, Some(ADMIN_KEY))
        .get("/api/health")
        .await;
    assert_eq!(admin.status, 200, "{}", admin.text());
    let health = admin.json();
    let version = fake.run_vagrant(fake.root(), &["--version"]);
    let version = String::from_utf8_lossy(&version.stdout);
    assert_eq!(health["provider"]["name"], "vagrant");
    assert_eq!(
        health["provider"]["version"].as_str(),
        version.trim().strip_prefix("Vagrant "),
        "{health}"
    );
    let plugins = fake.run_vagrant(fake.root(), &["plugin", "list", "--machine-readable"]);
    let expected: Vec<String> = String::from_utf8_lossy(&plugins.stdout)
        .lines()
        .filter_map(|l| {
            l.split(',')
                .nth(3)
                .filter(|_| l.contains(",plugin-name,"))
                .map(str::to_owned)
        })
        .collect();
    let seen: Vec<String> = health["provider"]["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seen, expected, "{health}");
}
