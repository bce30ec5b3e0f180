//! Behavioural checks that every [`Store`] must pass (unstable API, behind `testing`), run by
//! jeto-core's tests against [`MemoryStore`](crate::store::MemoryStore) and
//! [`SqliteStore`](crate::store::SqliteStore).
//!
//! `open` gives the store under test; for a persistent store each call opens the same data
//! again (as a restart would), for an in-memory one it hands out the same store.
//!
//! ```
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use jeto_core::store::{MemoryStore, Store};
//! let store = MemoryStore::new();
//! jeto_core::testing::store_conformance::run_all(move || Arc::new(store.clone()) as Arc<dyn Store>, false).await;
//! # });
//! ```

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::access::audit::AuditEntry;
use crate::store::{InstanceRecord, Page, Store};
use crate::{Action, ActionRequest, Command, CommandStatus, ErrorKind, Project};
use crate::{Host, InstanceSpec};

/// Runs every check, in order, on stores from `open`; `persistent` stores are also checked
/// across a reopen.
pub async fn run_all(open: impl Fn() -> Arc<dyn Store>, persistent: bool) {
    let store = open();
    ids_are_never_reused(store.as_ref()).await;
    a_failed_write_changes_nothing(store.as_ref()).await;
    concurrent_writers_all_land(store.clone()).await;
    history_is_bounded_and_keeps_unfinished_commands(store.as_ref()).await;
    commands_page_newest_first_without_consoles(store.as_ref()).await;
    consoles_keep_their_last_bytes(store.as_ref()).await;
    unfinished_commands_become_interrupted(store.as_ref()).await;
    the_audit_log_is_bounded_and_pages_newest_first(store.as_ref()).await;
    one_folder_holds_one_instance(store.clone()).await;
    hosts_in_use_stay_and_others_go(store.as_ref()).await;
    people_and_their_keys(store.as_ref()).await;
    owners_and_quotas_come_back(store.as_ref()).await;
    the_event_log_is_ordered_and_bounded(store.as_ref()).await;
    webhooks_and_their_deliveries(store.as_ref()).await;
    domains_keep_their_secrets(store.as_ref()).await;
    if persistent {
        let before = snapshot(store.as_ref()).await;
        drop(store);
        let again = open();
        assert_eq!(
            snapshot(again.as_ref()).await,
            before,
            "a reopened store holds the same data"
        );
        ids_are_never_reused(again.as_ref()).await;
    }
}

/// A new instance record named `name`, in a folder of its own (one folder, one instance).
fn instance(name: &str) -> InstanceRecord {
    static FOLDERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let folder = FOLDERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    InstanceRecord {
        id: 0,
        spec: InstanceSpec {
            environment: "conformance".into(),
            ..InstanceSpec::new(name, format!("/srv/conformance/{folder}-{name}"))
        },
        host_id: 1,
        managed_folder: false,
        owner: None,
        project: None,
    }
}

fn command(instance_id: u64, status: CommandStatus) -> Command {
    Command {
        status,
        ..Command::queued(
            instance_id,
            &ActionRequest::new(Action::Start),
            "conformance",
        )
    }
}

/// Everything a store holds, comparable.
async fn snapshot(store: &dyn Store) -> String {
    let mut text = format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n",
        store.instances().await.unwrap(),
        store.hosts().await.unwrap(),
        store.projects().await.unwrap(),
        store.audit(None, usize::MAX).await.unwrap(),
        store.users().await.unwrap(),
        store.teams().await.unwrap(),
        // Debug shows the hashes too: they must come back.
        store.api_keys().await.unwrap(),
    );
    text.push_str(&format!("{:?}\n", store.domains().await.unwrap()));
    for webhook in store.webhooks().await.unwrap() {
        let deliveries = store.deliveries(webhook.id, usize::MAX).await.unwrap();
        text.push_str(&format!("{webhook:?}\n{deliveries:?}\n"));
    }
    for record in store.instances().await.unwrap() {
        for listed in store.commands(record.id, Page::ALL).await.unwrap() {
            let full = store.command(record.id, listed.id).await.unwrap().unwrap();
            text.push_str(&format!("{listed:?}\n{:?}\n", full.console));
        }
    }
    text
}

