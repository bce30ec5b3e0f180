//! Instance folders from git (a local repository made here) and from archives (served by a
//! loopback HTTP server started here), through `VagrantProvider::prepare` and `sync`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use jeto_core::{Action, ActionRequest, ConsoleSink, ErrorKind, InstanceSource, Provider};
use jeto_vagrant::fixture::{git, serve, tar_gz, FakeVagrant};
use jeto_vagrant::{VagrantConfig, VagrantProvider};
use sha2::{Digest, Sha256};

/// A repository with `main` (tagged `v1.0`) and `feature`, each with its own `which` file.
fn repository(root: &Path) -> String {
    let repo = root.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    std::fs::write(repo.join("Vagrantfile"), "# test\n").unwrap();
    std::fs::write(repo.join("which"), "main\n").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "main"]);
    git(&repo, &["tag", "v1.0"]);
    git(&repo, &["checkout", "-qb", "feature"]);
    std::fs::write(repo.join("which"), "feature\n").unwrap();
    git(&repo, &["commit", "-qam", "feature"]);
    git(&repo, &["checkout", "-q", "main"]);
    std::fs::write(repo.join("which"), "main after the tag\n").unwrap();
    git(&repo, &["commit", "-qam", "main 2"]);
    format!("file://{}", repo.display())
}

fn provider() -> VagrantProvider {
    VagrantProvider::new(VagrantConfig {
        archive_max_bytes: 64 * 1024,
        archive_max_extracted_bytes: 256 * 1024,
        ..VagrantConfig::default()
    })
}

fn which(folder: &Path) -> String {
    std::fs::read_to_string(folder.join("which")).unwrap()
}

#[tokio::test]
async fn clone_at_branch_tag_and_tags_prefix() {
    let tmp = tempfile::tempdir().unwrap();
    let url = repository(tmp.path());
    let p = provider();
    for (reference, expected) in [
        ("main", "main after the tag\n"),
        ("feature", "feature\n"),
        ("v1.0", "main\n"),
        ("tags/v1.0", "main\n"),
    ] {
        let target = tmp
            .path()
            .join(format!("clone-{}", reference.replace('/', "-")));
        let source = InstanceSource::Git {
            url: url.clone(),
            reference: reference.into(),
        };
        let folder = p
            .prepare(&FakeVagrant::host(&[]), &source, &target)
            .await
            .unwrap_or_else(|e| panic!("{reference}: {e}"));
        assert_eq!(which(&folder), expected, "{reference}");
    }
}

#[tokio::test]
async fn a_missing_reference_fails_clearly_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let url = repository(tmp.path());
    let target = tmp.path().join("clone");
    let source = InstanceSource::Git {
        url,
        reference: "nope".into(),
    };
    let err = provider()
        .prepare(&FakeVagrant::host(&[]), &source, &target)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    let message = err.to_string();
    assert!(
        message.contains("nope") && message.contains("not found"),
        "{message}"
    );
    assert!(!target.exists(), "a failed clone left {}", target.display());
}

#[tokio::test]
async fn sync_picks_up_a_new_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let url = repository(tmp.path());
    let p = provider();
    let target = tmp.path().join("clone");
    let folder = p
        .prepare(
            &FakeVagrant::host(&[]),
            &InstanceSource::Git {
                url: url.clone(),
                reference: "main".into(),
            },
            &target,
        )
        .await
        .unwrap();
    let repo = tmp.path().join("repo");
    std::fs::write(repo.join("which"), "newer\n").unwrap();
    git(&repo, &["commit", "-qam", "newer"]);
    std::fs::write(folder.join("which"), "local change is reset\n").unwrap();
    let mut instance = FakeVagrant::instance(1, &folder, FakeVagrant::host(&[]));
    instance.spec.git_url = Some(url);
    instance.spec.git_reference = Some("main".into());
    let outcome = p
        .run(
            &instance,
            &(ActionRequest::new(Action::Sync)).check(&instance).unwrap(),
            ConsoleSink::discard(),
        )
        .await
        .unwrap();
    assert!(outcome.is_success(), "{outcome:?}");
    assert_eq!(which(&folder), "newer\n");
    // A path instance has nothing to sync from.
    instance.spec.git_url = None;
    instance.spec.git_reference = None;
    let err = p
        .run(
            &instance,
            &(ActionRequest::new(Action::Sync)).check(&instance).unwrap(),
            ConsoleSink::discard(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
}

/// Serves fixed bodies on loopback, one request per connection.
fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, content) in entries {
        writer
            .start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        writer.write_all(content).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            out.push(entry.path());
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(files_under(&entry.path()));
            }
        }
    }
    out
}

