//! [`VagrantProvider`]: jeto-core's [`Provider`] over the `vagrant` CLI.

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use jeto_core::{
    check_vagrant_folder, validate, Action, ActionRequest, BoxInfo, CheckedRequest, CommandError,
    ConsoleSink, GlobalMachine, Host, Instance, InstanceSource, MachineDetails, MachineSnapshots,
    Outcome, Provider, ProviderError, Status, ToolInfo,
};

use crate::fast_states::{FastStates, FACT_RECORD};
use crate::folder_queue::FolderQueue;
use crate::machine_info::{forwarded_ports, snapshot_lists, ssh_details};
use crate::machine_readable::{console_text, parse_line, statuses, Line, Record, RunSummary};
use crate::process_records::ProcessRecords;
use crate::runner::{ProcessEnd, ProcessRunner, ProcessSpec, TokioProcessRunner};
use crate::{archive, folder_safety, git};
use crate::{Error, VagrantConfig};
use jeto_core::SshDetails;

/// How many lines of output an error keeps for context.
const TAIL_LINES: usize = 20;
/// How many bytes of each of those lines.
const TAIL_LINE_BYTES: usize = 1024;
/// The most records or raw lines kept from one run for the caller to read.
const MAX_KEPT: usize = 10_000;

/// What of a run's output is kept for the caller to read (beyond the console, the error and
/// its context): only what the call reads, so memory stays bounded whatever vagrant prints.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Keep {
    /// Nothing: the console has it.
    Nothing,
    /// Records of these types.
    Records(&'static [&'static str]),
    /// Raw (non-record) lines.
    Raw,
}

/// What a vagrant process is for, which says how it is run.
#[derive(Debug, Clone, Copy)]
enum Call {
    /// A read-only call: repeated when Vagrant finds the machine locked.
    Read,
    /// An action; `report` loads the state report, `repeatable` says whether a run Vagrant
    /// refused because the machine was locked may be tried again (see [`LOCKED_RETRY`]).
    Action { report: bool, repeatable: bool },
}

/// The waits before each new try of a call Vagrant refused with `MachineLocked` (5 s in all).
///
/// Every vagrant process that reads a machine's state takes that machine's entry in Vagrant's
/// global index for a moment, and a second process doing the same at that moment fails at
/// once with "Vagrant can't use the requested machine because it is locked!" (it never
/// waits). A status read of a folder while an action runs there is thus refused now and then,
/// or makes the action fail before it starts; trying again a moment later is what a person
/// would do.
const LOCKED_RETRY: [std::time::Duration; 5] = [
    std::time::Duration::from_millis(200),
    std::time::Duration::from_millis(400),
    std::time::Duration::from_millis(800),
    std::time::Duration::from_millis(1600),
    std::time::Duration::from_millis(2000),
];

/// Whether `end`/`collected` is Vagrant refusing because the machine's index entry is locked.
fn machine_locked(end: ProcessEnd, collected: &Collected) -> bool {
    end != ProcessEnd::Exited(0)
        && collected
            .summary
            .error_exit
            .as_ref()
            .and_then(|e| e.class.as_deref())
            == Some("Vagrant::Errors::MachineLocked")
}

/// Runs instances with the real `vagrant` CLI, one process per call, arguments as argv (never a
/// shell), in the instance folder, with `--machine-readable` output parsed as it streams.
///
/// ```no_run
/// # async fn demo(instance: jeto_core::Instance) -> Result<(), Box<dyn std::error::Error>> {
/// use jeto_core::{Action, ActionRequest, ConsoleSink, Provider};
/// use jeto_vagrant::{VagrantConfig, VagrantProvider};
///
/// let vagrant = VagrantProvider::new(VagrantConfig::default());
/// let start = ActionRequest::new(Action::Start).on("www").check(&instance)?;
/// let outcome = vagrant
///     .run(&instance, &start, ConsoleSink::new(|l| println!("{l}")))
///     .await?;
/// println!("exit code {}; machines: {:?}", outcome.exit_code, vagrant.status(&instance).await?);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct VagrantProvider {
    config: VagrantConfig,
    runner: Arc<dyn ProcessRunner>,
    report: Option<Arc<StateReport>>,
    reads: Arc<FolderQueue>,
    fast: Arc<FastStates>,
}

/// The Ruby files Jeto loads into vagrant processes, in a private temporary folder that lives
/// as long as the provider: `src/ruby/jeto_report.rb` makes an action's process print the
/// machines' state as it exits; `src/ruby/jeto_whole_ids.rb` keeps Vagrant from taking a machine
/// name made of hex letters ("db") for the id of another machine.
#[derive(Debug)]
struct StateReport {
    _dir: tempfile::TempDir,
    /// The `RUBYOPT` option that loads the report (actions only).
    option: String,
    /// The `RUBYOPT` option that loads the whole-id lookup (every process).
    whole_ids: String,
    /// The `RUBYOPT` option that loads the batch reader (batched status reads).
    batch: String,
}

