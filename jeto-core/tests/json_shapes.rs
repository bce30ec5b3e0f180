//! The JSON shapes of the domain types: the seed document's field names, checked by snapshot,
//! and a serde round trip for each.

use insta::assert_json_snapshot;
use jeto_core::{
    Action, Command, CommandError, CommandStatus, Host, HostParams, Instance, InstanceSpec,
    JetoInfos, Status,
};
use serde::{de::DeserializeOwned, Serialize};
use time::macros::datetime;

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T) {
    let json = serde_json::to_string(value).unwrap();
    let back: T = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, value, "round trip through {json}");
}

fn host() -> Host {
    Host {
        id: 1,
        name: "lab".into(),
        provider: "virtualbox".into(),
        params: [("VSPHERE_HOST", "vc.example.org")].into_iter().collect(),
    }
}

fn instance() -> Instance {
    let jeto_infos: JetoInfos = serde_json::from_value(serde_json::json!({
        "team": "web",
        "scripts": {"status": {"command": "systemctl status nginx"}}
    }))
    .unwrap();
    let mut spec = InstanceSpec::new("website", "/srv/vagrant/website");
    spec.archive_url = Some("https://example.org/website.tar.gz".into());
    spec.git_reference = Some("tags/v1.2".into());
    spec.environment = "staging".into();
    spec.jeto_infos = jeto_infos;
    spec.git_url = Some("https://example.org/website.git".into());
    let mut instance = Instance::new(7, spec, host());
    instance.status = vec![
        Status {
            name: "www".into(),
            ip: Some("192.168.56.10".into()),
            status: "running".into(),
            provider: Some("virtualbox".into()),
            ssh_sessions: None,
        },
        Status::new("db", "poweroff"),
    ];
    instance
}

#[test]
fn instance_has_the_seed_fields() {
    let instance = instance();
    assert_json_snapshot!(instance);
    round_trip(&instance);
    let value = serde_json::to_value(&instance).unwrap();
    let keys: Vec<_> = value.as_object().unwrap().keys().cloned().collect();
    for field in [
        "id",
        "name",
        "path",
        "archive_url",
        "git_reference",
        "status",
        "environment",
        "host",
        "jeto_infos",
    ] {
        assert!(
            keys.iter().any(|k| k == field),
            "missing {field} in {keys:?}"
        );
    }
}

#[test]
fn status_and_host_shapes() {
    let status = Status::new("default", "not_created");
    assert_json_snapshot!(status);
    round_trip(&status);
    assert_json_snapshot!(host());
    round_trip(&host());
    assert_json_snapshot!("host_redacted", host().redacted());
}

#[test]
fn command_shape() {
    let command = Command {
        id: 42,
        instance_id: 7,
        action: Action::RunScript,
        machine: Some("www".into()),
        script: Some("status".into()),
        status: CommandStatus::Failed,
        exit_code: Some(3),
        error: Some(CommandError {
            kind: jeto_core::FailureKind::MachineNotRunning,
            class: Some("Vagrant::Errors::SSHNotReady".into()),
            message: "The machine is not ready for SSH.".into(),
        }),
        console: Some("==> www: running\n".into()),
        console_bytes: 17,
        console_truncated: false,
        created_at: datetime!(2026-11-28 08:00:00 UTC),
        started_at: Some(datetime!(2026-11-28 08:00:01 UTC)),
        finished_at: None,
        requested_by: Some("ci".into()),
    };
    assert_json_snapshot!(command);
    round_trip(&command);
}

#[test]
fn actions_and_statuses_use_wire_names() {
    let actions: Vec<_> = Action::ALL
        .iter()
        .map(|a| serde_json::to_value(a).unwrap())
        .collect();
    assert_json_snapshot!(actions);
    for action in Action::ALL {
        round_trip(&action);
        assert_eq!(action.as_str().parse::<Action>().unwrap(), action);
    }
    let statuses = [
        CommandStatus::Queued,
        CommandStatus::Running,
        CommandStatus::Succeeded,
        CommandStatus::Failed,
        CommandStatus::TimedOut,
        CommandStatus::Cancelled,
        CommandStatus::Interrupted,
    ];
    for s in statuses {
        round_trip(&s);
        assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
    }
    let err = "halt".parse::<Action>().unwrap_err().to_string();
    assert!(
        err.contains("unknown state \"halt\"") && err.contains("runScript"),
        "{err}"
    );
}

#[test]
fn host_params_accept_the_original_text_form() {
    let text =
        "VSPHERE_HOST=vc.example.org\r\n\r\nTOKEN=\"a=b=c\"\nQUOTED='single'\n  SPACED = value  \n";
    let params: HostParams =
        serde_json::from_value(serde_json::Value::String(text.into())).unwrap();
    let pairs: Vec<_> = params.iter().collect();
    assert_eq!(
        pairs,
        vec![
            ("QUOTED", "single"),
            ("SPACED", "value"),
            ("TOKEN", "a=b=c"),
            ("VSPHERE_HOST", "vc.example.org"),
        ]
    );
    let host: Host = serde_json::from_value(serde_json::json!({
        "id": 2, "name": "old", "provider": "vsphere", "params": "A=1\nB=2"
    }))
    .unwrap();
    assert_eq!(host.params.get("B"), Some("2"));
    let err =
        serde_json::from_value::<HostParams>(serde_json::json!("A=1\nnot a pair")).unwrap_err();
    assert!(err.to_string().contains("line 2 is not KEY=VALUE"), "{err}");
    let err = serde_json::from_value::<HostParams>(serde_json::json!(42)).unwrap_err();
    assert!(err.to_string().contains("KEY=VALUE"), "{err}");
}
