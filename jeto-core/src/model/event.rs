//! [`Event`]: what happened in the fleet, in the order it happened, as the event log keeps it
//! and `GET /api/events` streams it.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{Action, CommandStatus};

/// One thing that happened, with its place in the log.
///
/// ```
/// use jeto_core::{Event, EventKind};
/// let event = Event::new(Some(7), Some(1), EventKind::InstanceDeleted);
/// let json = serde_json::to_value(&event).unwrap();
/// assert_eq!(json["type"], "instance_deleted");
/// assert_eq!(json["instance"], 7);
/// ```
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Event {
    /// Its place in the log: increasing, never reused (0 before it is written).
    #[serde(default)]
    pub id: u64,
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: OffsetDateTime,
    /// The instance it is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<u64>,
    /// The host it is about (the instance's), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<u64>,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    /// An event happening now (its id is the log's to give).
    pub fn new(instance: Option<u64>, host: Option<u64>, kind: EventKind) -> Self {
        Event {
            id: 0,
            at: OffsetDateTime::now_utc(),
            instance,
            host,
            kind,
        }
    }

    /// Its type's wire name (`command_ended`...), the SSE `event:` field.
    pub fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }
}

/// What happened.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// An instance was registered or created.
    InstanceCreated {
        /// Its name.
        name: String,
    },
    /// An instance was renamed, moved, or its environment changed.
    InstanceUpdated {
        /// Its name now.
        name: String,
    },
    /// An instance was deleted.
    InstanceDeleted,
    /// A machine's state changed.
    MachineStateChanged {
        /// The machine.
        machine: String,
        /// Its state before (`null` when first seen).
        from: Option<String>,
        /// Its state now.
        to: String,
        /// Whether something outside Jeto changed it (a `vagrant halt` by hand, a VM that
        /// died): no Jeto command ran on the instance since the state before was read.
        outside: bool,
    },
    /// A command was queued.
    CommandQueued {
        /// The command's id.
        command: u64,
        /// Its action.
        action: Action,
        /// Who asked.
        requested_by: String,
    },
    /// A command started running.
    CommandStarted {
        /// The command's id.
        command: u64,
        /// Its action.
        action: Action,
    },
    /// A command ended.
    CommandEnded {
        /// The command's id.
        command: u64,
        /// Its action.
        action: Action,
        /// How it ended.
        status: CommandStatus,
    },
    /// An instance expires soon (`expiry_warning` before).
    InstanceExpiring {
        /// When (`at` is when the warning was given).
        #[serde(with = "time::serde::rfc3339")]
        #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
        expires_at: OffsetDateTime,
        /// What happens then.
        action: crate::ExpiryAction,
    },
    /// A worker serving the host came online.
    WorkerOnline {
        /// The worker's name.
        worker: String,
    },
    /// A worker serving the host went offline (stopped, or its heartbeats stopped).
    WorkerOffline {
        /// The worker's name.
        worker: String,
    },
}

impl EventKind {
    /// The wire names of every type, for `?type=` filters.
    pub const TYPES: [&'static str; 10] = [
        "instance_created",
        "instance_updated",
        "instance_deleted",
        "machine_state_changed",
        "command_queued",
        "command_started",
        "command_ended",
        "worker_online",
        "worker_offline",
        "instance_expiring",
    ];

    /// This type's wire name.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventKind::InstanceCreated { .. } => Self::TYPES[0],
            EventKind::InstanceUpdated { .. } => Self::TYPES[1],
            EventKind::InstanceDeleted => Self::TYPES[2],
            EventKind::MachineStateChanged { .. } => Self::TYPES[3],
            EventKind::CommandQueued { .. } => Self::TYPES[4],
            EventKind::CommandStarted { .. } => Self::TYPES[5],
            EventKind::CommandEnded { .. } => Self::TYPES[6],
            EventKind::WorkerOnline { .. } => Self::TYPES[7],
            EventKind::WorkerOffline { .. } => Self::TYPES[8],
            EventKind::InstanceExpiring { .. } => Self::TYPES[9],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each kind is flattened into the event: a field named like one of the event's own
    /// (`id`, `at`, `instance`, `host`, `type`) would make its rows unreadable.
    #[test]
    fn every_kind_comes_back_from_its_json() {
        let kinds = [
            EventKind::InstanceCreated { name: "a".into() },
            EventKind::InstanceUpdated { name: "a".into() },
            EventKind::InstanceDeleted,
            EventKind::MachineStateChanged {
                machine: "m".into(),
                from: None,
                to: "running".into(),
                outside: true,
            },
            EventKind::CommandQueued {
                command: 1,
                action: Action::Start,
                requested_by: "k".into(),
            },
            EventKind::CommandStarted {
                command: 1,
                action: Action::Start,
            },
            EventKind::CommandEnded {
                command: 1,
                action: Action::Start,
                status: CommandStatus::Succeeded,
            },
            EventKind::WorkerOnline { worker: "w".into() },
            EventKind::WorkerOffline { worker: "w".into() },
            EventKind::InstanceExpiring {
                expires_at: OffsetDateTime::UNIX_EPOCH,
                action: crate::ExpiryAction::Destroy,
            },
        ];
        assert_eq!(kinds.len(), EventKind::TYPES.len());
        for kind in kinds {
            let event = Event {
                id: 3,
                at: OffsetDateTime::UNIX_EPOCH,
                ..Event::new(Some(1), Some(2), kind)
            };
            let json = serde_json::to_string(&event).unwrap();
            let back: Event = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
            assert_eq!(back, event);
            assert_eq!(
                serde_json::to_value(&event).unwrap()["type"],
                event.type_name()
            );
        }
    }
}