impl StateReport {
    fn new() -> Option<StateReport> {
        let dir = tempfile::Builder::new()
            .prefix("jeto-report")
            .tempdir()
            .ok()?;
        let write = |name: &str, text: &str| -> Option<String> {
            let path = dir.path().join(name);
            std::fs::write(&path, text).ok()?;
            let path = path.to_str()?;
            // RUBYOPT is split on whitespace: a path with a space cannot be loaded this way.
            (!path.contains(char::is_whitespace)).then(|| format!("-r{path}"))
        };
        let option = write("jeto_report.rb", include_str!("ruby/jeto_report.rb"))?;
        let whole_ids = write("jeto_whole_ids.rb", include_str!("ruby/jeto_whole_ids.rb"))?;
        let batch = write("jeto_batch.rb", include_str!("ruby/jeto_batch.rb"))?;
        Some(StateReport {
            option,
            whole_ids,
            batch,
            _dir: dir,
        })
    }
}

/// What one vagrant run produced, folded as it streamed.
#[derive(Debug, Default)]
pub(crate) struct Collected {
    pub(crate) records: Vec<Record>,
    pub(crate) raw: Vec<String>,
    pub(crate) summary: RunSummary,
    pub(crate) tail: Vec<String>,
}

impl VagrantProvider {
    /// A provider spawning real processes.
    pub fn new(config: VagrantConfig) -> Self {
        let runner = Self::tokio_runner(&config, None);
        Self::with_runner(config, Arc::new(runner))
    }

    fn tokio_runner(
        config: &VagrantConfig,
        records: Option<Arc<ProcessRecords>>,
    ) -> TokioProcessRunner {
        TokioProcessRunner {
            kill_grace: std::time::Duration::from_secs(config.kill_grace_secs),
            max_line: config.max_line_bytes.max(1024),
            records,
        }
    }

    /// A provider running processes through `runner` (e.g. canned output in tests).
    pub fn with_runner(config: VagrantConfig, runner: Arc<dyn ProcessRunner>) -> Self {
        VagrantProvider {
            config,
            runner,
            report: StateReport::new().map(Arc::new),
            reads: Arc::default(),
            fast: Arc::default(),
        }
    }

