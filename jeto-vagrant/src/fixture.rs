//! The test fixture: a Ruby provider plugin (`jeto_fake`) that Vagrant loads from the
//! Vagrantfile, so the real `vagrant` CLI runs with no hypervisor (feature `fixture`).
//!
//! Machine states live in files under each machine's data dir; `vagrant ssh -c` runs the
//! command locally. Knobs are environment variables of the vagrant process (set them as host
//! params): `JETO_FAKE_UP=slow|fail|hang`, `JETO_FAKE_SSH_HOST`, `JETO_FAKE_IPS`,
//! `JETO_FAKE_PIDFILE`. See `tests/fixture/plugin/jeto_fake.rb`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use jeto_core::{Host, HostParams, Instance, InstanceSpec, JetoInfos};

use crate::VagrantConfig;

const PLUGIN: &str = include_str!("../tests/fixture/plugin/jeto_fake.rb");
const SINGLE: &str = include_str!("../tests/fixture/single/Vagrantfile");
const MULTI: &str = include_str!("../tests/fixture/multi/Vagrantfile");
const JETO_JSON: &str = include_str!("../tests/fixture/single/jeto.json");

/// A temporary folder holding the plugin, a single-machine and a multi-machine instance, and a
/// private `VAGRANT_HOME`. Everything is removed on drop.
#[derive(Debug)]
pub struct FakeVagrant {
    dir: tempfile::TempDir,
}

/// Runs `git ARGS` in `dir` with a throwaway identity and `main` as the default branch;
/// panics with git's message (or how to install git) when it fails.
pub fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=jeto-tests",
            "-c",
            "user.email=tests@example.org",
        ])
        .args(["-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git is installed (apt-get install -y git)");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Panics with the fix when `vagrant` cannot be run: tests need the real CLI, never skip.
pub fn require_vagrant() {
    let found = Command::new("vagrant")
        .arg("--version")
        .env("VAGRANT_CHECKPOINT_DISABLE", "1")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "these tests run the real `vagrant` CLI, which is not on PATH: install it with \
         `apt-get install -y vagrant` (Debian's package, no hypervisor needed)"
    );
}

