//! VagrantProvider through a canned ProcessRunner: the argv and environment it builds, and how
//! it reads output, with no vagrant process.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use jeto_core::{Action, ActionRequest, ConsoleSink, ErrorKind, Provider};
use jeto_vagrant::fixture::FakeVagrant;
use jeto_vagrant::runner::LineCallback;
use jeto_vagrant::{ProcessEnd, ProcessRunner, ProcessSpec, VagrantConfig, VagrantProvider};

#[derive(Debug, Default)]
struct Canned {
    output: Vec<&'static str>,
    exit: i32,
    seen: Mutex<Vec<ProcessSpec>>,
}

#[async_trait]
impl ProcessRunner for Canned {
    async fn run(
        &self,
        spec: &ProcessSpec,
        on_line: LineCallback<'_>,
    ) -> std::io::Result<ProcessEnd> {
        self.seen.lock().unwrap().push(spec.clone());
        self.output.iter().for_each(|l| on_line(l));
        Ok(ProcessEnd::Exited(self.exit))
    }
}

#[tokio::test]
async fn argv_and_environment_of_a_script_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Vagrantfile"), "").unwrap();
    std::fs::write(
        dir.path().join("jeto.json"),
        r#"{"team": "web", "scripts": {"deploy": {"command": "make deploy"}}}"#,
    )
    .unwrap();
    let runner = Arc::new(Canned {
        output: vec![
            "1,www,action,ssh_run,start",
            "deploying",
            "1,www,action,ssh_run,end",
        ],
        ..Canned::default()
    });
    let mut config = VagrantConfig::default();
    config.env.insert("BASE".into(), "1".into());
    let provider = VagrantProvider::with_runner(config, runner.clone());
    let host = FakeVagrant::host(&[("VSPHERE_HOST", "vc")]);
    let instance = FakeVagrant::instance(9, dir.path(), host);
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = ConsoleSink::new({
        let lines = lines.clone();
        move |l: &str| lines.lock().unwrap().push(l.to_owned())
    });
    let request = ActionRequest::new(Action::RunScript)
        .on("www")
        .script("deploy");
    assert!(provider
        .run(&instance, &(request).check(&instance).unwrap(), sink)
        .await
        .unwrap()
        .is_success());
    assert_eq!(*lines.lock().unwrap(), ["deploying"]);

    let spec = runner.seen.lock().unwrap()[0].clone();
    assert_eq!(spec.program, std::path::Path::new("vagrant"));
    assert_eq!(spec.args[..3], ["--machine-readable", "ssh", "www"]);
    // One argument: the instance's values exported (as octal escapes only), then the script.
    let command = spec.args[3].to_str().unwrap();
    assert_eq!(
        command,
        "--command=ENVIRONMENT=\"$(printf '\\164\\145\\163\\164_')\"; ENVIRONMENT=\"${ENVIRONMENT%_}\"; export ENVIRONMENT; \
         JETO_TEAM=\"$(printf '\\167\\145\\142_')\"; JETO_TEAM=\"${JETO_TEAM%_}\"; export JETO_TEAM; make deploy"
    );
    assert_eq!(spec.cwd, dir.path());
    let mut env: Vec<_> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    // Last, the Ruby hook every Jeto vagrant process loads (Vagrant's name-as-id lookup).
    let hook = env.pop().unwrap();
    assert!(
        hook.starts_with("RUBYOPT=-r") && hook.ends_with("jeto_whole_ids.rb"),
        "{hook}"
    );
    assert_eq!(
        env,
        [
            "BASE=1",
            "VAGRANT_CHECKPOINT_DISABLE=1",
            "ENVIRONMENT=test",
            "VAGRANT_DEFAULT_PROVIDER=jeto_fake",
            "VSPHERE_HOST=vc",
            "JETO_TEAM=web",
        ]
    );
}

#[tokio::test]
async fn a_rejected_request_spawns_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Vagrantfile"), "").unwrap();
    let runner = Arc::new(Canned::default());
    let provider = VagrantProvider::with_runner(VagrantConfig::default(), runner.clone());
    let instance = FakeVagrant::instance(1, dir.path(), FakeVagrant::host(&[]));
    for request in [
        ActionRequest::new(Action::Start).on("-f"),
        ActionRequest::new(Action::Start).on("--help"),
        ActionRequest::new(Action::Start).on("a b"),
        ActionRequest::new(Action::Start).on("a\0b"),
        ActionRequest::new(Action::RunScript)
            .on("www")
            .script("undeclared"),
        ActionRequest::new(Action::RunScript).script("x"),
    ] {
        // Such a request cannot be checked, so no provider is ever handed one.
        let error = request.check(&instance).expect_err("an invalid request");
        assert_eq!(error.kind(), ErrorKind::InvalidRequest, "{request:?}");
    }
    // Reads that take a machine name check it before spawning anything.
    for machine in ["-f", "--help", "a b", "a\0b"] {
        assert!(
            provider.ip(&instance, machine).await.is_err(),
            "{machine:?}"
        );
        assert!(
            provider.machine(&instance, machine).await.is_err(),
            "{machine:?}"
        );
    }
    assert!(runner.seen.lock().unwrap().is_empty());
}