    /// The same provider, spawning real processes whose groups are recorded in `records`
    /// while they run (see [`ProcessRecords`]), so a crash leaves none behind.
    pub fn with_records(self, records: Arc<ProcessRecords>) -> Self {
        let runner = Self::tokio_runner(&self.config, Some(records.clone()));
        VagrantProvider {
            runner: Arc::new(runner),
            ..self
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &VagrantConfig {
        &self.config
    }

    /// The environment of every vagrant process of `instance`, lowest precedence first.
    pub fn environment(&self, instance: &Instance) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self.config.env.clone().into_iter().collect();
        env.push(("ENVIRONMENT".into(), instance.spec.environment.clone()));
        env.push((
            "VAGRANT_DEFAULT_PROVIDER".into(),
            instance.host.provider.clone(),
        ));
        env.extend(
            instance
                .host
                .params
                .iter()
                .map(|(k, v)| (k.into(), v.into())),
        );
        env.extend(instance.spec.jeto_infos.env_vars());
        env
    }

    /// The vagrant arguments for an action (after `--machine-readable`).
    pub fn arguments(request: &ActionRequest, script_command: Option<&str>) -> Vec<OsString> {
        let mut args: Vec<OsString> = match request.action {
            Action::Start => vec!["up".into()],
            Action::Stop => vec!["halt".into()],
            Action::Status => vec!["status".into()],
            Action::Reload => vec!["reload".into()],
            Action::Rsync => vec!["rsync".into()],
            Action::Provision => vec!["provision".into()],
            Action::Suspend => vec!["suspend".into()],
            Action::Resume => vec!["resume".into()],
            Action::Destroy => vec!["destroy".into(), "--force".into()],
            Action::RunScript => vec!["ssh".into()],
            Action::Validate => vec!["validate".into()],
            Action::SnapshotSave => vec!["snapshot".into(), "save".into()],
            Action::SnapshotRestore => vec!["snapshot".into(), "restore".into()],
            Action::SnapshotDelete => vec!["snapshot".into(), "delete".into()],
            // Action is non_exhaustive; a new action needs its own arguments here.
            #[allow(unreachable_patterns)]
            _ => vec![request.action.as_str().into()],
        };
        if let Some(machine) = &request.machine {
            args.push(machine.into());
        }
        if let (true, Some(name)) = (request.action.is_snapshot(), &request.snapshot) {
            // After the machine: `snapshot save [MACHINE] NAME`. Names are checked and never
            // start with '-'.
            args.push(name.into());
        }
        if request.force && request.action == Action::Stop {
            args.push("--force".into());
        }
        match request.provision {
            Some(true) => args.push("--provision".into()),
            Some(false) => args.push("--no-provision".into()),
            None => {}
        }
        if !request.provision_with.is_empty() {
            // Names are checked ([A-Za-z0-9_.-]), so the comma list is exactly these names.
            args.push("--provision-with".into());
            args.push(request.provision_with.join(",").into());
        }
        if let Some(command) = script_command {
            // One argv element: a command starting with `-` can never be read as an option.
            // (Not `--no-tty`: vagrant takes that as its global option and drops machine-readable
            // output, and with it the error-exit record.)
            args.push(format!("--command={command}").into());
        }
        args
    }

    /// Runs `vagrant --machine-readable ARGS` in the instance folder.
    async fn vagrant(
        &self,
        instance: &Instance,
        args: Vec<OsString>,
        timeout: std::time::Duration,
        console: Option<&ConsoleSink>,
        keep: Keep,
        call: Call,
    ) -> Result<(ProcessEnd, Collected), ProviderError> {
        let repeatable = match call {
            Call::Read => true,
            Call::Action { repeatable, .. } => repeatable,
        };
        let mut waits = LOCKED_RETRY.iter();
        loop {
            let (end, collected) = self
                .vagrant_once(instance, args.clone(), timeout, console, keep, call)
                .await?;
            let wait = match waits.next() {
                Some(wait) if repeatable && machine_locked(end, &collected) => wait,
                _ => return Ok((end, collected)),
            };
            tracing::info!(
                instance = instance.id,
                folder = %instance.folder().display(),
                "vagrant found the machine locked by another vagrant process; trying again in {wait:?}"
            );
            if let Some(console) = console {
                console.line(&format!(
                    "[jeto] another vagrant process held the machine; trying again in {} ms",
                    wait.as_millis()
                ));
            }
            tokio::time::sleep(*wait).await;
        }
    }

    /// One `vagrant --machine-readable ARGS` process in the instance folder.
    async fn vagrant_once(
        &self,
        instance: &Instance,
        args: Vec<OsString>,
        timeout: std::time::Duration,
        console: Option<&ConsoleSink>,
        keep: Keep,
        call: Call,
    ) -> Result<(ProcessEnd, Collected), ProviderError> {
        let report = matches!(call, Call::Action { report: true, .. });
        check_vagrant_folder(instance.folder())?;
        let mut env = self.environment(instance);
        if let Some(hooks) = &self.report {
            let mut options = hooks.whole_ids.clone();
            if report {
                options = format!("{options} {}", hooks.option);
                env.push(("JETO_REPORT".into(), "1".into()));
            }
            with_ruby_options(&mut env, &options);
        }
        self.spawn(instance.folder(), env, args, timeout, console, keep)
            .await
    }

    /// How to reach a machine: its first routable IP and its SSH details, from one
    /// `ssh-config` (and, when that names loopback as with a NAT'd virtualbox machine, the
    /// machine's own `hostname -I`). A machine whose SSH is not ready has neither.
    async fn reach(
        &self,
        instance: &Instance,
        machine: &str,
    ) -> Result<(Option<String>, Option<SshDetails>), ProviderError> {
        validate::machine_name(machine).map_err(|e| ProviderError::invalid(e.to_string()))?;
        let _turn = self.reads.turn(instance.folder()).await;
        let timeout = self.config.status_timeout();
        let args = vec!["ssh-config".into(), machine.into()];
        let (end, collected) = self
            .vagrant(
                instance,
                args,
                timeout,
                None,
                Keep::Records(&["ssh-config"]),
                Call::Read,
            )
            .await?;
        if end != ProcessEnd::Exited(0) {
            let not_ready = collected
                .summary
                .error_exit
                .as_ref()
                .and_then(|e| e.class.as_deref())
                .is_some_and(|class| class.ends_with("SSHNotReady"));
            return if not_ready {
                Ok((None, None))
            } else {
                Err(Self::failed(instance, Action::Status, end, collected))
            };
        }
        let ssh = ssh_details(&collected.records);
        if let Some(ip) = ssh.as_ref().and_then(|s| first_routable(&s.host)) {
            return Ok((Some(ip), ssh));
        }
        // Loopback (a NAT'd machine, as with virtualbox): ask the machine itself.
        let request = ActionRequest::new(Action::RunScript).on(machine);
        let args = Self::arguments(&request, Some("hostname -I"));
        let (end, collected) = self
            .vagrant(instance, args, timeout, None, Keep::Raw, Call::Read)
            .await?;
        if end != ProcessEnd::Exited(0) {
            return Err(Self::failed(instance, Action::Status, end, collected));
        }
        Ok((
            collected.raw.iter().find_map(|line| first_routable(line)),
            ssh,
        ))
    }

    /// A read-only call (status, ssh-config, port, snapshot list) in its folder's turn (see
    /// [`FolderQueue`]), keeping the records of `kinds`.
    async fn read(
        &self,
        instance: &Instance,
        args: Vec<OsString>,
        kinds: &'static [&'static str],
    ) -> Result<(ProcessEnd, Collected), ProviderError> {
        let _turn = self.reads.turn(instance.folder()).await;
        let timeout = self.config.status_timeout();
        self.vagrant(
            instance,
            args,
            timeout,
            None,
            Keep::Records(kinds),
            Call::Read,
        )
        .await
    }

