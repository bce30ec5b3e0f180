//! Behavioural checks that every [`Provider`] must pass (unstable API, behind `testing`).
//!
//! Each check is a free async function over `&dyn Provider` and a [`Fixture`] that names
//! instances the provider knows; [`run_all`] runs them in order. They panic with a message on
//! the first failed expectation, like assertions in a test.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use jeto_core::testing::{conformance, InMemoryProvider};
//! let provider = InMemoryProvider::new();
//! let fixture = conformance::Fixture::in_memory(&provider);
//! conformance::run_all(&provider, &fixture).await;
//! # });
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::{
    Action, ActionRequest, CheckedRequest, ConsoleSink, ErrorKind, Instance, InstanceSource,
    JetoInfos, Provider, Status,
};

/// The instances the checks run against. Their machines must start `not_created` or be
/// destroyable, and `jeto_infos` must declare the scripts of [`Fixture::scripts`].
#[derive(Debug, Clone)]
pub struct Fixture {
    /// An instance with the single machine `default`.
    pub single: Instance,
    /// An instance with the machines `www` and `db`, in that order.
    pub multi: Instance,
    /// An instance whose folder does not exist.
    pub missing: Instance,
    /// How many actions of the provider are still running (processes, tasks): the suite
    /// checks it falls back to zero when an action's future is dropped.
    pub running: RunningProbe,
}

/// Counts the actions a provider still runs; see [`Fixture::running`].
#[derive(Clone)]
pub struct RunningProbe(Arc<dyn Fn() -> usize + Send + Sync>);

impl RunningProbe {
    /// A probe calling `count`.
    pub fn new(count: impl Fn() -> usize + Send + Sync + 'static) -> Self {
        RunningProbe(Arc::new(count))
    }

    /// The count now.
    pub fn get(&self) -> usize {
        (self.0)()
    }
}

impl std::fmt::Debug for RunningProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RunningProbe({})", self.get())
    }
}

/// The console output the `hello` script must print.
pub const HELLO_OUTPUT: &str = "hello-from-jeto";
/// The line the `slow` script prints first, before it sleeps 30 seconds.
pub const SLOW_START: &str = "slow-start";

impl Fixture {
    /// The `jeto.json` the fixture instances must carry: `hello` prints [`HELLO_OUTPUT`], `fail`
    /// exits with code 3, `slow` prints [`SLOW_START`] then sleeps 30 seconds.
    pub fn scripts() -> JetoInfos {
        let value = json!({
            "team": "conformance",
            "scripts": {
                "hello": {"command": format!("echo {HELLO_OUTPUT}")},
                "fail": {"command": "echo failing; exit 3"},
                "slow": {"command": format!("echo {SLOW_START}; sleep 30; echo slow-end")}
            }
        });
        match value {
            serde_json::Value::Object(map) => map.into(),
            _ => unreachable!("a json! object literal"),
        }
    }

    /// A fixture whose instances are registered in `provider`.
    #[cfg(feature = "testing")]
    pub fn in_memory(provider: &crate::testing::memory::InMemoryProvider) -> Fixture {
        provider.add_instance("/memory/single", &["default"]);
        provider.add_instance("/memory/multi", &["www", "db"]);
        let counted = provider.clone();
        Fixture::at(
            "/memory/single",
            "/memory/multi",
            "/memory/missing",
            RunningProbe::new(move || counted.running()),
        )
    }

    /// A fixture over three folders, with the scripts of [`Fixture::scripts`].
    pub fn at(single: &str, multi: &str, missing: &str, running: RunningProbe) -> Fixture {
        let make = |id, path: &str| {
            let mut instance = crate::testing::memory::instance_at(id, path);
            instance.spec.jeto_infos = Fixture::scripts();
            instance
        };
        Fixture {
            single: make(1, single),
            multi: make(2, multi),
            missing: make(3, missing),
            running,
        }
    }
}