impl FakeVagrant {
    /// Lays out the fixture in a new temporary folder (and checks that vagrant is installed).
    pub fn new() -> FakeVagrant {
        require_vagrant();
        let dir = tempfile::tempdir().expect("temporary folder");
        let root = dir.path();
        for (path, content) in [
            ("plugin/jeto_fake.rb", PLUGIN),
            ("single/Vagrantfile", SINGLE),
            ("single/jeto.json", JETO_JSON),
            ("multi/Vagrantfile", MULTI),
            ("multi/jeto.json", JETO_JSON),
        ] {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).expect("fixture folder");
            std::fs::write(&path, content).expect("fixture file");
        }
        std::fs::create_dir_all(root.join("vagrant-home")).expect("VAGRANT_HOME");
        FakeVagrant { dir }
    }

    /// The root of the fixture.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The single-machine instance folder (machine `default`).
    pub fn single(&self) -> PathBuf {
        self.root().join("single")
    }

    /// The multi-machine instance folder (machines `www` and `db`).
    pub fn multi(&self) -> PathBuf {
        self.root().join("multi")
    }

    /// Another single-machine instance folder, `<root>/<name>` (one folder holds one
    /// instance, so tests that need several make more).
    pub fn another_single(&self, name: &str) -> PathBuf {
        let folder = self.root().join(name);
        std::fs::create_dir_all(&folder).expect("fixture folder");
        std::fs::write(folder.join("Vagrantfile"), SINGLE).expect("fixture file");
        std::fs::write(folder.join("jeto.json"), JETO_JSON).expect("fixture file");
        folder
    }

    /// A git repository at `at` (branch `main`, one commit) holding the Vagrantfile of the
    /// fixture folder `from` (`single()` or `multi()`), rewritten to load the plugin from this
    /// fixture by absolute path so it works wherever the repository is cloned.
    pub fn git_repository(&self, at: &Path, from: &Path) {
        std::fs::create_dir_all(at).expect("repository folder");
        let vagrantfile = std::fs::read_to_string(from.join("Vagrantfile"))
            .expect("fixture Vagrantfile")
            .replace(
                "require_relative \"../plugin/jeto_fake\"",
                &format!(
                    "require {:?}",
                    self.root().join("plugin/jeto_fake").display().to_string()
                ),
            );
        std::fs::write(at.join("Vagrantfile"), vagrantfile).expect("repository Vagrantfile");
        git(at, &["init", "-q", "-b", "main"]);
        git(at, &["add", "."]);
        git(at, &["commit", "-q", "-m", "one"]);
    }

    /// A config whose processes use this fixture's `VAGRANT_HOME`, with short kill grace.
    pub fn config(&self) -> VagrantConfig {
        let mut config = VagrantConfig {
            kill_grace_secs: 2,
            ..VagrantConfig::default()
        };
        config.env.insert(
            "VAGRANT_HOME".into(),
            self.root().join("vagrant-home").display().to_string(),
        );
        config
    }

    /// A `vagrant` wrapper that logs each call (one line of arguments) to
    /// [`calls_log`](FakeVagrant::calls_log) and then runs the real one: set it as the
    /// configured binary to count the vagrant processes a test starts.
    pub fn counting_binary(&self) -> PathBuf {
        let path = self.root().join("vagrant-counting");
        let script = format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec vagrant \"$@\"\n",
            self.calls_log().display()
        );
        std::fs::write(&path, script).expect("wrapper");
        let mut permissions = std::fs::metadata(&path).expect("wrapper").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        std::fs::set_permissions(&path, permissions).expect("wrapper mode");
        path
    }

    /// Where [`counting_binary`](FakeVagrant::counting_binary) logs its calls.
    pub fn calls_log(&self) -> PathBuf {
        self.root().join("vagrant-calls.log")
    }

    /// The vagrant calls made through the counting wrapper so far, one line of arguments each.
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.calls_log())
            .map(|text| text.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// Runs the real `vagrant ARGS` directly (no Jeto) in `folder`, with this fixture's
    /// environment and the `jeto_fake` provider; panics when it fails. The baseline of benches.
    pub fn run_vagrant(&self, folder: &Path, args: &[&str]) -> std::process::Output {
        let out = Command::new("vagrant")
            .args(args)
            .current_dir(folder)
            .envs(&self.config().env)
            .env("VAGRANT_DEFAULT_PROVIDER", "jeto_fake")
            .output()
            .expect("vagrant runs");
        assert!(
            out.status.success(),
            "vagrant {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Writes a box for the `jeto_fake` provider (a gzipped tar holding its
    /// `metadata.json`) under the fixture root, for `vagrant box add`.
    pub fn box_file(&self, file_name: &str) -> PathBuf {
        let path = self.root().join(file_name);
        let file = std::fs::File::create(&path).expect("the box file");
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::fast(),
        ));
        let metadata = br#"{"provider": "jeto_fake"}"#;
        let mut header = tar::Header::new_gnu();
        header.set_size(metadata.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, "metadata.json", &metadata[..])
            .expect("the box's metadata");
        tar.into_inner()
            .and_then(|gz| gz.finish())
            .expect("the box written");
        path
    }

    /// A host on the `jeto_fake` provider with these params.
    pub fn host(params: &[(&str, &str)]) -> Host {
        Host {
            id: 1,
            name: "fake".into(),
            provider: "jeto_fake".into(),
            params: params.iter().copied().collect::<HostParams>(),
        }
    }

    /// An instance over `folder` with its `jeto.json` loaded.
    pub fn instance(id: u64, folder: &Path, host: Host) -> Instance {
        let mut spec = InstanceSpec::new(
            folder.file_name().unwrap().to_string_lossy(),
            folder.display().to_string(),
        );
        spec.environment = "test".into();
        spec.jeto_infos = JetoInfos::load(folder).unwrap_or_default();
        Instance::new(id, spec, host)
    }
}

impl Default for FakeVagrant {
    fn default() -> Self {
        FakeVagrant::new()
    }
}

/// What [`serve`] answers with a `302` to `location` instead of a file.
pub fn redirect(location: &str) -> Vec<u8> {
    [REDIRECT, location.as_bytes()].concat()
}

const REDIRECT: &[u8] = b"\0redirect\0";

