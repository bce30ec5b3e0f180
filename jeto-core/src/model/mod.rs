//! The domain model: what Jeto talks about (instances, hosts, projects, actions, commands and
//! their failures), with the checks on names that every adapter shares. Plain data and
//! validation only: nothing here runs, stores or serves anything.

mod action;
mod command;
pub mod console;
mod domain;
mod error;
mod event;
mod failure;
mod host;
mod instance;
mod inventory;
mod jeto_infos;
mod lifecycle;
mod machine;
mod project;
mod quota;
mod request;
pub mod validate;
mod webhook;

pub use action::{Action, UnknownAction};
pub use command::{Command, CommandStatus};
pub use domain::{Domain, DomainAccess, DomainLogin, DomainTls};
pub use error::{BoxError, Error, Result};
pub use event::{Event, EventKind};
pub use failure::{CommandError, ErrorKind, FailureKind};
pub use host::{Host, HostParams};
pub use instance::{Instance, InstanceSpec, Status};
pub use inventory::{BoxInfo, GlobalMachine, HostWorker, PluginInfo, ToolInfo};
pub use jeto_infos::{JetoInfos, JETO_JSON};
pub use lifecycle::{Expiry, ExpiryAction, IdleStop};
pub use machine::{ForwardedPort, MachineDetails, MachineSnapshots, SshDetails};
pub use project::Project;
pub use quota::{Quota, QuotaResource, QuotaUsage, Usage};
pub use request::{ActionRequest, CheckedRequest};
pub(crate) use webhook::secret_key;
pub use webhook::{Delivery, DeliveryOutcome, Webhook};
