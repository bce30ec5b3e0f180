//! Issue 25, "everything an admin configures can be changed": hosts (update; delete refused
//! while instances use them or projects name them), projects (update, delete) and instances
//! (rename, environment, another host, with a check that the new host reads them), over TCP
//! against the real binary and the real `vagrant` with the `jeto_fake` provider.

mod common;

use common::{register, start_server, ADMIN_KEY, CI_KEY, OTHER_KEY};
use jeto_http::testing::TestClient;
use jeto_vagrant::fixture::FakeVagrant;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_projects_and_instances_change_and_what_is_in_use_stays() {
    let fake = FakeVagrant::new();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(&fake, dir.path());
    let admin = TestClient::new(server.address, Some(ADMIN_KEY));
    let ci = TestClient::new(server.address, Some(CI_KEY));
    let other = TestClient::new(server.address, Some(OTHER_KEY));
    let id = register(&admin, "web", 1, &fake.single()).await;
    let instance = format!("/api/instances/{id}");

    // Hosts: a tenant cannot change them; an admin can, but not one in use.
    let host2 = json!({"name": "hanging-renamed", "provider": "jeto_fake", "params": "JETO_FAKE_UP=hang\nNEW=1"});
    assert_eq!(ci.put("/api/hosts/2", &host2).await.status, 403);
    let updated = admin.put("/api/hosts/2", &host2).await;
    assert_eq!(updated.status, 200, "{}", updated.text());
    let read = admin.get("/api/hosts/2").await.json();
    assert_eq!(read["name"], "hanging-renamed", "{read}");
    assert_eq!(read["params"]["NEW"], "1", "{read}");
    let mismatch = admin
        .put(
            "/api/hosts/2",
            &json!({"id": 5, "name": "x", "provider": "jeto_fake"}),
        )
        .await;
    assert_eq!(mismatch.status, 400, "{}", mismatch.text());
    assert!(
        mismatch.text().contains("not the path's"),
        "{}",
        mismatch.text()
    );
    assert_eq!(admin.put("/api/hosts/99", &host2).await.status, 404);
    let in_use = admin.delete("/api/hosts/1").await;
    assert_eq!(in_use.status, 409, "{}", in_use.text());
    assert!(
        in_use.text().contains("used by 1 instance(s)") && in_use.text().contains(&id.to_string()),
        "{}",
        in_use.text()
    );
    assert_eq!(ci.delete("/api/hosts/2").await.status, 403);

    // Instances: renamed and given another environment by an admin only; a key that cannot
    // see it is told it does not exist.
    let change = json!({"name": "web-renamed", "environment": "staging"});
    assert_eq!(other.patch(&instance, &change).await.status, 404);
    let refused = ci.patch(&instance, &change).await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    let changed = admin.patch(&instance, &change).await;
    assert_eq!(changed.status, 200, "{}", changed.text());
    let changed = changed.json();
    assert_eq!(changed["name"], "web-renamed", "{changed}");
    assert_eq!(changed["environment"], "staging", "{changed}");
    let unknown = admin.patch(&instance, &json!({"colour": "red"})).await;
    assert_eq!(unknown.status, 400, "{}", unknown.text());
    let empty_name = admin.patch(&instance, &json!({"name": ""})).await;
    assert_eq!(empty_name.status, 400, "{}", empty_name.text());

    // Moved to a host whose provider vagrant does not have: refused with vagrant's words, and
    // the instance stays where it was.
    let nowhere = admin
        .post(
            "/api/hosts",
            &json!({"name": "nowhere", "provider": "no_such_provider"}),
        )
        .await
        .json();
    let refused = admin
        .patch(&instance, &json!({"host": nowhere["id"]}))
        .await;
    assert_eq!(refused.status, 409, "{}", refused.text());
    assert!(
        refused.text().contains("cannot run instance")
            && refused.text().contains("no_such_provider"),
        "{}",
        refused.text()
    );
    assert_eq!(admin.get(&instance).await.json()["host"]["id"], 1);
    assert_eq!(
        admin.patch(&instance, &json!({"host": 99})).await.status,
        404
    );

    // Moved while a command runs: refused; once it ended, moved.
    let hanging = register(&admin, "hang", 2, &fake.another_single("hang")).await;
    let started = admin
        .post(
            &format!("/api/instances/{hanging}"),
            &json!({"state": "start", "async": true}),
        )
        .await;
    assert_eq!(started.status, 202, "{}", started.text());
    let busy = admin
        .patch(&format!("/api/instances/{hanging}"), &json!({"host": 1}))
        .await;
    assert_eq!(busy.status, 409, "{}", busy.text());
    assert!(busy.text().contains("queued or running"), "{}", busy.text());
    let location = started.header("location").unwrap().to_owned();
    assert_eq!(admin.delete(&location).await.status, 200);
    let mut moved = None;
    for _ in 0..100 {
        let answer = admin
            .patch(&format!("/api/instances/{hanging}"), &json!({"host": 1}))
            .await;
        if answer.status == 200 {
            moved = Some(answer.json());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let moved = moved.expect("moved once the cancelled command ended");
    assert_eq!(moved["host"]["id"], 1, "{moved}");

    // Host 2 has no instance left: it goes, and is gone.
    let removed = admin.delete("/api/hosts/2").await;
    assert_eq!(removed.status, 200, "{}", removed.text());
    assert_eq!(admin.get("/api/hosts/2").await.status, 404);
    assert_eq!(admin.delete("/api/hosts/2").await.status, 404);

    // Projects: changed and removed by admins only; a host a project names stays.
    let project = admin
        .post(
            "/api/projects",
            &json!({"name": "site", "git_url": "https://git.invalid/site.git", "hosts": [nowhere["id"]]}),
        )
        .await
        .json();
    let url = format!("/api/projects/{}", project["id"]);
    let named = admin.delete(&format!("/api/hosts/{}", nowhere["id"])).await;
    assert_eq!(named.status, 409, "{}", named.text());
    assert!(
        named.text().contains("named by 1 project"),
        "{}",
        named.text()
    );
    let renamed = json!({"name": "site-2", "git_url": "https://git.invalid/site.git"});
    assert_eq!(ci.put(&url, &renamed).await.status, 403);
    let updated = admin.put(&url, &renamed).await;
    assert_eq!(updated.status, 200, "{}", updated.text());
    assert_eq!(updated.json()["name"], "site-2");
    assert_eq!(ci.delete(&url).await.status, 403);
    assert_eq!(admin.delete(&url).await.status, 200);
    assert_eq!(admin.get(&url).await.status, 404);
    assert_eq!(
        admin
            .delete(&format!("/api/hosts/{}", nowhere["id"]))
            .await
            .status,
        200
    );

    // The audit log has each change, by route template and key.
    let audit = admin.get("/api/audit?limit=100").await.json();
    for (method, route) in [
        ("PUT", "/api/hosts/{id}"),
        ("DELETE", "/api/hosts/{id}"),
        ("PATCH", "/api/instances/{id}"),
        ("PUT", "/api/projects/{id}"),
        ("DELETE", "/api/projects/{id}"),
    ] {
        assert!(
            audit["entries"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["method"] == method && e["route"] == route && e["principal"] == "admin"),
            "no {method} {route} in {audit}"
        );
    }
}
