//! The [`Provider`] trait: what Jeto needs from the thing that runs machines.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::model::{
    Action, BoxInfo, CheckedRequest, CommandError, FailureKind, GlobalMachine, Host, HostWorker,
    Instance, MachineDetails, MachineSnapshots, Result, Status, ToolInfo,
};

mod error;
mod slots;

pub use error::ProviderError;
pub use slots::{ProviderSlots, ReadSlot};

/// A shared, type-erased provider, as the service holds it.
pub type DynProvider = Arc<dyn Provider>;

/// Where the console output of a running action goes, one line at a time, as it is produced.
///
/// Cheap to clone; the callback runs on the provider's task, so it should be quick.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use jeto_core::ConsoleSink;
/// let lines = Arc::new(Mutex::new(Vec::new()));
/// let sink = ConsoleSink::new({
///     let lines = lines.clone();
///     move |line: &str| lines.lock().unwrap().push(line.to_owned())
/// });
/// sink.line("==> default: Machine booted and ready!");
/// assert_eq!(lines.lock().unwrap().len(), 1);
/// ```
#[derive(Clone)]
pub struct ConsoleSink(Arc<dyn Fn(&str) + Send + Sync>);

impl ConsoleSink {
    /// A sink calling `f` with each line (without its line ending).
    pub fn new(f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        ConsoleSink(Arc::new(f))
    }

    /// A sink that drops everything.
    pub fn discard() -> Self {
        ConsoleSink::new(|_| {})
    }

    /// Hands one line to the sink.
    pub fn line(&self, line: &str) {
        (self.0)(line)
    }
}

impl fmt::Debug for ConsoleSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConsoleSink")
    }
}

/// How an action that ran ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The exit code of the process (0 is success).
    pub exit_code: i32,
    /// The provider's structured error, when it gave one (Vagrant's `error-exit`).
    pub error: Option<CommandError>,
    /// Every machine's state (with the IP of running ones) as the action left it, when the
    /// provider learned it while running the action; saves a status read afterwards.
    #[serde(default)]
    pub after: Option<Vec<Status>>,
}

impl Outcome {
    /// A successful run.
    pub fn success() -> Self {
        Outcome {
            exit_code: 0,
            error: None,
            after: None,
        }
    }

    /// A failed run with this exit code and message.
    pub fn failure(exit_code: i32, error: CommandError) -> Self {
        Outcome {
            exit_code,
            error: Some(error),
            after: None,
        }
    }

    /// The same outcome, with the machines' state after the action.
    pub fn with_state_after(mut self, statuses: Vec<Status>) -> Self {
        self.after = Some(statuses);
        self
    }

    /// Whether the action succeeded.
    pub fn is_success(&self) -> bool {
        self.exit_code == 0
    }
}

/// Where an instance's folder comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum InstanceSource {
    /// An existing folder with a `Vagrantfile`.
    Path(PathBuf),
    /// A git repository cloned at a branch or tag.
    Git {
        /// The repository URL.
        url: String,
        /// The branch or tag (a `tags/` prefix is allowed).
        reference: String,
    },
    /// A `.tar.gz`, `.tar` or `.zip` archive.
    Archive {
        /// Where to download it from.
        url: String,
        /// The expected SHA-256 of the archive, hex encoded.
        sha256: Option<String>,
    },
}