/// Instance, host, project and command ids grow, also past removals and reservations.
pub async fn ids_are_never_reused(store: &dyn Store) {
    let a = store.insert_instance(instance("ids-a")).await.unwrap();
    let b = store.insert_instance(instance("ids-b")).await.unwrap();
    assert!(b.id > a.id, "instance ids grow");
    let first = store
        .insert_command(command(b.id, CommandStatus::Succeeded), 10)
        .await;
    let first = first.unwrap();
    assert_eq!(
        store.instance_at(&a.spec.path).await.unwrap(),
        Some(a.clone())
    );
    store.remove_instance(b.id).await.unwrap();
    assert!(store.instance(b.id).await.unwrap().is_none());
    assert!(store.instance_at(&b.spec.path).await.unwrap().is_none());
    let reserved = store.reserve_instance_id().await.unwrap();
    assert!(
        reserved > b.id,
        "a removed instance's id is not handed out again"
    );
    let c = store.insert_instance(instance("ids-c")).await.unwrap();
    assert!(c.id > reserved, "a reserved id is not handed out again");
    let with_reserved = InstanceRecord {
        id: reserved,
        ..instance("ids-reserved")
    };
    assert_eq!(
        store.insert_instance(with_reserved).await.unwrap().id,
        reserved
    );
    let next = store
        .insert_command(command(c.id, CommandStatus::Succeeded), 10)
        .await;
    assert!(
        next.unwrap().id > first.id,
        "command ids grow past removed instances"
    );
    assert!(
        store.commands(b.id, Page::ALL).await.unwrap().is_empty(),
        "a removed instance's commands go with it"
    );
    let h1 = store.put_host(Host::new("ids-h1", "memory")).await.unwrap();
    let h2 = store.put_host(Host::new("ids-h2", "memory")).await.unwrap();
    assert!(h2.id > h1.id);
    let fixed = store
        .put_host(Host {
            id: h1.id,
            ..Host::new("ids-h1-renamed", "memory")
        })
        .await
        .unwrap();
    assert_eq!(fixed.id, h1.id, "a host with an id replaces that host");
    let hosts = store.hosts().await.unwrap();
    assert_eq!(hosts.iter().filter(|h| h.id == h1.id).count(), 1);
    let project = |name: &str| Project {
        id: 0,
        name: name.into(),
        git_url: Some("https://git.example.org/x.git".into()),
        archive_url: None,
        archive_sha256: None,
        references: vec!["main".into()],
        default_reference: Some("main".into()),
        hosts: None,
        quota: Default::default(),
        default_expiry_secs: None,
    };
    let p1 = store.put_project(project("ids-p1")).await.unwrap();
    let p2 = store.put_project(project("ids-p2")).await.unwrap();
    assert!(p1.id > 0 && p2.id > p1.id);
    assert!(
        store.command(c.id, u64::MAX).await.unwrap().is_none(),
        "an id beyond int64 names nothing (and is no storage error)"
    );
    let huge = Project {
        id: u64::MAX,
        ..project("ids-huge")
    };
    let refused = store.put_project(huge).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::InvalidRequest, "{refused}");
    let refused = store
        .put_host(Host {
            id: 1 << 63,
            ..Host::new("ids-huge", "memory")
        })
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::InvalidRequest, "{refused}");
}

/// A command of an instance that does not exist, or an instance under an id in use, is
/// refused and leaves the store as it was.
pub async fn a_failed_write_changes_nothing(store: &dyn Store) {
    let before = snapshot(store).await;
    let error = store
        .insert_command(command(u64::MAX / 2, CommandStatus::Queued), 10)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound, "{error}");
    let taken = store.instances().await.unwrap()[0].id;
    let duplicate = InstanceRecord {
        id: taken,
        ..instance("duplicate")
    };
    assert!(store.insert_instance(duplicate).await.is_err());
    assert!(!store
        .update_instance(crate::store::InstanceRecord {
            id: u64::MAX / 2,
            ..store.instances().await.unwrap()[0].clone()
        })
        .await
        .unwrap());
    assert_eq!(
        snapshot(store).await,
        before,
        "a failed write changed the store"
    );
}

