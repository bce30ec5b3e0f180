//! Creating instances from git through the service: what lands on disk and in the store, on
//! success, on failure, async, and on delete. Real git, real vagrant (test plugin).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jeto_core::access::{Permission, Principal};
use jeto_core::service::CreateInstance;
use jeto_core::store::{SqliteStore, Store};
use jeto_core::Host;
use jeto_core::{Action, CommandStatus, ErrorKind, Jeto, JetoConfig};
use jeto_vagrant::fixture::{git, FakeVagrant};
use jeto_vagrant::VagrantProvider;

struct Setup {
    jeto: Jeto,
    store: Arc<SqliteStore>,
    data: tempfile::TempDir,
    url: String,
    host: u64,
    _fake: FakeVagrant,
}

/// A repository whose Vagrantfile loads the test plugin, and a service over a data folder.
async fn setup() -> Setup {
    let fake = FakeVagrant::new();
    let repo = fake.root().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    let plugin = fake.root().join("plugin/jeto_fake");
    std::fs::write(
        repo.join("Vagrantfile"),
        format!("require {:?}\nVagrant.configure(\"2\") do |c|\n  c.vm.communicator = :jeto_fake\n  c.vm.synced_folder \".\", \"/vagrant\", disabled: true\nend\n", plugin.display().to_string()),
    )
    .unwrap();
    std::fs::write(
        repo.join("jeto.json"),
        r#"{"scripts": {"hello": {"command": "echo hi"}}}"#,
    )
    .unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "one"]);
    let data = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(data.path()).unwrap());
    let jeto = Jeto::builder(Arc::new(VagrantProvider::new(fake.config())))
        .store(store.clone())
        .config(JetoConfig {
            data_dir: Some(data.path().to_owned()),
            ..JetoConfig::default()
        })
        .build()
        .await
        .unwrap();
    let host = jeto
        .create_host(&Principal::admin("t"), Host::new("fake", "jeto_fake"))
        .await
        .unwrap()
        .id;
    Setup {
        jeto,
        store,
        url: format!("file://{}", repo.display()),
        data,
        host,
        _fake: fake,
    }
}

fn git_request(s: &Setup, reference: &str) -> CreateInstance {
    CreateInstance {
        name: "From Git!".into(),
        host: s.host,
        git_url: Some(s.url.clone()),
        git_reference: Some(reference.into()),
        ..Default::default()
    }
}

fn instance_folders(s: &Setup) -> Vec<String> {
    std::fs::read_dir(s.data.path().join("instances"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_instance_lives_in_the_data_folder_and_goes_with_delete() {
    let s = setup().await;
    let admin = Principal::admin("t");
    let view = s
        .jeto
        .create_instance(&admin, git_request(&s, "main"))
        .await
        .unwrap();
    let id = view.instance.id;
    assert_eq!(instance_folders(&s), [format!("{id}-from-git")]);
    assert_eq!(view.instance.spec.git_reference.as_deref(), Some("main"));
    assert_eq!(
        view.instance.spec.jeto_infos.script("hello"),
        Some("echo hi")
    );
    let (command, _) = s
        .jeto
        .run(&admin, id, jeto_core::ActionRequest::new(Action::Sync))
        .await
        .unwrap();
    assert_eq!(
        command.status,
        CommandStatus::Succeeded,
        "{}",
        command.console.as_deref().unwrap_or_default()
    );
    let deleted = s.jeto.delete_instance(&admin, id, false).await.unwrap();
    assert_eq!(
        deleted.status,
        CommandStatus::Succeeded,
        "{}",
        deleted.console.as_deref().unwrap_or_default()
    );
    assert!(
        instance_folders(&s).is_empty(),
        "the Jeto-made folder is removed"
    );
    assert!(s.store.instances().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_clone_leaves_nothing_on_disk_or_in_the_store() {
    let s = setup().await;
    let err = s
        .jeto
        .create_instance(&Principal::admin("t"), git_request(&s, "no-such-branch"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert!(err.to_string().contains("no-such-branch"), "{err}");
    assert!(
        instance_folders(&s).is_empty(),
        "{:?}",
        instance_folders(&s)
    );
    assert!(s.store.instances().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_creation_clones_in_a_command_and_cleans_up_on_failure() {
    let s = setup().await;
    let admin = Principal::admin("t");
    let (view, handle) = s
        .jeto
        .create_instance_async(&admin, git_request(&s, "main"))
        .await
        .unwrap();
    let command = handle.wait().await;
    assert_eq!(
        (command.action, command.status),
        (Action::Sync, CommandStatus::Succeeded),
        "{}",
        command.console.as_deref().unwrap_or_default()
    );
    assert!(Path::new(&view.instance.spec.path)
        .join("Vagrantfile")
        .exists());

    let (failed, handle) = s
        .jeto
        .create_instance_async(&admin, git_request(&s, "nope"))
        .await
        .unwrap();
    let command = handle.wait().await;
    assert_eq!(command.status, CommandStatus::Failed);
    assert!(
        command
            .console
            .as_deref()
            .unwrap_or_default()
            .contains("nope"),
        "the console says why: {}",
        command.console.as_deref().unwrap_or_default()
    );
    let gone = async {
        while s
            .store
            .instance(failed.instance.id)
            .await
            .unwrap()
            .is_some()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), gone)
        .await
        .expect("the failed instance is removed");
    assert!(!Path::new(&failed.instance.spec.path).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_admin_keys_may_not_clone_local_repositories() {
    let s = setup().await;
    let mut user = Principal::tenant("user");
    user.hosts.insert(s.host);
    user.actions = Some([Permission::Create].into());
    let err = s
        .jeto
        .create_instance(&user, git_request(&s, "main"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden, "{err}");
    assert!(instance_folders(&s).is_empty());
}
