//! The machine-readable parser on output captured from the real vagrant 2.3.4 with the
//! `jeto_fake` plugin (see `tests/captured/`), and on arbitrary input.

use jeto_vagrant::machine_info::ssh_host_name;
use jeto_vagrant::machine_readable::{
    console_text, parse, parse_line, records, statuses, Line, RunSummary,
};
use proptest::prelude::*;

const STATUS_SINGLE: &str = include_str!("captured/status_single.txt");
const STATUS_MULTI: &str = include_str!("captured/status_multi.txt");
const UP: &str = include_str!("captured/up.txt");
const HALT: &str = include_str!("captured/halt.txt");
const SSH_CONFIG: &str = include_str!("captured/ssh_config.txt");
const ERROR_EXIT: &str = include_str!("captured/error_exit.txt");

fn states(output: &str) -> Vec<(String, String, Option<String>)> {
    statuses(&records(&parse(output)))
        .into_iter()
        .map(|s| (s.name, s.status, s.provider))
        .collect()
}

#[test]
fn status_of_a_single_machine() {
    assert_eq!(
        states(STATUS_SINGLE),
        vec![(
            "default".into(),
            "not_created".into(),
            Some("jeto_fake".into())
        )]
    );
}

#[test]
fn status_of_several_machines_keeps_vagrantfile_order() {
    assert_eq!(
        states(STATUS_MULTI),
        vec![
            ("www".into(), "running".into(), Some("jeto_fake".into())),
            ("db".into(), "not_created".into(), Some("jeto_fake".into())),
        ]
    );
    // The environment-wide ui record keeps its commas and line breaks.
    let ui: Vec<_> = parse(STATUS_MULTI)
        .into_iter()
        .filter_map(|l| match l {
            Line::Record(r) if r.kind == "ui" => Some(r.data[1].clone()),
            _ => None,
        })
        .collect();
    assert!(ui[0].contains("VM, run `vagrant status NAME`."), "{ui:?}");
    assert!(ui[0].contains("\nwww "), "{ui:?}");
}

#[test]
fn up_and_halt_show_their_ui_lines_on_the_console() {
    let console = |output: &str| -> Vec<String> {
        output
            .lines()
            .filter_map(|raw| console_text(raw, &parse_line(raw)))
            .collect()
    };
    assert_eq!(
        console(UP),
        vec![
            "Bringing machine 'default' up with 'jeto_fake' provider...",
            "==> default: Machine booted and ready!"
        ]
    );
    assert_eq!(console(HALT), vec!["==> default: Machine halted."]);
    let mut summary = RunSummary::default();
    parse(UP).iter().for_each(|l| summary.observe(l));
    assert_eq!(summary.error(), None);
}

#[test]
fn ssh_config_record_and_its_repeated_text() {
    let lines = parse(SSH_CONFIG);
    assert_eq!(
        ssh_host_name(&records(&lines)).as_deref(),
        Some("192.0.2.10")
    );
    // Vagrant prints the config again as plain text after the record: those are raw lines.
    assert!(lines
        .iter()
        .any(|l| matches!(l, Line::Raw(t) if t.trim() == "HostName 192.0.2.10")));
}

#[test]
fn error_exit_is_structured() {
    let mut summary = RunSummary::default();
    parse(ERROR_EXIT).iter().for_each(|l| summary.observe(l));
    let error = summary.error().unwrap();
    assert_eq!(
        error.class.as_deref(),
        Some("Vagrant::Errors::MachineNotFound")
    );
    assert_eq!(
        error.message,
        "The machine with the name 'nosuch' was not found configured for\nthis Vagrant environment."
    );
}

proptest! {
    #[test]
    fn arbitrary_input_never_panics(input in any::<String>()) {
        for line in parse(&input) {
            let _ = console_text(&input, &line);
            let mut summary = RunSummary::default();
            summary.observe(&line);
            let _ = summary.error();
        }
        let _ = statuses(&records(&parse(&input)));
        let _ = ssh_host_name(&records(&parse(&input)));
    }

    #[test]
    fn record_shaped_input_never_panics(
        ts in "[0-9]{1,25}",
        target in "[a-z,%!()\\\\n]{0,12}",
        kind in "[a-z-]{0,10}",
        data in proptest::collection::vec("[ -~]{0,20}", 0..8),
    ) {
        let line = format!("{ts},{target},{kind},{}", data.join(","));
        let parsed = parse_line(&line);
        let _ = statuses(&records(std::slice::from_ref(&parsed)));
        let _ = ssh_host_name(&records(&[parsed]));
    }
}