/// Many writers at once: every write lands, ids are distinct.
pub async fn concurrent_writers_all_land(store: Arc<dyn Store>) {
    let target = store.insert_instance(instance("busy")).await.unwrap().id;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let store = store.clone();
        tasks.spawn(async move {
            let record = store
                .insert_instance(instance(&format!("writer-{i}")))
                .await;
            let command = store
                .insert_command(command(target, CommandStatus::Succeeded), 1000)
                .await;
            (record.unwrap().id, command.unwrap().id)
        });
    }
    let (mut instances, mut commands) = (BTreeSet::new(), BTreeSet::new());
    while let Some(done) = tasks.join_next().await {
        let (instance, command) = done.unwrap();
        assert!(instances.insert(instance), "instance id {instance} twice");
        assert!(commands.insert(command), "command id {command} twice");
    }
    let stored: BTreeSet<u64> = store
        .instances()
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert!(instances.is_subset(&stored));
    let listed: BTreeSet<u64> = store
        .commands(target, Page::ALL)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(listed, commands);
}

/// At most `keep` commands per instance: the oldest finished go first, unfinished ones stay.
pub async fn history_is_bounded_and_keeps_unfinished_commands(store: &dyn Store) {
    let id = store.insert_instance(instance("history")).await.unwrap().id;
    let queued = store
        .insert_command(command(id, CommandStatus::Queued), 5)
        .await
        .unwrap();
    let mut last = 0;
    for _ in 0..12 {
        last = store
            .insert_command(command(id, CommandStatus::Succeeded), 5)
            .await
            .unwrap()
            .id;
    }
    let kept = store.commands(id, Page::ALL).await.unwrap();
    assert_eq!(kept.len(), 5, "{kept:?}");
    assert_eq!(kept[0].id, last, "the newest stay");
    assert!(
        kept.iter().any(|c| c.id == queued.id),
        "an unfinished command is never dropped"
    );
    store.prune_commands(2).await.unwrap();
    let kept = store.commands(id, Page::ALL).await.unwrap();
    assert_eq!(kept.len(), 2);
    assert!(kept.iter().any(|c| c.id == queued.id));
}

/// Pages are newest first, `before` and `limit` apply, lists carry no console.
pub async fn commands_page_newest_first_without_consoles(store: &dyn Store) {
    let id = store.insert_instance(instance("pages")).await.unwrap().id;
    let mut ids = Vec::new();
    for _ in 0..7 {
        let c = store
            .insert_command(command(id, CommandStatus::Succeeded), 100)
            .await
            .unwrap();
        store.append_console(c.id, "line\n", 1 << 20).await.unwrap();
        ids.push(c.id);
    }
    ids.reverse();
    let first = store
        .commands(
            id,
            Page {
                before: None,
                limit: 3,
            },
        )
        .await
        .unwrap();
    assert_eq!(first.iter().map(|c| c.id).collect::<Vec<_>>(), ids[..3]);
    let second = store
        .commands(
            id,
            Page {
                before: Some(first[2].id),
                limit: 3,
            },
        )
        .await
        .unwrap();
    assert_eq!(second.iter().map(|c| c.id).collect::<Vec<_>>(), ids[3..6]);
    for listed in first.iter().chain(&second) {
        assert_eq!(listed.console, None, "lists carry no console");
        assert_eq!(listed.console_bytes, 5);
    }
    let one = store.command(id, ids[0]).await.unwrap().unwrap();
    assert_eq!(one.console.as_deref(), Some("line\n"));
    assert!(store.command(id + 1, ids[0]).await.unwrap().is_none());
}

/// A console keeps its last `limit` bytes, at character boundaries, and says it was cut.
pub async fn consoles_keep_their_last_bytes(store: &dyn Store) {
    let id = store.insert_instance(instance("console")).await.unwrap().id;
    let mut running = store
        .insert_command(command(id, CommandStatus::Running), 10)
        .await
        .unwrap();
    for i in 0..100 {
        let text = format!("line {i:03} é\n");
        store.append_console(running.id, &text, 100).await.unwrap();
    }
    running.status = CommandStatus::Succeeded;
    running.exit_code = Some(0);
    store.update_command(&running).await.unwrap();
    let read = store.command(id, running.id).await.unwrap().unwrap();
    let console = read.console.unwrap();
    assert!(console.len() <= 100, "{} bytes kept", console.len());
    assert!(console.ends_with("line 099 é\n"), "{console:?}");
    assert!(read.console_truncated);
    assert_eq!(
        read.status,
        CommandStatus::Succeeded,
        "updates keep the console"
    );
    assert_eq!(read.exit_code, Some(0));
}