    /// Runs `vagrant --machine-readable ARGS` in `cwd` with `env`, collecting what `keep`
    /// says and passing console text to `console`.
    pub(crate) async fn spawn(
        &self,
        cwd: &std::path::Path,
        env: Vec<(String, String)>,
        args: Vec<OsString>,
        timeout: std::time::Duration,
        console: Option<&ConsoleSink>,
        keep: Keep,
    ) -> Result<(ProcessEnd, Collected), ProviderError> {
        let sub_command = args
            .first()
            .map(|a| a.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut argv: Vec<OsString> = vec!["--machine-readable".into()];
        argv.extend(args);
        let spec = ProcessSpec {
            program: self.config.binary.clone(),
            args: argv,
            cwd: cwd.to_owned(),
            env,
            timeout,
        };
        let collected = Mutex::new(Collected::default());
        let on_line = |raw: &str| {
            let line = parse_line(raw);
            let text = console_text(raw, &line);
            if let (Some(console), Some(text)) = (console, &text) {
                for part in text.lines() {
                    console.line(part);
                }
            }
            let mut c = collected.lock().unwrap_or_else(|e| e.into_inner());
            c.summary.observe(&line);
            if let Some(mut text) = text {
                if text.len() > TAIL_LINE_BYTES {
                    let mut cut = TAIL_LINE_BYTES;
                    while !text.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    text.truncate(cut);
                }
                c.tail.push(text);
                if c.tail.len() > TAIL_LINES {
                    c.tail.remove(0);
                }
            }
            match (keep, line) {
                (Keep::Records(kinds), Line::Record(record))
                    if c.records.len() < MAX_KEPT && kinds.contains(&record.kind.as_str()) =>
                {
                    c.records.push(record)
                }
                (Keep::Raw, Line::Raw(text)) if c.raw.len() < MAX_KEPT => c.raw.push(text),
                _ => {}
            }
        };
        tracing::debug!(cwd = %spec.cwd.display(), args = ?spec.args, "running vagrant");
        let end = self.runner.run(&spec, &on_line).await.map_err(|source| {
            let binary = spec.program.clone();
            if source.kind() == std::io::ErrorKind::NotFound {
                Error::BinaryNotFound { binary, source }
            } else {
                Error::Spawn {
                    binary,
                    cwd: spec.cwd.clone(),
                    source,
                }
            }
        })?;
        let collected = collected.into_inner().unwrap_or_else(|e| e.into_inner());
        if end == ProcessEnd::TimedOut {
            return Err(Error::Timeout {
                command: sub_command,
                cwd: spec.cwd,
                after: timeout,
            }
            .into());
        }
        Ok((end, collected))
    }

    /// Turns a failed run of a read-only command into an error with Vagrant's words.
    fn failed(
        instance: &Instance,
        action: Action,
        end: ProcessEnd,
        collected: Collected,
    ) -> ProviderError {
        let exit_code = match end {
            ProcessEnd::Exited(code) => Some(code),
            _ => None,
        };
        ProviderError::Failed {
            instance: format!("{} ({})", instance.id, instance.spec.path),
            action,
            exit_code,
            error: collected
                .summary
                .error()
                .unwrap_or_else(|| CommandError::message(describe(end))),
            output_tail: collected.tail.join("\n"),
        }
    }
}

impl VagrantProvider {
    /// `sync`: bring the folder to its source, making it when it is missing.
    async fn sync(&self, instance: &Instance, console: &ConsoleSink) -> Result<(), ProviderError> {
        let folder = instance.folder();
        let missing = !folder.exists();
        match (&instance.spec.git_url, &instance.spec.git_reference, &instance.spec.archive_url) {
            (Some(url), Some(reference), _) if missing => {
                git::clone(&self.config, self.runner.as_ref(), url, reference, folder, console).await?
            }
            (Some(url), Some(reference), _) => {
                git::sync(&self.config, self.runner.as_ref(), url, reference, folder, console).await?
            }
            (_, _, Some(url)) if missing => {
                archive::prepare(&self.config, url, instance.spec.archive_sha256.as_deref(), folder, console).await?
            }
            (_, _, Some(_)) => console.line("archive instances are extracted once; nothing to sync"),
            _ => {
                return Err(ProviderError::invalid(format!(
                    "sync needs an instance created from git or an archive; instance {} was registered from a path",
                    instance.id
                )))
            }
        }
        // Also after a fetch: a new commit may bring a link that escapes.
        Self::require_vagrantfile(folder)?;
        Ok(())
    }