/// Runs every check in order.
pub async fn run_all(p: &dyn Provider, f: &Fixture) {
    check_status_lists_machines(p, f).await;
    check_lifecycle(p, f).await;
    check_machine_scoped_action(p, f).await;
    check_run_script(p, f).await;
    check_console_is_streamed(p, f).await;
    check_unknown_machine_fails(p, f).await;
    check_missing_folder(p, f).await;
    check_output_is_live_and_drop_stops(p, f).await;
    check_concurrent_status(p, f).await;
    check_failed_prepare_leaves_nothing(p, f).await;
}

async fn states(p: &dyn Provider, instance: &Instance) -> Vec<(String, String)> {
    p.status(instance)
        .await
        .unwrap_or_else(|e| panic!("status of {} failed: {e}", instance.spec.path))
        .into_iter()
        .map(|s| (s.name, s.status))
        .collect()
}

/// The request checked against `instance`; the suite only builds valid ones.
fn checked(instance: &Instance, request: ActionRequest) -> CheckedRequest {
    request
        .check(instance)
        .unwrap_or_else(|e| panic!("the suite's request {request:?} is invalid: {e}"))
}

async fn run_ok(p: &dyn Provider, instance: &Instance, request: ActionRequest) -> Vec<String> {
    let (sink, lines) = collecting_sink();
    let outcome = p
        .run(instance, &checked(instance, request.clone()), sink)
        .await
        .unwrap_or_else(|e| panic!("{request:?} on {} failed: {e}", instance.spec.path));
    let lines = lines.lock().unwrap().clone();
    assert!(
        outcome.is_success(),
        "{request:?} on {} ended {outcome:?}; console: {lines:?}",
        instance.spec.path
    );
    lines
}

fn collecting_sink() -> (ConsoleSink, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = ConsoleSink::new({
        let lines = lines.clone();
        move |line: &str| lines.lock().unwrap().push(line.to_owned())
    });
    (sink, lines)
}

fn pair(name: &str, state: &str) -> (String, String) {
    (name.to_owned(), state.to_owned())
}

/// `status` lists every machine in Vagrantfile order; a destroyed machine is `not_created`.
pub async fn check_status_lists_machines(p: &dyn Provider, f: &Fixture) {
    run_ok(p, &f.single, ActionRequest::new(Action::Destroy)).await;
    run_ok(p, &f.multi, ActionRequest::new(Action::Destroy)).await;
    assert_eq!(
        states(p, &f.single).await,
        vec![pair("default", "not_created")]
    );
    assert_eq!(
        states(p, &f.multi).await,
        vec![pair("www", "not_created"), pair("db", "not_created")]
    );
}

/// start, stop and destroy change the state, are idempotent, and `ip` follows the state.
pub async fn check_lifecycle(p: &dyn Provider, f: &Fixture) {
    let i = &f.single;
    run_ok(p, i, ActionRequest::new(Action::Start)).await;
    assert_eq!(states(p, i).await, vec![pair("default", Status::RUNNING)]);
    let ip = p.ip(i, "default").await.expect("ip of a running machine");
    assert!(ip.is_some(), "a running machine has an IP");
    run_ok(p, i, ActionRequest::new(Action::Start)).await;
    run_ok(p, i, ActionRequest::new(Action::Reload)).await;
    assert_eq!(states(p, i).await, vec![pair("default", Status::RUNNING)]);
    run_ok(p, i, ActionRequest::new(Action::Stop).on("default")).await;
    run_ok(p, i, ActionRequest::new(Action::Stop)).await;
    let state = states(p, i).await;
    assert_eq!(state.len(), 1);
    assert_ne!(state[0].1, Status::RUNNING, "stopped machine: {state:?}");
    assert_eq!(
        p.ip(i, "default").await.expect("ip of a stopped machine"),
        None
    );
    run_ok(p, i, ActionRequest::new(Action::Destroy)).await;
    run_ok(p, i, ActionRequest::new(Action::Destroy)).await;
    assert_eq!(states(p, i).await, vec![pair("default", "not_created")]);
}

