//! The service over an instrumented in-memory provider: ordering, concurrency bound,
//! coalescing, tokens, cancel, restart.

use std::sync::Arc;
use std::time::Duration;

use jeto_core::access::{hash_key, Principal, TokenConfig, TokenPolicy};
use jeto_core::service::CreateInstance;
use jeto_core::store::{Page, SqliteStore};
use jeto_core::testing::InMemoryProvider;
use jeto_core::Host;
use jeto_core::SchedulerConfig;
use jeto_core::{Action, ActionRequest, CommandStatus, ErrorKind, Jeto, JetoConfig};

const SCRIPTS: &str = r#"{"scripts": {"slow": {"command": "echo started; sleep 30; echo done"}, "hello": {"command": "echo hello"}}}"#;

struct Setup {
    jeto: Jeto,
    provider: InMemoryProvider,
    admin: Principal,
    _dir: tempfile::TempDir,
}

/// A service over `instances` folders (each a real folder with a Vagrantfile and jeto.json,
/// known to the in-memory provider with `machines`).
async fn setup(
    instances: usize,
    machines: &[&str],
    delay: Duration,
    max_concurrent: usize,
) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let provider = InMemoryProvider::new().with_delay(delay);
    let config = JetoConfig {
        scheduler: SchedulerConfig {
            max_concurrent,
            // Tests queue more than the default bound on one instance at once.
            max_queued_per_instance: 64,
            ..SchedulerConfig::default()
        },
        ..JetoConfig::default()
    };
    let jeto = Jeto::builder(Arc::new(provider.clone()))
        .config(config)
        .build()
        .await
        .unwrap();
    let admin = Principal::admin("test");
    let host = jeto
        .create_host(&admin, Host::new("mem", "memory"))
        .await
        .unwrap();
    for i in 0..instances {
        let folder = dir.path().join(format!("i{i}"));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("Vagrantfile"), "").unwrap();
        std::fs::write(folder.join("jeto.json"), SCRIPTS).unwrap();
        provider.add_instance(folder.display().to_string(), machines);
        let request =
            CreateInstance::from_path(format!("i{i}"), host.id, folder.display().to_string());
        jeto.create_instance(&admin, request).await.unwrap();
    }
    Setup {
        jeto,
        provider,
        admin,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn commands_on_one_instance_never_overlap_and_keep_submission_order() {
    let machines: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    let names: Vec<&str> = machines.iter().map(String::as_str).collect();
    let s = setup(1, &names, Duration::from_millis(10), 4).await;
    let submissions: Vec<_> = machines
        .iter()
        .map(|m| {
            let (jeto, admin, m) = (s.jeto.clone(), s.admin.clone(), m.clone());
            tokio::spawn(async move {
                let handle = jeto
                    .submit(&admin, 1, ActionRequest::new(Action::Start).on(&m))
                    .await
                    .unwrap();
                (handle.id(), m, handle)
            })
        })
        .collect();
    let mut submitted = Vec::new();
    for s in submissions {
        submitted.push(s.await.unwrap());
    }
    for (_, _, handle) in &submitted {
        assert_eq!(handle.wait().await.status, CommandStatus::Succeeded);
    }
    submitted.sort_by_key(|(id, _, _)| *id);
    let expected: Vec<_> = submitted.iter().map(|(_, m, _)| Some(m.clone())).collect();
    let stats = s.provider.stats();
    let ran: Vec<_> = stats.runs.iter().map(|(_, r)| r.machine.clone()).collect();
    assert_eq!(ran, expected, "runs follow submission (id) order");
    assert_eq!(
        stats.max_in_flight_per_instance, 1,
        "two commands overlapped on one instance"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn commands_on_several_instances_overlap_up_to_the_bound() {
    let s = setup(4, &["default"], Duration::from_millis(50), 2).await;
    let mut handles = Vec::new();
    for round in 0..3 {
        for id in 1..=4 {
            let action = if round % 2 == 0 {
                Action::Start
            } else {
                Action::Stop
            };
            handles.push(
                s.jeto
                    .submit(&s.admin, id, ActionRequest::new(action))
                    .await
                    .unwrap(),
            );
        }
    }
    for h in handles {
        assert_eq!(h.wait().await.status, CommandStatus::Succeeded);
    }
    let stats = s.provider.stats();
    assert_eq!(stats.runs.len(), 12);
    assert_eq!(
        stats.max_in_flight_total, 2,
        "the bound of 2 was exceeded or never reached"
    );
    assert_eq!(stats.max_in_flight_per_instance, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_concurrent_status_reads_make_one_provider_call() {
    let s = setup(1, &["www", "db"], Duration::from_millis(200), 2).await;
    let reads: Vec<_> = (0..100)
        .map(|_| {
            let (jeto, admin) = (s.jeto.clone(), s.admin.clone());
            tokio::spawn(async move {
                jeto.instance(&admin, 1, Some(Duration::ZERO))
                    .await
                    .unwrap()
            })
        })
        .collect();
    for read in reads {
        let view = read.await.unwrap();
        assert_eq!(view.instance.status.len(), 2);
        assert!(view.status_checked_at.is_some());
    }
    assert_eq!(s.provider.stats().status_calls, 1);
    // A cached read makes no call; a command invalidates the cache.
    s.jeto
        .instance(&s.admin, 1, Some(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(s.provider.stats().status_calls, 1);
    s.jeto
        .run(&s.admin, 1, ActionRequest::new(Action::Start).on("www"))
        .await
        .unwrap();
    let view = s
        .jeto
        .instance(&s.admin, 1, Some(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(view.instance.status[0].status, "running");
    assert_eq!(view.instance.status[0].ip.as_deref(), Some("192.0.2.10"));
    assert_eq!(
        s.provider.stats().ip_calls,
        1,
        "IPs only for running machines"
    );
    // The IP is reused while the machine stays running.
    s.jeto
        .instance(&s.admin, 1, Some(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(s.provider.stats().ip_calls, 1);
}

#[tokio::test]
async fn tokens_unknown_ungranted_forbidden_admin() {
    let dir = tempfile::tempdir().unwrap();
    let provider = InMemoryProvider::new();
    let policy = TokenPolicy::new(vec![
        TokenConfig::admin("admin", "admin-key"),
        TokenConfig {
            name: "ci".into(),
            key_sha256: hash_key("ci-key"),
            admin: false,
            hosts: Default::default(),
            instances: [1].into(),
            projects: Default::default(),
            actions: Some(["status".parse().unwrap()].into()),
            metrics_only: false,
        },
    ])
    .unwrap();
    let jeto = Jeto::builder(Arc::new(provider.clone()))
        .policy(Arc::new(policy))
        .build()
        .await
        .unwrap();
    let admin = jeto.authenticate(Some("admin-key")).await.unwrap();
    assert!(admin.admin);
    assert_eq!(
        jeto.authenticate(Some("wrong")).await.unwrap_err().kind(),
        ErrorKind::Unauthenticated
    );
    assert_eq!(
        jeto.authenticate(None).await.unwrap_err().kind(),
        ErrorKind::Unauthenticated
    );
    let host = jeto
        .create_host(
            &admin,
            Host::new("h", "memory").with_params([("SECRET", "s")].into_iter().collect()),
        )
        .await
        .unwrap();
    for i in 1..=2 {
        let folder = dir.path().join(format!("i{i}"));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("Vagrantfile"), "").unwrap();
        provider.add_instance(folder.display().to_string(), &["default"]);
        let request =
            CreateInstance::from_path(format!("i{i}"), host.id, folder.display().to_string());
        jeto.create_instance(&admin, request).await.unwrap();
    }
    let ci = jeto.authenticate(Some("ci-key")).await.unwrap();
    let visible: Vec<_> = jeto
        .instances(&ci, false)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.instance.id)
        .collect();
    assert_eq!(visible, [1]);
    let view = jeto.instance(&ci, 1, None).await.unwrap();
    assert_eq!(
        view.instance.host.params.get("SECRET"),
        Some("***"),
        "params redacted for non-admins"
    );
    assert_eq!(
        jeto.instance(&admin, 1, None)
            .await
            .unwrap()
            .instance
            .host
            .params
            .get("SECRET"),
        Some("s")
    );
    let err = jeto.instance(&ci, 2, None).await.unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::NotFound,
        "ungranted instance must look absent: {err}"
    );
    let err = jeto
        .submit(&ci, 2, ActionRequest::new(Action::Status))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = jeto
        .submit(&ci, 1, ActionRequest::new(Action::Start))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden, "{err}");
    assert!(jeto
        .submit(&ci, 1, ActionRequest::new(Action::Status))
        .await
        .is_ok());
    assert_eq!(
        jeto.delete_instance(&ci, 1, false)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Forbidden
    );
    assert!(
        provider.stats().runs.is_empty(),
        "no rejected request reached the provider"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_queued_and_running_commands() {
    let s = setup(1, &["default"], Duration::ZERO, 2).await;
    s.jeto
        .run(&s.admin, 1, ActionRequest::new(Action::Start))
        .await
        .unwrap();
    let slow = s
        .jeto
        .submit(
            &s.admin,
            1,
            ActionRequest::new(Action::RunScript)
                .on("default")
                .script("slow"),
        )
        .await
        .unwrap();
    let queued = s
        .jeto
        .submit(&s.admin, 1, ActionRequest::new(Action::Stop))
        .await
        .unwrap();
    let mut follower = slow.follow().unwrap();
    assert_eq!(follower.next_chunk().await.as_deref(), Some("started\n"));
    assert_eq!(queued.snapshot().status, CommandStatus::Queued);

    let cancelled = s.jeto.cancel(&s.admin, 1, queued.id()).await.unwrap();
    assert_eq!(cancelled.status, CommandStatus::Cancelled);
    let cancelled = s.jeto.cancel(&s.admin, 1, slow.id()).await.unwrap();
    assert_eq!(cancelled.status, CommandStatus::Cancelled);
    assert!(cancelled.started_at.is_some() && cancelled.finished_at.is_some());
    assert!(!cancelled.console.unwrap().contains("done"));
    assert_eq!(
        follower.next_chunk().await,
        None,
        "the follower ends with the command"
    );

    let runs: Vec<_> = s
        .provider
        .stats()
        .runs
        .iter()
        .map(|(_, r)| r.action)
        .collect();
    assert_eq!(
        runs,
        [Action::Start, Action::RunScript],
        "the cancelled queued stop never ran"
    );
    let err = s.jeto.cancel(&s.admin, 1, slow.id()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    // The instance is free again.
    let (command, _) = s
        .jeto
        .run(&s.admin, 1, ActionRequest::new(Action::Stop))
        .await
        .unwrap();
    assert_eq!(command.status, CommandStatus::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_requests_start_nothing() {
    let s = setup(1, &["www"], Duration::ZERO, 2).await;
    for request in [
        ActionRequest::new(Action::RunScript).script("hello"),
        ActionRequest::new(Action::RunScript).on("www"),
        ActionRequest::new(Action::RunScript)
            .on("www")
            .script("undeclared"),
        ActionRequest::new(Action::Start).on("-f"),
        ActionRequest::new(Action::Start).on("a b"),
        ActionRequest::new(Action::Start).script("hello"),
    ] {
        let err = s
            .jeto
            .submit(&s.admin, 1, request.clone())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{request:?}");
    }
    assert!(s
        .jeto
        .commands(&s.admin, 1, Page::ALL)
        .await
        .unwrap()
        .is_empty());
    assert!(s.provider.stats().runs.is_empty());
    for bad in ["", &"x".repeat(129)] {
        let request = CreateInstance::from_path(bad, 1, "/x");
        assert_eq!(
            s.jeto
                .create_instance(&s.admin, request)
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidRequest
        );
    }
}

/// Builds a service over the data folder, as the server does at start.
async fn persistent(dir: &std::path::Path, provider: &InMemoryProvider) -> Jeto {
    let config = JetoConfig {
        data_dir: Some(dir.to_owned()),
        ..JetoConfig::default()
    };
    Jeto::builder(Arc::new(provider.clone()))
        .store(Arc::new(SqliteStore::open(dir).unwrap()))
        .config(config)
        .build()
        .await
        .unwrap()
}

/// A data folder with one instance (machine `default`, the test scripts) created by a first
/// service over it: the folder, the provider, that service and the instance id.
async fn persistent_instance() -> (tempfile::TempDir, InMemoryProvider, Jeto, u64) {
    let data = tempfile::tempdir().unwrap();
    let folder = data.path().join("project");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("Vagrantfile"), "").unwrap();
    std::fs::write(folder.join("jeto.json"), SCRIPTS).unwrap();
    let provider =
        InMemoryProvider::new().with_instance(folder.display().to_string(), &["default"]);
    let admin = Principal::admin("test");
    let first = persistent(data.path(), &provider).await;
    let host = first
        .create_host(&admin, Host::new("h", "memory"))
        .await
        .unwrap();
    let request = CreateInstance::from_path("p", host.id, folder.display().to_string());
    let id = first
        .create_instance(&admin, request)
        .await
        .unwrap()
        .instance
        .id;
    (data, provider, first, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_brings_running_commands_back_interrupted() {
    let (data, provider, first, id) = persistent_instance().await;
    let admin = Principal::admin("test");
    let (started, _) = first
        .run(&admin, id, ActionRequest::new(Action::Start))
        .await
        .unwrap();
    let (hello, _) = first
        .run(
            &admin,
            id,
            ActionRequest::new(Action::RunScript)
                .on("default")
                .script("hello"),
        )
        .await
        .unwrap();
    let slow = first
        .submit(
            &admin,
            id,
            ActionRequest::new(Action::RunScript)
                .on("default")
                .script("slow"),
        )
        .await
        .unwrap();
    slow.follow().unwrap().next_chunk().await;
    assert_eq!(slow.snapshot().status, CommandStatus::Running);
    first.shutdown(Duration::from_secs(5)).await;
    assert_eq!(
        first
            .submit(&admin, id, ActionRequest::new(Action::Stop))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Unavailable,
        "no new commands while shutting down"
    );

    let second = persistent(data.path(), &provider).await;
    let commands = second.commands(&admin, id, Page::ALL).await.unwrap();
    let by_id = |cid| commands.iter().find(|c| c.id == cid).unwrap().clone();
    assert_eq!(by_id(slow.id()).status, CommandStatus::Interrupted);
    let (jeto, who) = (&second, &admin);
    let console = |cid| async move {
        let command = jeto.command(who, id, cid).await.unwrap().snapshot();
        command.console.unwrap()
    };
    assert!(console(slow.id()).await.contains("started"));
    let hello_again = by_id(hello.id);
    assert_eq!(
        (hello_again.status, hello_again.exit_code),
        (CommandStatus::Succeeded, Some(0))
    );
    assert_eq!(console(hello.id).await, "hello\n");
    assert_eq!(by_id(started.id).status, CommandStatus::Succeeded);
    let (next, _) = second
        .run(&admin, id, ActionRequest::new(Action::Stop))
        .await
        .unwrap();
    assert!(next.id > slow.id(), "new ids never collide with old ones");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_while_running_is_seen_as_interrupted_after_restart() {
    let (data, provider, first, id) = persistent_instance().await;
    let admin = Principal::admin("test");
    first
        .run(&admin, id, ActionRequest::new(Action::Start))
        .await
        .unwrap();
    let slow = first
        .submit(
            &admin,
            id,
            ActionRequest::new(Action::RunScript)
                .on("default")
                .script("slow"),
        )
        .await
        .unwrap();
    slow.follow().unwrap().next_chunk().await;
    // No shutdown: what is on disk now is what a crash would leave.
    let second = persistent(data.path(), &provider).await;
    let command = second
        .command(&admin, id, slow.id())
        .await
        .unwrap()
        .snapshot();
    assert_eq!(command.status, CommandStatus::Interrupted);
    assert!(command.error.unwrap().message.contains("server stopped"));
}