    /// A folder Jeto made must be a Vagrant project that keeps to itself (see
    /// [`folder_safety`]); otherwise it is removed.
    fn require_vagrantfile(folder: &Path) -> Result<(), ProviderError> {
        check_vagrant_folder(folder)
            .and_then(|()| folder_safety::check(folder))
            .inspect_err(|_| {
                let _ = std::fs::remove_dir_all(folder);
            })
    }
}

fn describe(end: ProcessEnd) -> String {
    match end {
        ProcessEnd::Exited(code) => format!("vagrant exited with code {code}"),
        ProcessEnd::Signaled(signal) => format!("vagrant was killed by signal {signal}"),
        ProcessEnd::TimedOut => "vagrant timed out".into(),
    }
}

/// What `vagrant ssh -c` runs in the machine for a declared script: the instance's
/// `ENVIRONMENT` and `JETO_*` values exported, then the script. The values never appear as shell
/// text: each byte is an octal escape that `printf` turns back into the byte in the machine (a
/// trailing `_` keeps trailing newlines), so no value can close a quote or start a command.
/// Names are `[A-Z0-9_]` by construction.
fn remote_script(instance: &Instance, command: &str) -> String {
    let mut script = String::new();
    let vars = std::iter::once(("ENVIRONMENT".to_owned(), instance.spec.environment.clone()))
        .chain(instance.spec.jeto_infos.env_vars());
    for (name, value) in vars {
        if !name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            continue;
        }
        let octal: String = value
            .bytes()
            .filter(|b| *b != 0)
            .map(|b| format!("\\{b:03o}"))
            .collect();
        script.push_str(&format!(
            "{name}=\"$(printf '{octal}_')\"; {name}=\"${{{name}%_}}\"; export {name}; "
        ));
    }
    script.push_str(command);
    script
}

/// The machines' state as an action's vagrant process reported it when it exited (see
/// `ruby/jeto_report.rb`), with the IP of running ones: the SSH host when it is routable, else
/// the first routable address the machine reported. `None` when nothing was reported.
fn state_after(records: &[crate::machine_readable::Record]) -> Option<Vec<Status>> {
    let mut machines = statuses(records);
    if machines.is_empty() {
        return None;
    }
    for machine in machines.iter_mut().filter(|m| m.is_running()) {
        let of = |kind: &str| {
            records
                .iter()
                .rev()
                .find(|r| r.target == machine.name && r.kind == kind)
                .and_then(|r| r.value())
                .and_then(first_routable)
        };
        // A running machine whose address did not come along: read the usual way.
        machine.ip = Some(of("jeto-ssh-host").or_else(|| of("jeto-addresses"))?);
    }
    Some(machines)
}

/// Adds `options` (Jeto's Ruby files to load) in front of the `RUBYOPT` the process would get
/// otherwise (the config's, or this process's own).
fn with_ruby_options(env: &mut Vec<(String, String)>, options: &str) {
    let existing = env
        .iter()
        .rev()
        .find(|(k, _)| k == "RUBYOPT")
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var("RUBYOPT").ok())
        .unwrap_or_default();
    env.push((
        "RUBYOPT".into(),
        format!("{options} {existing}").trim_end().to_owned(),
    ));
}

/// The first non-loopback address among whitespace-separated words.
fn first_routable(text: &str) -> Option<String> {
    text.split_whitespace()
        .filter_map(|word| word.parse::<IpAddr>().ok())
        .find(|ip| !ip.is_loopback() && !ip.is_unspecified())
        .map(|ip| ip.to_string())
}

/// Instances read in one vagrant process at most (more are read in several).
const BATCH_MAX: usize = 50;