/// At start, what was left queued or running becomes interrupted.
pub async fn unfinished_commands_become_interrupted(store: &dyn Store) {
    let id = store.insert_instance(instance("restart")).await.unwrap().id;
    let queued = store
        .insert_command(command(id, CommandStatus::Queued), 10)
        .await
        .unwrap();
    let done = store
        .insert_command(command(id, CommandStatus::Succeeded), 10)
        .await
        .unwrap();
    let interrupted = store.interrupt_unfinished().await.unwrap();
    assert!(interrupted
        .iter()
        .any(|c| c.id == queued.id && c.status == CommandStatus::Interrupted));
    assert!(!interrupted.iter().any(|c| c.id == done.id));
    let read = store.command(id, queued.id).await.unwrap().unwrap();
    assert_eq!(read.status, CommandStatus::Interrupted);
    assert!(read.finished_at.is_some() && read.error.is_some());
    let untouched = store.command(id, done.id).await.unwrap().unwrap();
    assert_eq!(untouched.status, CommandStatus::Succeeded);
}

/// Audit entries get growing ids, the oldest beyond `keep` go (each kind apart), pages are
/// newest first.
pub async fn the_audit_log_is_bounded_and_pages_newest_first(store: &dyn Store) {
    let mut ids = Vec::new();
    for i in 0..5 {
        let entry = AuditEntry {
            instance: Some(i),
            ..AuditEntry::new(
                Some("conformance".into()),
                "POST",
                &format!("/api/instances/{i}"),
                200,
                "ok",
            )
        };
        ids.push(store.append_audit(entry, 3).await.unwrap().id);
    }
    assert!(
        ids.windows(2).all(|w| w[1] > w[0]),
        "audit ids grow: {ids:?}"
    );
    let kept = store.audit(None, 10).await.unwrap();
    let kept_ids: Vec<u64> = kept.iter().map(|e| e.id).collect();
    assert_eq!(
        kept_ids,
        [ids[4], ids[3], ids[2]],
        "the newest 3, newest first"
    );
    let older = store.audit(Some(ids[3]), 10).await.unwrap();
    assert_eq!(older.len(), 1);
    assert_eq!(older[0].route, "/api/instances/2");
    // Entries of requests without a valid key are kept apart: however many come, the newest
    // 3 signed-in entries stay.
    for _ in 0..10 {
        let keyless = AuditEntry {
            count: 1000,
            ..AuditEntry::new(None, "DELETE", "(no route)", 404, "not_found")
        };
        store.append_audit(keyless, 3).await.unwrap();
    }
    let kept = store.audit(None, 100).await.unwrap();
    let signed: Vec<u64> = kept
        .iter()
        .filter(|e| e.principal.is_some())
        .map(|e| e.id)
        .collect();
    assert_eq!(
        signed,
        [ids[4], ids[3], ids[2]],
        "a keyless flood evicted entries"
    );
    assert_eq!(kept.iter().filter(|e| e.principal.is_none()).count(), 3);
    assert_eq!(kept[0].count, 1000);
}

/// A folder holds one instance: a second insert (or an update) onto a taken folder is a
/// conflict, also when many are raced at once (the check and the write are one step), and the
/// folder is free again once its instance is removed.
pub async fn one_folder_holds_one_instance(store: Arc<dyn Store>) {
    let first = store.insert_instance(instance("folder")).await.unwrap();
    let mut twin = instance("twin");
    twin.spec.path = first.spec.path.clone();
    let refused = store.insert_instance(twin.clone()).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Conflict, "{refused}");
    assert!(refused.to_string().contains("one folder"), "{refused}");

    let other = store.insert_instance(instance("other")).await.unwrap();
    let mut moved = other.clone();
    moved.spec.path = first.spec.path.clone();
    let refused = store.update_instance(moved).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Conflict, "{refused}");

    let mut raced = instance("raced");
    raced.spec.path = "/srv/conformance/raced-folder".into();
    let attempts: Vec<_> = (0..30)
        .map(|_| {
            let (store, record) = (store.clone(), raced.clone());
            tokio::spawn(async move { store.insert_instance(record).await })
        })
        .collect();
    let mut won = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(_) => won += 1,
            Err(e) => assert_eq!(e.kind(), ErrorKind::Conflict, "{e}"),
        }
    }
    assert_eq!(won, 1, "30 raced inserts of one folder");
    let holder = store
        .instance_at("/srv/conformance/raced-folder")
        .await
        .unwrap()
        .expect("the winner holds the folder");
    store.remove_instance(holder.id).await.unwrap();
    store
        .insert_instance(raced)
        .await
        .expect("a removed instance frees its folder");
}