/// Runs Vagrant environments: the one seam between Jeto and the outside world.
///
/// `jeto-vagrant` implements it by spawning the `vagrant` CLI; the `testing` feature has an
/// in-memory implementation and a conformance suite that every implementation should pass.
///
/// # Contract
///
/// - [`status`](Provider::status) lists every machine of the instance in the order of its
///   Vagrantfile, with Vagrant's state id (`running`, `poweroff`, `not_created`, ...). It does not
///   fill `ip` (see [`ip`](Provider::ip)). It changes nothing and may be called concurrently.
/// - [`run`](Provider::run) performs one action on one machine, or on all when `machine` is
///   `None`. Console lines are handed to the sink while the action runs, not at the end. A
///   process that ran and exited is `Ok(Outcome)` whatever its exit code; `Err` means the action
///   could not be run as asked (an invalid request, a missing folder, the tool missing, a time
///   limit). `start`, `stop` and `destroy` are idempotent. [`Action::RunScript`](crate::Action)
///   needs a machine and a script declared in the instance's `jeto.json`, and is rejected with
///   [`Error::InvalidRequest`](crate::Error) before anything runs otherwise.
/// - Dropping the future returned by `run` stops the action and everything it started.
/// - [`ip`](Provider::ip) is the first IP of a running machine, `None` when it is not running
///   or has none.
/// - [`prepare`](Provider::prepare) makes the folder an instance will live in and returns it:
///   for a path, checks it holds a `Vagrantfile` and returns it canonical; for git or archive
///   sources, fills `target` (which must not exist) and leaves nothing behind on failure.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Provider: fmt::Debug + Send + Sync + 'static {
    /// The state of every machine of the instance.
    async fn status(&self, instance: &Instance) -> Result<Vec<Status>, ProviderError>;

    /// The states of many instances of one host at once, one answer per instance, in order: a
    /// failure concerns its own instance only. By default one [`status`](Provider::status)
    /// after another; a provider that can read many at a lower cost (one vagrant process for
    /// many folders) overrides it.
    async fn statuses(&self, instances: &[Instance]) -> Vec<Result<Vec<Status>, ProviderError>> {
        let mut answers = Vec::with_capacity(instances.len());
        for instance in instances {
            answers.push(self.status(instance).await);
        }
        answers
    }

    /// Runs one action, streaming its console output to `console`.
    async fn run(
        &self,
        instance: &Instance,
        request: &CheckedRequest,
        console: ConsoleSink,
    ) -> Result<Outcome, ProviderError>;

    /// The first IP of a running machine.
    async fn ip(&self, instance: &Instance, machine: &str)
        -> Result<Option<String>, ProviderError>;

    /// Makes (or checks) the folder of a new instance on `host` and returns its path.
    async fn prepare(
        &self,
        host: &Host,
        source: &InstanceSource,
        target: &Path,
    ) -> Result<PathBuf, ProviderError>;

    /// One machine in detail: state, IP, SSH details and forwarded ports. The default gives
    /// what [`Provider::status`] and [`Provider::ip`] know (no SSH details, no ports); a
    /// machine the instance does not have is a `machine_not_found` failure.
    async fn machine(
        &self,
        instance: &Instance,
        machine: &str,
    ) -> Result<MachineDetails, ProviderError> {
        let mut details = MachineDetails::of(self.status(instance).await?, instance, machine)?;
        if details.state == Status::RUNNING {
            details.ip = self.ip(instance, machine).await?;
        }
        Ok(details)
    }

    /// The boxes installed for `host`, with whether newer ones exist when `outdated`. The
    /// default: [`crate::Error::NotSupported`].
    async fn boxes(&self, host: &Host, outdated: bool) -> Result<Vec<BoxInfo>, ProviderError> {
        let _ = (host, outdated);
        Err(ProviderError::NotSupported {
            what: "list boxes".into(),
        })
    }

    /// The worker processes that serve `host` from other boxes, online or lately seen. The
    /// default: [`crate::Error::NotSupported`] (the host runs where the provider runs).
    async fn workers(&self, host: &Host) -> Result<Vec<HostWorker>, ProviderError> {
        Err(ProviderError::NotSupported {
            what: format!(
                "list workers: host {} runs on the server's own box",
                host.id
            ),
        })
    }

    /// Every machine the tool knows on this server, in any folder (stale entries pruned).
    /// The default: [`crate::Error::NotSupported`].
    async fn global_status(&self) -> Result<Vec<GlobalMachine>, ProviderError> {
        Err(ProviderError::NotSupported {
            what: "give a global status".into(),
        })
    }

    /// The tool that runs the machines, its version and plugins. The default:
    /// [`crate::Error::NotSupported`].
    async fn about(&self) -> Result<ToolInfo, ProviderError> {
        Err(ProviderError::NotSupported {
            what: "tell its version".into(),
        })
    }

    /// The snapshots of each machine. The default: a `not_supported` failure.
    async fn snapshots(&self, instance: &Instance) -> Result<Vec<MachineSnapshots>, ProviderError> {
        Err(ProviderError::failed(
            instance,
            crate::Action::Status,
            CommandError::new(
                crate::FailureKind::NotSupported,
                "this provider does not support snapshots",
            ),
        ))
    }
}