impl VagrantProvider {
    /// The states of `instances` (one host's; one or more) in one vagrant process: `vagrant status` in the
    /// first folder, and the others through Vagrant's API in the same process (see
    /// `ruby/jeto_batch.rb`), each with its own environment. An instance the batch did not
    /// answer for is read on its own.
    async fn batch_statuses(
        &self,
        instances: &[Instance],
        hooks: &StateReport,
    ) -> Vec<Result<Vec<Status>, ProviderError>> {
        let Some((first, rest)) = instances.split_first() else {
            return Vec::new();
        };
        // What each folder's state depends on, taken before Vagrant reads it.
        let keys: Vec<Option<u64>> = instances
            .iter()
            .map(|i| FastStates::folder_key(i.folder(), &self.environment(i)))
            .collect();
        let entries: Vec<serde_json::Value> = rest
            .iter()
            .map(|instance| {
                let env: std::collections::BTreeMap<String, String> =
                    self.environment(instance).into_iter().collect();
                serde_json::json!({ "path": instance.folder(), "env": env })
            })
            .collect();
        let file = match tempfile::NamedTempFile::new() {
            Ok(file) => file,
            Err(_) => return self.one_by_one(instances).await,
        };
        if std::fs::write(file.path(), serde_json::Value::from(entries).to_string()).is_err()
            || check_vagrant_folder(first.folder()).is_err()
        {
            return self.one_by_one(instances).await;
        }
        let mut env = self.environment(first);
        with_ruby_options(&mut env, &format!("{} {}", hooks.whole_ids, hooks.batch));
        env.push(("JETO_BATCH".into(), file.path().display().to_string()));
        let _turn = self.reads.turn(first.folder()).await;
        // Each further folder costs a fraction of a process; bounded all the same.
        let timeout = self.config.status_timeout() * 2;
        let spawned = self
            .spawn(
                first.folder(),
                env,
                vec!["status".into()],
                timeout,
                None,
                Keep::Records(&["state", "provider-name", "metadata", "error", FACT_RECORD]),
            )
            .await;
        let (end, collected) = match spawned {
            Ok(done) => done,
            Err(_) => return self.one_by_one(instances).await,
        };
        let mut answers = Vec::with_capacity(instances.len());
        let own: Vec<_> = collected
            .records
            .iter()
            .filter(|r| !r.target.starts_with("jeto-batch-"))
            .cloned()
            .collect();
        answers.push(if end == ProcessEnd::Exited(0) {
            self.fast.learn(first.folder(), keys[0], &own);
            Ok(statuses(&own))
        } else {
            self.status(first).await
        });
        for (index, instance) in rest.iter().enumerate() {
            let prefix = format!("jeto-batch-{}", index + 1);
            let mine: Vec<_> = collected
                .records
                .iter()
                .filter_map(|r| {
                    let machine = r.target.strip_prefix(&prefix)?.strip_prefix('/')?;
                    let mut record = r.clone();
                    record.target = machine.to_owned();
                    Some(record)
                })
                .collect();
            let failed = collected
                .records
                .iter()
                .find(|r| r.target == prefix && r.kind == "error")
                .map(|r| r.data.join(","));
            answers.push(match (failed, mine.is_empty()) {
                (Some(why), _) => Err(ProviderError::other(
                    format!(
                        "reading the state of instance {} ({})",
                        instance.id,
                        instance.folder().display()
                    ),
                    why,
                )),
                (None, false) => {
                    self.fast.learn(instance.folder(), keys[index + 1], &mine);
                    Ok(statuses(&mine))
                }
                // Not answered (the process ended early): read on its own.
                (None, true) => self.status(instance).await,
            });
        }
        answers
    }

    async fn one_by_one(&self, instances: &[Instance]) -> Vec<Result<Vec<Status>, ProviderError>> {
        let mut answers = Vec::with_capacity(instances.len());
        for instance in instances {
            answers.push(self.status(instance).await);
        }
        answers
    }
}

#[async_trait]
impl Provider for VagrantProvider {
    async fn statuses(&self, instances: &[Instance]) -> Vec<Result<Vec<Status>, ProviderError>> {
        let Some(hooks) = self.report.clone() else {
            return self.one_by_one(instances).await;
        };
        // The hypervisors first; Vagrant for every folder they cannot answer for.
        let folders: Vec<_> = instances
            .iter()
            .map(|i| (i.folder(), self.environment(i)))
            .collect();
        let listed = self.fast.read(&folders, self.config.status_timeout()).await;
        let unanswered: Vec<Instance> = instances
            .iter()
            .zip(&listed)
            .filter(|(_, listed)| listed.is_none())
            .map(|(instance, _)| instance.clone())
            .collect();
        let mut read = Vec::with_capacity(unanswered.len());
        for chunk in unanswered.chunks(BATCH_MAX) {
            read.extend(self.batch_statuses(chunk, &hooks).await);
        }
        let mut read = read.into_iter();
        listed
            .into_iter()
            .map(|listed| match listed {
                Some(states) => Ok(states),
                None => read.next().expect("one answer per folder Vagrant read"),
            })
            .collect()
    }

    async fn status(&self, instance: &Instance) -> Result<Vec<Status>, ProviderError> {
        let (end, collected) = self
            .read(
                instance,
                vec!["status".into()],
                &["state", "provider-name", "metadata"],
            )
            .await?;
        if end != ProcessEnd::Exited(0) {
            return Err(Self::failed(instance, Action::Status, end, collected));
        }
        Ok(statuses(&collected.records))
    }