/// A host with instances on it is not removed (the refusal says how many); once they are gone
/// it is, and a second removal finds nothing. A project is removed whatever was made from it.
pub async fn hosts_in_use_stay_and_others_go(store: &dyn Store) {
    let host = store
        .put_host(Host::new("doomed", "virtualbox"))
        .await
        .unwrap();
    let mut on_it = instance("on-doomed");
    on_it.host_id = host.id;
    let on_it = store.insert_instance(on_it).await.unwrap();
    let refused = store.remove_host(host.id).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Conflict, "{refused}");
    assert!(refused.to_string().contains("1 instance"), "{refused}");
    assert!(store.hosts().await.unwrap().iter().any(|h| h.id == host.id));
    store.remove_instance(on_it.id).await.unwrap();
    let removed = store.remove_host(host.id).await.unwrap();
    assert_eq!(removed.map(|h| h.name), Some("doomed".to_owned()));
    assert!(store.hosts().await.unwrap().iter().all(|h| h.id != host.id));
    assert!(store.remove_host(host.id).await.unwrap().is_none());

    let project = store
        .put_project(Project {
            id: 0,
            name: "doomed".into(),
            git_url: Some("https://git.example.org/doomed.git".into()),
            archive_url: None,
            archive_sha256: None,
            references: vec!["main".into()],
            default_reference: Some("main".into()),
            hosts: None,
            quota: Default::default(),
            default_expiry_secs: Some(3600),
        })
        .await
        .unwrap();
    let removed = store.remove_project(project.id).await.unwrap();
    assert_eq!(removed.map(|p| p.id), Some(project.id));
    assert!(store
        .projects()
        .await
        .unwrap()
        .iter()
        .all(|p| p.id != project.id));
    assert!(store.remove_project(project.id).await.unwrap().is_none());
    // Ids are never reused, removed or not.
    let next = store
        .put_host(Host::new("after", "virtualbox"))
        .await
        .unwrap();
    assert!(next.id > host.id, "{} after {}", next.id, host.id);
}

/// Users and teams have unique names, teams list users only, a key's hash is its own and
/// kept (never in its JSON); removing a user removes their keys and their places in teams.
pub async fn people_and_their_keys(store: &dyn Store) {
    use crate::access::hash_key;
    use crate::access::people::{ApiKey, Team, User};
    let ann = store.put_user(User::new("ann")).await.unwrap();
    assert!(ann.id > 0);
    let taken = store.put_user(User::new("ann")).await.unwrap_err();
    assert_eq!(taken.kind(), ErrorKind::Conflict, "{taken}");
    let bob = store.put_user(User::new("bob")).await.unwrap();
    let mut ops = Team::new("ops");
    ops.members = [ann.id, bob.id].into();
    let ops = store.put_team(ops).await.unwrap();
    let mut ghosts = Team::new("ghosts");
    ghosts.members = [999_999].into();
    let refused = store.put_team(ghosts).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::InvalidRequest, "{refused}");
    let refused = store.put_team(Team::new("ops")).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Conflict, "{refused}");

    let key = store
        .put_api_key(ApiKey::new(ann.id, "ci", hash_key("ann's key")))
        .await
        .unwrap();
    let again = store
        .put_api_key(ApiKey::new(bob.id, "copy", hash_key("ann's key")))
        .await
        .unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Conflict, "{again}");
    let orphan = store
        .put_api_key(ApiKey::new(999_999, "orphan", hash_key("x")))
        .await
        .unwrap_err();
    assert_eq!(orphan.kind(), ErrorKind::InvalidRequest, "{orphan}");
    let stored = store.api_keys().await.unwrap();
    let found = stored.iter().find(|k| k.id == key.id).unwrap();
    assert_eq!(found.key_sha256, hash_key("ann's key"));
    let by_hash = store.api_key_by_hash(&hash_key("ann's key")).await.unwrap();
    assert_eq!(by_hash.map(|k| k.id), Some(key.id));
    assert!(store
        .api_key_by_hash(&hash_key("nobody's"))
        .await
        .unwrap()
        .is_none());
    assert!(!serde_json::to_string(found)
        .unwrap()
        .contains(&found.key_sha256));
    let bobs = store
        .put_api_key(ApiKey::new(bob.id, "bob's", hash_key("bob's key")))
        .await
        .unwrap();

    let removed = store.remove_user(ann.id).await.unwrap();
    assert_eq!(removed.map(|u| u.name), Some("ann".to_owned()));
    let keys = store.api_keys().await.unwrap();
    assert!(keys.iter().all(|k| k.user != ann.id), "{keys:?}");
    assert!(keys.iter().any(|k| k.id == bobs.id));
    let teams = store.teams().await.unwrap();
    let ops_now = teams.iter().find(|t| t.id == ops.id).unwrap();
    assert_eq!(ops_now.members, [bob.id].into());
    assert!(store.remove_user(ann.id).await.unwrap().is_none());
    assert_eq!(
        store.remove_api_key(bobs.id).await.unwrap().map(|k| k.id),
        Some(bobs.id)
    );
    assert!(store.remove_api_key(bobs.id).await.unwrap().is_none());
    // A write racing a revocation does not bring the key back.
    let mut late = bobs.clone();
    late.last_used_at = Some(time::OffsetDateTime::now_utc());
    let refused = store.put_api_key(late).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::NotFound, "{refused}");
    assert!(store
        .api_keys()
        .await
        .unwrap()
        .iter()
        .all(|k| k.id != bobs.id));
    // A name freed is free again; ids are not reused.
    let ann_again = store.put_user(User::new("ann")).await.unwrap();
    assert!(ann_again.id > bob.id);
}