#[tokio::test]
async fn archives_with_and_without_a_top_folder() {
    let vagrantfile: &[u8] = b"# from an archive\n";
    let files = HashMap::from([
        (
            "flat.tar.gz".to_owned(),
            tar_gz(&[("Vagrantfile", vagrantfile), ("jeto.json", b"{}")], &[]),
        ),
        (
            "top.tgz".to_owned(),
            tar_gz(
                &[
                    ("project/Vagrantfile", vagrantfile),
                    ("project/sub/x", b"x"),
                ],
                &[],
            ),
        ),
        ("flat.zip".to_owned(), zip(&[("Vagrantfile", vagrantfile)])),
        (
            "top.zip".to_owned(),
            zip(&[
                ("project/Vagrantfile", vagrantfile),
                ("project/sub/x", b"x"),
            ]),
        ),
        // The type comes from the content, not from the name.
        (
            "misnamed.zip".to_owned(),
            tar_gz(&[("Vagrantfile", vagrantfile)], &[]),
        ),
    ]);
    let base = serve(files).await.0;
    let tmp = tempfile::tempdir().unwrap();
    for name in [
        "flat.tar.gz",
        "top.tgz",
        "flat.zip",
        "top.zip",
        "misnamed.zip",
    ] {
        let target = tmp.path().join(name.replace('.', "-"));
        let source = InstanceSource::Archive {
            url: format!("{base}/{name}"),
            sha256: None,
        };
        let folder = provider()
            .prepare(&FakeVagrant::host(&[]), &source, &target)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            std::fs::read(folder.join("Vagrantfile")).unwrap(),
            vagrantfile,
            "{name}"
        );
        if name.starts_with("top") {
            assert_eq!(
                std::fs::read(folder.join("sub/x")).unwrap(),
                b"x",
                "{name}: flattened"
            );
        }
    }
    let leftovers: Vec<_> = files_under(tmp.path())
        .into_iter()
        .filter(|p| {
            p.to_string_lossy().contains(".download") || p.to_string_lossy().contains(".extracting")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn hostile_archives_are_rejected_and_nothing_is_written_outside() {
    let ok: &[u8] = b"# ok\n";
    let big = vec![b'x'; 300 * 1024];
    let files = HashMap::from([
        (
            "slip.tar.gz".to_owned(),
            tar_gz(&[("Vagrantfile", ok), ("../evil-slip", b"evil")], &[]),
        ),
        (
            "absolute.tar.gz".to_owned(),
            tar_gz(
                &[("Vagrantfile", ok), ("/tmp/jeto-evil-absolute", b"evil")],
                &[],
            ),
        ),
        (
            "link.tar.gz".to_owned(),
            tar_gz(&[("Vagrantfile", ok)], &[("escape", "../../outside")]),
        ),
        (
            "abs-link.tar.gz".to_owned(),
            tar_gz(&[("Vagrantfile", ok)], &[("escape", "/etc")]),
        ),
        (
            "slip.zip".to_owned(),
            zip(&[("Vagrantfile", ok), ("../evil-zip-slip", b"evil")]),
        ),
        (
            "bomb.tar.gz".to_owned(),
            tar_gz(&[("Vagrantfile", ok), ("big", &big)], &[]),
        ),
        ("huge.bin".to_owned(), vec![0u8; 128 * 1024]),
        ("not-an-archive".to_owned(), b"hello".to_vec()),
        (
            "no-vagrantfile.tar.gz".to_owned(),
            tar_gz(&[("README", ok)], &[]),
        ),
    ]);
    let base = serve(files).await.0;
    let tmp = tempfile::tempdir().unwrap();
    let instances = tmp.path().join("instances");
    std::fs::create_dir_all(&instances).unwrap();
    for (name, expected) in [
        ("slip.tar.gz", "outside its folder"),
        ("absolute.tar.gz", "outside its folder"),
        ("link.tar.gz", "points outside"),
        ("abs-link.tar.gz", "absolute path"),
        ("slip.zip", "outside its folder"),
        ("bomb.tar.gz", "archive_max_extracted_bytes"),
        ("huge.bin", "archive_max_bytes"),
        ("not-an-archive", "not a .tar.gz"),
        ("no-vagrantfile.tar.gz", "has no Vagrantfile"),
        ("missing.tar.gz", "404"),
    ] {
        let target = instances.join("target");
        let source = InstanceSource::Archive {
            url: format!("{base}/{name}"),
            sha256: None,
        };
        let err = provider()
            .prepare(&FakeVagrant::host(&[]), &source, &target)
            .await
            .expect_err(name);
        assert!(err.to_string().contains(expected), "{name}: {err}");
        assert!(!target.exists(), "{name}: the target was left behind");
        assert_eq!(
            files_under(&instances),
            Vec::<PathBuf>::new(),
            "{name}: files were left behind"
        );
    }
    assert!(
        !tmp.path().join("evil-slip").exists() && !Path::new("/tmp/jeto-evil-absolute").exists()
    );
    assert!(!tmp.path().join("evil-zip-slip").exists());
}

#[tokio::test]
async fn sha256_is_checked_before_extraction() {
    let archive = tar_gz(&[("Vagrantfile", b"# ok\n")], &[]);
    let good = hex::encode(Sha256::digest(&archive));
    let base = serve(HashMap::from([("a.tar.gz".to_owned(), archive)]))
        .await
        .0;
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("{base}/a.tar.gz");
    let wrong = InstanceSource::Archive {
        url: url.clone(),
        sha256: Some("0".repeat(64)),
    };
    let err = provider()
        .prepare(&FakeVagrant::host(&[]), &wrong, &tmp.path().join("bad"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("SHA-256") && err.to_string().contains(&good),
        "{err}"
    );
    assert!(!tmp.path().join("bad").exists());
    let right = InstanceSource::Archive {
        url,
        sha256: Some(good.to_uppercase()),
    };
    assert!(provider()
        .prepare(&FakeVagrant::host(&[]), &right, &tmp.path().join("good"))
        .await
        .is_ok());
}