    async fn run(
        &self,
        instance: &Instance,
        request: &CheckedRequest,
        console: ConsoleSink,
    ) -> Result<Outcome, ProviderError> {
        let script = request.script_command();
        if request.action == Action::Sync {
            return match self.sync(instance, &console).await {
                Ok(()) => Ok(Outcome::success()),
                Err(ProviderError::PrepareFailed { what, message }) => Ok(Outcome::failure(
                    1,
                    CommandError::message(format!("{what} failed: {message}"))
                        .with_class("jeto::prepare_failed"),
                )),
                Err(error) => Err(error),
            };
        }
        let in_machine = script.map(|command| remote_script(instance, command));
        let args = Self::arguments(request, in_machine.as_deref());
        // Actions that change a machine's state report it as they exit (see StateReport).
        let report = matches!(
            request.action,
            Action::Start
                | Action::Stop
                | Action::Reload
                | Action::Destroy
                | Action::Suspend
                | Action::Resume
                | Action::SnapshotRestore
        );
        let keep = if report {
            Keep::Records(&["state", "provider-name", "jeto-ssh-host", "jeto-addresses"])
        } else {
            Keep::Nothing
        };
        // Vagrant reads a machine's state (and can find it locked) before these do their work
        // (a script runs after every check), or doing them again changes nothing. Provision,
        // reload and snapshot save/delete may have done part of their work when Vagrant finds
        // the machine locked, so their failure stands.
        let repeatable = matches!(
            request.action,
            Action::Start
                | Action::Stop
                | Action::Suspend
                | Action::Resume
                | Action::Destroy
                | Action::Rsync
                | Action::RunScript
                | Action::Validate
                | Action::Status
                | Action::SnapshotRestore
        );
        let (end, collected) = self
            .vagrant(
                instance,
                args,
                self.config.command_timeout(),
                Some(&console),
                keep,
                Call::Action { report, repeatable },
            )
            .await?;
        let after = report.then(|| state_after(&collected.records)).flatten();
        let error = || {
            collected.summary.error().unwrap_or_else(|| {
                CommandError::message(match (end, script) {
                    (ProcessEnd::Exited(_), Some(_)) => {
                        "the script printed no error of its own; see its console output".into()
                    }
                    (ProcessEnd::Exited(_), None) => {
                        "vagrant printed no error message; see the console output".into()
                    }
                    _ => describe(end),
                })
            })
        };
        let outcome = match end {
            ProcessEnd::Exited(0) => Outcome::success(),
            ProcessEnd::Exited(code) => Outcome::failure(code, error()),
            ProcessEnd::Signaled(_) | ProcessEnd::TimedOut => Outcome::failure(-1, error()),
        };
        Ok(match after {
            Some(statuses) => outcome.with_state_after(statuses),
            None => outcome,
        })
    }

    async fn machine(
        &self,
        instance: &Instance,
        machine: &str,
    ) -> Result<MachineDetails, ProviderError> {
        validate::machine_name(machine).map_err(|e| ProviderError::invalid(e.to_string()))?;
        let mut details = MachineDetails::of(self.status(instance).await?, instance, machine)?;
        if details.state == Status::RUNNING {
            (details.ip, details.ssh) = self.reach(instance, machine).await?;
        }
        let args = vec!["port".into(), machine.into()];
        let (end, collected) = self.read(instance, args, &["forwarded_port"]).await?;
        // A provider without the forwarded_ports capability exits 1: no ports known.
        if end == ProcessEnd::Exited(0) {
            details.forwarded_ports = forwarded_ports(&collected.records, machine);
        }
        Ok(details)
    }

    async fn boxes(&self, host: &Host, outdated: bool) -> Result<Vec<BoxInfo>, ProviderError> {
        self.list_boxes(host, outdated).await
    }

    async fn global_status(&self) -> Result<Vec<GlobalMachine>, ProviderError> {
        self.machines_everywhere().await
    }

    async fn about(&self) -> Result<ToolInfo, ProviderError> {
        self.tool().await
    }

    async fn snapshots(&self, instance: &Instance) -> Result<Vec<MachineSnapshots>, ProviderError> {
        let machines: Vec<String> = self
            .status(instance)
            .await?
            .into_iter()
            .map(|s| s.name)
            .collect();
        let args = vec!["snapshot".into(), "list".into()];
        let (end, collected) = self.read(instance, args, &["ui"]).await?;
        if end != ProcessEnd::Exited(0) {
            return Err(Self::failed(instance, Action::Status, end, collected));
        }
        Ok(snapshot_lists(&collected.records, &machines))
    }

    async fn ip(
        &self,
        instance: &Instance,
        machine: &str,
    ) -> Result<Option<String>, ProviderError> {
        Ok(self.reach(instance, machine).await?.0)
    }

