//! End to end without HTTP: the jeto-core service over the real vagrant CLI (test plugin),
//! persisted in a data folder, as an embedder would run it.

use std::sync::Arc;
use std::time::Duration;

use jeto_core::access::Principal;
use jeto_core::service::CreateInstance;
use jeto_core::store::SqliteStore;
use jeto_core::Host;
use jeto_core::{Action, ActionRequest, CommandStatus, Jeto, JetoConfig};
use jeto_vagrant::fixture::FakeVagrant;
use jeto_vagrant::{VagrantConfig, VagrantProvider};

async fn service(fake: &FakeVagrant, data: &std::path::Path) -> Jeto {
    let config = VagrantConfig {
        binary: fake.counting_binary(),
        ..fake.config()
    };
    Jeto::builder(Arc::new(VagrantProvider::new(config)))
        .store(Arc::new(SqliteStore::open(data).unwrap()))
        .config(JetoConfig {
            data_dir: Some(data.to_owned()),
            ..JetoConfig::default()
        })
        .build()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_fresh_status_reads_share_one_vagrant_process() {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let jeto = service(&fake, data.path()).await;
    let me = Principal::admin("test");
    let host = jeto
        .create_host(&me, Host::new("fake", "jeto_fake"))
        .await
        .unwrap();
    let request = CreateInstance::from_path("web", host.id, fake.multi().display().to_string());
    let id = jeto
        .create_instance(&me, request)
        .await
        .unwrap()
        .instance
        .id;
    let reads: Vec<_> = (0..20)
        .map(|_| {
            let (jeto, me) = (jeto.clone(), me.clone());
            tokio::spawn(async move { jeto.instance(&me, id, Some(Duration::ZERO)).await.unwrap() })
        })
        .collect();
    for read in reads {
        assert_eq!(read.await.unwrap().instance.status.len(), 2);
    }
    let calls = fake.calls();
    assert_eq!(
        calls.iter().filter(|c| c.contains("status")).count(),
        1,
        "{calls:?}"
    );
    assert_eq!(
        calls.len(),
        1,
        "no IP lookups for machines that are not running: {calls:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_and_their_console_survive_a_restart() {
    let fake = FakeVagrant::new();
    let data = tempfile::tempdir().unwrap();
    let me = Principal::admin("test");
    let (id, script_id) = {
        let jeto = service(&fake, data.path()).await;
        let host = jeto
            .create_host(&me, Host::new("fake", "jeto_fake"))
            .await
            .unwrap();
        let request =
            CreateInstance::from_path("single", host.id, fake.single().display().to_string());
        let id = jeto
            .create_instance(&me, request)
            .await
            .unwrap()
            .instance
            .id;
        let (started, view) = jeto
            .run(&me, id, ActionRequest::new(Action::Start))
            .await
            .unwrap();
        assert_eq!(
            started.status,
            CommandStatus::Succeeded,
            "{}",
            started.console.as_deref().unwrap_or_default()
        );
        assert_eq!(view.instance.status[0].status, "running");
        let (script, _) = jeto
            .run(
                &me,
                id,
                ActionRequest::new(Action::RunScript)
                    .on("default")
                    .script("hello"),
            )
            .await
            .unwrap();
        assert_eq!(script.console.as_deref(), Some("hello-from-jeto\n"));
        jeto.shutdown(Duration::from_secs(5)).await;
        (id, script.id)
    };
    let jeto = service(&fake, data.path()).await;
    let script = jeto.command(&me, id, script_id).await.unwrap().snapshot();
    assert_eq!(
        (script.status, script.exit_code),
        (CommandStatus::Succeeded, Some(0))
    );
    assert_eq!(script.console.as_deref(), Some("hello-from-jeto\n"));
    let view = jeto.instance(&me, id, Some(Duration::ZERO)).await.unwrap();
    assert_eq!(
        view.instance.status[0].status, "running",
        "vagrant's own state is read again"
    );
    assert_eq!(view.instance.status[0].ip.as_deref(), Some("192.0.2.10"));
}