/// Serves `files` (by name) over HTTP/1.0 on a loopback port; returns the base URL and a count
/// of the requests received. Bodies have no Content-Length, so size caps must hold while reading.
/// A file made by [`redirect`] is a redirect.
pub async fn serve(
    files: std::collections::HashMap<String, Vec<u8>>,
) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = requests.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let files = Arc::new(files);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let files = files.clone();
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut request = vec![0u8; 4096];
                let n = stream.read(&mut request).await.unwrap_or(0);
                let line = String::from_utf8_lossy(&request[..n])
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                let path = line
                    .split(' ')
                    .nth(1)
                    .unwrap_or("/")
                    .trim_start_matches('/')
                    .to_owned();
                let response = match files.get(&path) {
                    Some(body) if body.starts_with(REDIRECT) => [
                        b"HTTP/1.0 302 Found\r\nLocation: ".as_slice(),
                        &body[REDIRECT.len()..],
                        b"\r\n\r\n",
                    ]
                    .concat(),
                    // No Content-Length: the size cap must hold while reading, not from a header.
                    Some(body) => [b"HTTP/1.0 200 OK\r\n\r\n".as_slice(), body].concat(),
                    None => b"HTTP/1.0 404 Not Found\r\n\r\n".to_vec(),
                };
                let _ = stream.write_all(&response).await;
            });
        }
    });
    (format!("http://{address}"), requests)
}

/// A tar.gz of (name, content) files; names are written raw, so `..` and `/x` can be tested.
pub fn tar_gz(entries: &[(&str, &[u8])], links: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (name, content) in entries {
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        builder.append(&header, *content).unwrap();
    }
    for (name, target) in links {
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
        header.set_size(0);
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_cksum();
        builder.append(&header, std::io::empty()).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// The image the docker-provider tests boot: built (once per machine) from Debian packages by
/// `tests/docker/image.sh`; its tag. Panics with the script's words and the fix when docker,
/// debootstrap or the daemon is missing: such tests never skip.
pub fn docker_image() -> String {
    static IMAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    IMAGE.get_or_init(build_docker_image).clone()
}

fn build_docker_image() -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/docker/image.sh");
    let out = Command::new(&script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "the docker tests need a docker daemon and a local image ({}): {}\nfix: apt-get install -y docker.io debootstrap rsync, start dockerd (`.ci/run` does both)",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A free TCP port on 127.0.0.1 (for a machine's SSH port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on loopback")
}

/// A Vagrantfile for Vagrant's docker provider on `image`: one machine per `(name, ssh port)`,
/// SSH published on 127.0.0.1 only, the folder synced to `/vagrant` with rsync, and a shell
/// provisioner running `provision`.
pub fn docker_vagrantfile(image: &str, machines: &[(&str, u16)], provision: &str) -> String {
    let machines: Vec<String> = machines
        .iter()
        .map(|(name, port)| format!("[{name:?}, {port}]"))
        .collect();
    format!(
        r#"Vagrant.configure("2") do |config|
  config.ssh.insert_key = false
  config.vm.synced_folder ".", "/vagrant", type: "rsync", rsync__exclude: [".vagrant/"]
  [{machines}].each do |name, port|
    config.vm.define name do |m|
      m.vm.provider "docker" do |d|
        d.image = {image:?}
        d.has_ssh = true
      end
      m.vm.network :forwarded_port, guest: 22, host: port, host_ip: "127.0.0.1", id: "ssh"
      m.ssh.host = "127.0.0.1"
      m.ssh.port = port
      m.vm.provision "shell", inline: {provision:?}
    end
  end
end
"#,
        machines = machines.join(", ")
    )
}

/// A Vagrantfile for Vagrant's docker provider on `image` with these machines and nothing
/// else: no SSH, no synced folder, no provisioner (for tests that only read and change states).
pub fn docker_vagrantfile_without_ssh(image: &str, machines: &[&str]) -> String {
    format!(
        r#"Vagrant.configure("2") do |config|
  config.vm.synced_folder ".", "/vagrant", disabled: true
  {machines:?}.each do |name|
    config.vm.define name do |m|
      m.vm.provider "docker" do |d|
        d.image = {image:?}
        d.has_ssh = false
      end
    end
  end
end
"#
    )
}

/// The docker container of a machine of the instance in `folder`, as Vagrant recorded it.
pub fn docker_container(folder: &Path, machine: &str) -> Option<String> {
    std::fs::read_to_string(folder.join(format!(".vagrant/machines/{machine}/docker/id")))
        .ok()
        .map(|id| id.trim().to_owned())
}

/// `docker ARGS`: its standard output, or `None` when it fails.
pub fn docker(args: &[&str]) -> Option<String> {
    let out = Command::new("docker").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