    async fn prepare(
        &self,
        _host: &Host,
        source: &InstanceSource,
        target: &Path,
    ) -> Result<PathBuf, ProviderError> {
        let console = ConsoleSink::new(|line| tracing::debug!(line, "prepare"));
        match source {
            InstanceSource::Path(path) => {
                check_vagrant_folder(path)?;
                return path
                    .canonicalize()
                    .map_err(|e| ProviderError::InstanceFolder {
                        path: path.clone(),
                        reason: format!("cannot be resolved: {e}"),
                    });
            }
            _ if target.exists() => {
                return Err(ProviderError::invalid(format!(
                    "{} already exists; an instance folder is only made in a new place",
                    target.display()
                )))
            }
            InstanceSource::Git { url, reference } => {
                git::clone(
                    &self.config,
                    self.runner.as_ref(),
                    url,
                    reference,
                    target,
                    &console,
                )
                .await?
            }
            InstanceSource::Archive { url, sha256 } => {
                archive::prepare(&self.config, url, sha256.as_deref(), target, &console).await?
            }
            other => {
                return Err(ProviderError::invalid(format!(
                    "the vagrant provider cannot prepare instances from {other:?}"
                )))
            }
        }
        Self::require_vagrantfile(target)?;
        Ok(target.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_argv_never_a_shell_string() {
        let request = ActionRequest::new(Action::RunScript).on("www").script("s");
        let args = VagrantProvider::arguments(&request, Some("-rf; echo $HOME"));
        assert_eq!(args, vec!["ssh", "www", "--command=-rf; echo $HOME"]);
        let args = VagrantProvider::arguments(&ActionRequest::new(Action::Destroy), None);
        assert_eq!(args, vec!["destroy", "--force"]);
        let stop = ActionRequest::new(Action::Stop).on("db").forced();
        assert_eq!(
            VagrantProvider::arguments(&stop, None),
            vec!["halt", "db", "--force"]
        );
        let up = ActionRequest::new(Action::Start)
            .provisioning(true)
            .provisioning_with(["shell", "file"]);
        assert_eq!(
            VagrantProvider::arguments(&up, None),
            vec!["up", "--provision", "--provision-with", "shell,file"]
        );
    }

    #[test]
    fn the_state_after_an_action_comes_from_its_own_report() {
        let records = |text: &str| -> Vec<Record> {
            text.lines()
                .filter_map(|l| match parse_line(l) {
                    Line::Record(r) => Some(r),
                    Line::Raw(_) => None,
                })
                .collect()
        };
        let reported = records(
            "1,www,provider-name,docker\n1,www,state,running\n1,www,jeto-ssh-host,127.0.0.1\n1,www,jeto-addresses,172.17.0.3 fe80::1\n1,db,provider-name,docker\n1,db,state,stopped",
        );
        let after = state_after(&reported).unwrap();
        assert_eq!(after.len(), 2);
        assert_eq!(
            (after[0].name.as_str(), after[0].ip.as_deref()),
            ("www", Some("172.17.0.3"))
        );
        assert_eq!(
            (after[1].status.as_str(), after[1].ip.as_deref()),
            ("stopped", None)
        );
        // A routable SSH host is the address.
        let direct = records("1,default,state,running\n1,default,jeto-ssh-host,192.0.2.10");
        assert_eq!(
            state_after(&direct).unwrap()[0].ip.as_deref(),
            Some("192.0.2.10")
        );
        // Running with no address, or nothing reported: read the usual way.
        assert_eq!(state_after(&records("1,default,state,running")), None);
        assert_eq!(state_after(&records("1,default,action,up,end")), None);
    }

    #[test]
    fn script_values_reach_the_machine_as_escapes_only() {
        let mut instance = crate::fixture::FakeVagrant::instance(
            1,
            std::path::Path::new("/srv/x"),
            crate::fixture::FakeVagrant::host(&[]),
        );
        instance.spec.environment = "a'$(touch /tmp/pwned)\n".into();
        let script = remote_script(&instance, "echo \"$ENVIRONMENT\"");
        assert!(!script.contains("touch"), "{script}");
        assert!(
            script.starts_with("ENVIRONMENT=\"$(printf '\\141\\047\\044\\050"),
            "{script}"
        );
        assert!(
            script.ends_with("export ENVIRONMENT; echo \"$ENVIRONMENT\""),
            "{script}"
        );
        // The shell gives the value back byte for byte.
        let out = std::process::Command::new("sh")
            .args(["-c", &format!("{script} | od -c")])
            .output()
            .unwrap();
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(
            shown.contains("a   '   $   (   t   o   u   c   h"),
            "{shown}"
        );
        assert!(!std::path::Path::new("/tmp/pwned").exists());
    }

    #[test]
    fn routable_addresses() {
        assert_eq!(
            first_routable("127.0.0.1 10.0.2.15 192.0.2.99"),
            Some("10.0.2.15".into())
        );
        assert_eq!(first_routable("::1 fe80::1"), Some("fe80::1".into()));
        assert_eq!(first_routable("127.0.0.1"), None);
        assert_eq!(first_routable("localhost"), None);
    }
}
