//! Issue 28: archives are downloaded by Jeto's own HTTP client, with no `curl` (nor any other
//! program) on PATH: redirects are followed and checked hop by hop (a redirect to `file://` or
//! to another scheme is refused, as is a sixth redirect), and a body larger than the limit is
//! cut and refused with nothing left. One test in this binary: it empties PATH for the process.

use std::collections::HashMap;
use std::path::PathBuf;

use jeto_core::{InstanceSource, Provider};
use jeto_vagrant::fixture::{redirect, serve, tar_gz, FakeVagrant};
use jeto_vagrant::{VagrantConfig, VagrantProvider};

fn files_under(dir: &std::path::Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn downloads_need_no_curl_and_check_every_redirect() {
    // Nothing can be spawned from PATH: a download that needed curl would fail.
    let empty = tempfile::tempdir().unwrap();
    std::env::set_var("PATH", empty.path());
    let archive = tar_gz(&[("Vagrantfile", b"# downloaded\n")], &[]);
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), "not for tenants").unwrap();
    let mut files = HashMap::from([
        ("a.tar.gz".to_owned(), archive),
        ("big.bin".to_owned(), vec![7u8; 200 * 1024]),
        (
            "to-file".to_owned(),
            redirect(&format!("file://{}", secret.path().display())),
        ),
        ("to-ftp".to_owned(), redirect("ftp://127.0.0.1/a.tar.gz")),
        (
            "to-gopher".to_owned(),
            redirect("gopher://127.0.0.1:70/a.tar.gz"),
        ),
        ("hop0".to_owned(), redirect("/a.tar.gz")),
        ("loop0".to_owned(), redirect("/loop1")),
    ]);
    for hop in 1..=6 {
        files.insert(format!("hop{hop}"), redirect(&format!("/hop{}", hop - 1)));
        files.insert(format!("loop{hop}"), redirect(&format!("/loop{}", hop + 1)));
    }
    let (base, _) = serve(files).await;
    let provider = VagrantProvider::new(VagrantConfig {
        archive_max_bytes: 64 * 1024,
        ..VagrantConfig::default()
    });
    let host = FakeVagrant::host(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let source = |name: &str| InstanceSource::Archive {
        url: format!("{base}/{name}"),
        sha256: None,
    };

    // Five redirects (hop4 to hop0, then the archive) are followed.
    let folder = provider
        .prepare(&host, &source("hop4"), &tmp.path().join("five"))
        .await
        .expect("five redirects, then the archive");
    assert_eq!(
        std::fs::read(folder.join("Vagrantfile")).unwrap(),
        b"# downloaded\n"
    );

    let refused = tmp.path().join("refused");
    std::fs::create_dir_all(&refused).unwrap();
    for (name, expected) in [
        ("to-file", "a redirect to file://"),
        ("to-ftp", "a redirect to ftp://"),
        ("to-gopher", "a redirect to gopher://"),
        ("hop5", "more than 5 redirects"),
        ("loop0", "more than 5 redirects"),
        ("big.bin", "archive_max_bytes"),
        ("missing", "404"),
    ] {
        let target = refused.join("target");
        let error = provider
            .prepare(&host, &source(name), &target)
            .await
            .expect_err(name);
        let said = error.to_string();
        assert!(said.contains(expected), "{name}: {said}");
        assert!(!said.contains("curl"), "{name}: {said}");
        assert!(!said.contains("not for tenants"), "{name}: {said}");
        assert!(!target.exists(), "{name}: the target was left");
        assert_eq!(
            files_under(&refused),
            Vec::<PathBuf>::new(),
            "{name}: files were left"
        );
    }
}