/// An action with a machine touches only that machine.
pub async fn check_machine_scoped_action(p: &dyn Provider, f: &Fixture) {
    let i = &f.multi;
    run_ok(p, i, ActionRequest::new(Action::Start).on("www")).await;
    assert_eq!(
        states(p, i).await,
        vec![pair("www", Status::RUNNING), pair("db", "not_created")]
    );
    run_ok(p, i, ActionRequest::new(Action::Destroy)).await;
    assert_eq!(
        states(p, i).await,
        vec![pair("www", "not_created"), pair("db", "not_created")]
    );
}

/// runScript prints the script's output and reports its exit code (bad requests cannot be
/// checked, so they never reach the provider).
pub async fn check_run_script(p: &dyn Provider, f: &Fixture) {
    let i = &f.multi;
    run_ok(p, i, ActionRequest::new(Action::Start).on("www")).await;
    let lines = run_ok(
        p,
        i,
        ActionRequest::new(Action::RunScript)
            .on("www")
            .script("hello"),
    )
    .await;
    assert!(
        lines.iter().any(|l| l.contains(HELLO_OUTPUT)),
        "runScript hello printed {lines:?}"
    );
    let (sink, lines) = collecting_sink();
    let outcome = p
        .run(
            i,
            &checked(
                i,
                ActionRequest::new(Action::RunScript)
                    .on("www")
                    .script("fail"),
            ),
            sink,
        )
        .await
        .expect("a failing script is an outcome, not an error");
    assert_eq!(outcome.exit_code, 3, "console: {:?}", lines.lock().unwrap());
    for bad in [
        ActionRequest::new(Action::RunScript)
            .on("www")
            .script("undeclared"),
        ActionRequest::new(Action::RunScript).script("hello"),
        ActionRequest::new(Action::RunScript).on("www"),
        ActionRequest::new(Action::RunScript)
            .on("-f")
            .script("hello"),
    ] {
        // Such a request never reaches a provider: it cannot be checked.
        let err = bad
            .check(i)
            .expect_err("an invalid runScript must be rejected");
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{bad:?}: {err}");
    }
    run_ok(p, i, ActionRequest::new(Action::Destroy)).await;
}

/// The console sink receives output lines during a run.
pub async fn check_console_is_streamed(p: &dyn Provider, f: &Fixture) {
    let lines = run_ok(p, &f.single, ActionRequest::new(Action::Start)).await;
    assert!(!lines.is_empty(), "start printed nothing to the console");
    run_ok(p, &f.single, ActionRequest::new(Action::Destroy)).await;
}

/// An action on a machine the instance does not have is a failed outcome.
pub async fn check_unknown_machine_fails(p: &dyn Provider, f: &Fixture) {
    let outcome = p
        .run(
            &f.single,
            &checked(
                &f.single,
                ActionRequest::new(Action::Start).on("nosuchmachine"),
            ),
            ConsoleSink::discard(),
        )
        .await;
    match outcome {
        Ok(outcome) => assert!(
            !outcome.is_success(),
            "start on an unknown machine succeeded"
        ),
        Err(e) => assert_ne!(e.kind(), ErrorKind::Internal, "{e}"),
    }
}

/// A missing folder is an error naming the folder, for status, run and prepare.
pub async fn check_missing_folder(p: &dyn Provider, f: &Fixture) {
    let i = &f.missing;
    let err = p.status(i).await.expect_err("status of a missing folder");
    assert!(err.to_string().contains(&i.spec.path), "{err}");
    let err = p
        .run(
            i,
            &checked(i, ActionRequest::new(Action::Start)),
            ConsoleSink::discard(),
        )
        .await
        .expect_err("start in a missing folder");
    assert!(err.to_string().contains(&i.spec.path), "{err}");
    let err = p
        .prepare(
            &i.host,
            &InstanceSource::Path(i.spec.path.clone().into()),
            "/nonexistent-target".as_ref(),
        )
        .await
        .expect_err("prepare of a missing folder");
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
}