/// Who made an instance, its project, and the quotas of users, teams and projects are kept as
/// written (a reopened store is compared by `run_all`).
pub async fn owners_and_quotas_come_back(store: &dyn Store) {
    use crate::access::people::{Team, User};
    let quota = |instances| crate::Quota {
        instances: Some(instances),
        running: Some(2),
        ..Default::default()
    };
    let cid = store
        .put_user(User {
            quota: quota(3),
            ..User::new("quota-cid")
        })
        .await
        .unwrap();
    let team = store
        .put_team(Team {
            quota: quota(4),
            default_expiry_secs: Some(7200),
            members: [cid.id].into(),
            ..Team::new("quota-team")
        })
        .await
        .unwrap();
    let project = store
        .put_project(Project {
            quota: quota(5),
            ..Project::git("quota-project", "https://example.invalid/q.git")
        })
        .await
        .unwrap();
    let made = store
        .insert_instance(InstanceRecord {
            owner: Some(cid.id),
            project: Some(project.id),
            ..instance("owned")
        })
        .await
        .unwrap();
    let instances = store.instances().await.unwrap();
    let back = instances.iter().find(|r| r.id == made.id).unwrap();
    assert_eq!((back.owner, back.project), (Some(cid.id), Some(project.id)));
    let users = store.users().await.unwrap();
    assert_eq!(
        users.iter().find(|u| u.id == cid.id).unwrap().quota,
        quota(3)
    );
    let teams = store.teams().await.unwrap();
    let found = teams.iter().find(|t| t.id == team.id).unwrap();
    assert_eq!(
        (found.quota, found.default_expiry_secs),
        (quota(4), Some(7200))
    );
    let projects = store.projects().await.unwrap();
    let found = projects.iter().find(|p| p.id == project.id).unwrap();
    assert_eq!(found.quota, quota(5));
}