macro_rules! forward_provider {
    ($ty:ty) => {
        #[async_trait]
        impl<P: Provider + ?Sized> Provider for $ty {
            async fn status(&self, instance: &Instance) -> Result<Vec<Status>, ProviderError> {
                (**self).status(instance).await
            }
            async fn statuses(
                &self,
                instances: &[Instance],
            ) -> Vec<Result<Vec<Status>, ProviderError>> {
                (**self).statuses(instances).await
            }
            async fn run(
                &self,
                instance: &Instance,
                request: &CheckedRequest,
                console: ConsoleSink,
            ) -> Result<Outcome, ProviderError> {
                (**self).run(instance, request, console).await
            }
            async fn ip(
                &self,
                instance: &Instance,
                machine: &str,
            ) -> Result<Option<String>, ProviderError> {
                (**self).ip(instance, machine).await
            }
            async fn prepare(
                &self,
                host: &Host,
                source: &InstanceSource,
                target: &Path,
            ) -> Result<PathBuf, ProviderError> {
                (**self).prepare(host, source, target).await
            }
            async fn machine(
                &self,
                instance: &Instance,
                machine: &str,
            ) -> Result<MachineDetails, ProviderError> {
                (**self).machine(instance, machine).await
            }
            async fn snapshots(
                &self,
                instance: &Instance,
            ) -> Result<Vec<MachineSnapshots>, ProviderError> {
                (**self).snapshots(instance).await
            }
            async fn boxes(
                &self,
                host: &Host,
                outdated: bool,
            ) -> Result<Vec<BoxInfo>, ProviderError> {
                (**self).boxes(host, outdated).await
            }
            async fn global_status(&self) -> Result<Vec<GlobalMachine>, ProviderError> {
                (**self).global_status().await
            }
            async fn workers(&self, host: &Host) -> Result<Vec<HostWorker>, ProviderError> {
                (**self).workers(host).await
            }
            async fn about(&self) -> Result<ToolInfo, ProviderError> {
                (**self).about().await
            }
        }
    };
}

forward_provider!(Box<P>);
forward_provider!(Arc<P>);

/// Checks that `folder` exists and holds a `Vagrantfile`, with an error naming the path.
pub fn check_vagrant_folder(folder: &Path) -> Result<(), ProviderError> {
    let error = |reason: &str| ProviderError::InstanceFolder {
        path: folder.to_owned(),
        reason: reason.to_owned(),
    };
    if !folder.is_dir() {
        return Err(error("does not exist or is not a folder"));
    }
    if !folder.join("Vagrantfile").is_file() {
        return Err(error("has no Vagrantfile"));
    }
    Ok(())
}

// Here rather than beside `MachineDetails`: it speaks the provider's error, one layer up.
impl MachineDetails {
    /// The details [`Provider::status`] gives of `machine` (state and provider);
    /// a machine the instance does not have is a `machine_not_found` failure.
    pub fn of(
        statuses: Vec<Status>,
        instance: &Instance,
        machine: &str,
    ) -> std::result::Result<Self, ProviderError> {
        let status = statuses
            .into_iter()
            .find(|s| s.name == machine)
            .ok_or_else(|| {
                ProviderError::failed(
                    instance,
                    Action::Status,
                    CommandError::new(
                        FailureKind::MachineNotFound,
                        format!("instance {} has no machine {machine:?}", instance.id),
                    ),
                )
            })?;
        let mut details = MachineDetails::new(status.name, status.status);
        details.provider = status.provider;
        Ok(details)
    }
}