/// Output reaches the sink while the action runs (not when it ends), and dropping the action's
/// future stops it: [`Fixture::running`] falls back to zero.
pub async fn check_output_is_live_and_drop_stops(p: &dyn Provider, f: &Fixture) {
    let i = &f.single;
    run_ok(p, i, ActionRequest::new(Action::Start)).await;
    let before = f.running.get();
    let (sender, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    let sink = ConsoleSink::new(move |line: &str| {
        let _ = sender.send(line.to_owned());
    });
    let request = checked(
        i,
        ActionRequest::new(Action::RunScript)
            .on("default")
            .script("slow"),
    );
    {
        let run = p.run(i, &request, sink);
        tokio::pin!(run);
        let started = async {
            while let Some(line) = lines.recv().await {
                if line.contains(SLOW_START) {
                    return;
                }
            }
            std::future::pending::<()>().await
        };
        tokio::select! {
            outcome = &mut run => panic!(
                "the slow script ended ({outcome:?}) before its first line reached the sink: \
                 output must be passed on while the action runs, not buffered until it ends"
            ),
            () = started => {}
            () = tokio::time::sleep(Duration::from_secs(45)) => panic!(
                "no `{SLOW_START}` line on the console within 45 s of starting the slow script"
            ),
        }
        assert!(
            f.running.get() > before,
            "the probe counts no running action while the slow script runs"
        );
        // The future is dropped here, mid-sleep.
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while f.running.get() > before && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        f.running.get(),
        before,
        "dropping a running action's future must stop it (kill its process); it still runs 15 s later"
    );
    run_ok(p, i, ActionRequest::new(Action::Destroy)).await;
}

/// Status and IP calls at the same time on one instance all give the same, right answer.
pub async fn check_concurrent_status(p: &dyn Provider, f: &Fixture) {
    let i = &f.multi;
    run_ok(p, i, ActionRequest::new(Action::Start).on("www")).await;
    let expected = vec![pair("www", Status::RUNNING), pair("db", "not_created")];
    let (a, b, c, d) = tokio::join!(states(p, i), states(p, i), states(p, i), states(p, i));
    for seen in [a, b, c, d] {
        assert_eq!(seen, expected, "concurrent status calls disagree");
    }
    let (www, db) = tokio::join!(p.ip(i, "www"), p.ip(i, "db"));
    assert!(www.expect("ip of www").is_some(), "running www has an IP");
    assert_eq!(db.expect("ip of db"), None, "db is not created");
    run_ok(p, i, ActionRequest::new(Action::Destroy)).await;
}

/// A `prepare` that fails leaves nothing at its target.
pub async fn check_failed_prepare_leaves_nothing(p: &dyn Provider, f: &Fixture) {
    let parent = std::env::temp_dir().join(format!(
        "jeto-conformance-{}-{}",
        std::process::id(),
        PREPARE_RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&parent).expect("a temporary folder");
    let target = parent.join("target");
    let unreachable = [
        InstanceSource::Git {
            url: format!("file://{}/no-such-repository.git", parent.display()),
            reference: "main".into(),
        },
        InstanceSource::Archive {
            url: "http://127.0.0.1:9/no-such-archive.tar.gz".into(),
            sha256: None,
        },
    ];
    for source in unreachable {
        let result = p.prepare(&f.single.host, &source, &target).await;
        assert!(
            result.is_err(),
            "prepare of {source:?} succeeded: {result:?}"
        );
        assert!(
            !target.exists(),
            "a failed prepare of {source:?} left {} behind",
            target.display()
        );
    }
    let _ = std::fs::remove_dir_all(&parent);
}

static PREPARE_RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