/// Events get increasing ids in the order given, read back in order after an id, and only the
/// newest `keep` stay.
pub async fn the_event_log_is_ordered_and_bounded(store: &dyn Store) {
    use crate::{Event, EventKind};
    let before = store
        .event_bounds()
        .await
        .unwrap()
        .map_or(0, |(_, newest)| newest);
    let events: Vec<Event> = (0..5)
        .map(|n| Event::new(Some(n), Some(1), EventKind::InstanceDeleted))
        .collect();
    let stored = store.append_events(events, 3).await.unwrap();
    let ids: Vec<u64> = stored.iter().map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    assert!(ids[0] > before);
    let instances: Vec<Option<u64>> = stored.iter().map(|e| e.instance).collect();
    assert_eq!(
        instances,
        [Some(0), Some(1), Some(2), Some(3), Some(4)].to_vec()
    );
    assert_eq!(
        store.event_bounds().await.unwrap(),
        Some((ids[2], ids[4])),
        "the newest 3 are kept"
    );
    let after: Vec<u64> = store
        .events(ids[2], 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(after, [ids[3], ids[4]].to_vec());
    assert_eq!(store.events(0, 1).await.unwrap()[0], stored[2]);
}

/// Webhooks keep their definition and secret; progress changes only cursor and pause;
/// deliveries are kept newest first, bounded per webhook, and go with their webhook.
pub async fn webhooks_and_their_deliveries(store: &dyn Store) {
    use crate::{Delivery, DeliveryOutcome, Event, EventKind, Webhook};
    let mut hook = Webhook::new("https://hooks.example.org/a").types(["command_ended"]);
    hook.secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into();
    let a = store.put_webhook(hook.clone()).await.unwrap();
    let b = store
        .put_webhook(Webhook::new("https://hooks.example.org/b"))
        .await
        .unwrap();
    assert!(a.id > 0 && b.id > a.id);
    assert!(store
        .advance_webhook(a.id, 42, Some("down".into()))
        .await
        .unwrap());
    assert!(!store.advance_webhook(u64::MAX / 2, 1, None).await.unwrap());
    let stored = store.webhooks().await.unwrap();
    let again = stored.iter().find(|w| w.id == a.id).unwrap();
    assert_eq!((again.cursor, again.paused.as_deref()), (42, Some("down")));
    assert_eq!(
        (&again.secret, &again.types, &again.url),
        (&hook.secret, &hook.types, &hook.url)
    );
    let event = Event {
        id: 7,
        ..Event::new(Some(1), Some(1), EventKind::InstanceDeleted)
    };
    for attempt in 1..=4 {
        let record = Delivery::new(a.id, &event, attempt, DeliveryOutcome::Retrying);
        store.append_delivery(record, 3).await.unwrap();
    }
    store
        .append_delivery(
            Delivery::new(b.id, &event, 1, DeliveryOutcome::Delivered),
            3,
        )
        .await
        .unwrap();
    let kept: Vec<u32> = store
        .deliveries(a.id, 10)
        .await
        .unwrap()
        .iter()
        .map(|d| d.attempt)
        .collect();
    assert_eq!(kept, [4, 3, 2].to_vec(), "the newest 3, newest first");
    assert_eq!(store.deliveries(b.id, 10).await.unwrap().len(), 1);
    let removed = store.remove_webhook(b.id).await.unwrap().unwrap();
    assert_eq!(removed.url, "https://hooks.example.org/b");
    assert!(store.deliveries(b.id, 10).await.unwrap().is_empty());
    assert!(store.remove_webhook(b.id).await.unwrap().is_none());
}

/// Domains come back as written, password hashes and private keys included (the service
/// redacts answers, not the store); ids grow past removals.
pub async fn domains_keep_their_secrets(store: &dyn Store) {
    use crate::{Domain, DomainAccess, DomainLogin, DomainTls};
    let mut shop = Domain::new("shop.conformance.test", 1, 8080);
    shop.aliases = vec!["www.shop.conformance.test".into()];
    let mut login = DomainLogin::new("ann", "a long password");
    login.password = None;
    login.password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into();
    shop.access = DomainAccess::Passwords {
        logins: vec![login],
    };
    shop.tls = Some(DomainTls {
        certificate_pem: "-----BEGIN CERTIFICATE-----".into(),
        private_key_pem: "-----BEGIN PRIVATE KEY-----".into(),
    });
    let stored = store.put_domain(shop.clone()).await.unwrap();
    assert!(stored.id > 0);
    let listed = store.domains().await.unwrap();
    let back = listed.iter().find(|d| d.id == stored.id).unwrap();
    assert_eq!(
        back,
        &Domain {
            id: stored.id,
            ..shop.clone()
        }
    );
    let gone = store
        .put_domain(Domain::new("gone.conformance.test", 1, 80))
        .await
        .unwrap();
    assert_eq!(
        store.remove_domain(gone.id).await.unwrap().map(|d| d.name),
        Some("gone.conformance.test".to_owned())
    );
    assert!(store.remove_domain(gone.id).await.unwrap().is_none());
    let next = store
        .put_domain(Domain::new("next.conformance.test", 1, 80))
        .await
        .unwrap();
    assert!(next.id > gone.id, "ids are not reused");
}
