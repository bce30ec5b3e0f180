//! A parser for Vagrant's `--machine-readable` output: `timestamp,target,type,data...`.
//!
//! Every line is accepted: CSV records become [`Line::Record`], anything else (a script's
//! output, the text that `ssh-config` prints again after its record) is [`Line::Raw`].
//! Nothing here panics, whatever the input.

use jeto_core::{CommandError, FailureKind, Status};

/// One line of output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A machine-readable record.
    Record(Record),
    /// Any other text, as printed.
    Raw(String),
}

/// One `timestamp,target,type,data...` record, with every field unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Unix time in seconds.
    pub timestamp: u64,
    /// The machine the record is about; empty for the environment as a whole.
    pub target: String,
    /// The record type: `state`, `ui`, `error-exit`, `ssh-config`, `metadata`, ...
    pub kind: String,
    /// The data fields, any number of them.
    pub data: Vec<String>,
}

impl Record {
    /// For `ui` records: the level (`info`, `warn`, `error`, ...) and the text.
    pub fn ui(&self) -> Option<(&str, &str)> {
        if self.kind != "ui" {
            return None;
        }
        let level = self.data.first().map(String::as_str).unwrap_or("info");
        let text = self.data.get(1).map(String::as_str).unwrap_or("");
        Some((level, text))
    }

    /// For `error-exit` records: Vagrant's error class and message, with the failure kind its
    /// class stands for.
    pub fn error_exit(&self) -> Option<CommandError> {
        if self.kind != "error-exit" {
            return None;
        }
        let class = self.data.first().cloned().filter(|c| !c.is_empty());
        let kind = match class.as_deref() {
            Some("Vagrant::Errors::MachineNotFound") => FailureKind::MachineNotFound,
            Some("Vagrant::Errors::SSHNotReady") => FailureKind::MachineNotRunning,
            Some("Vagrant::Errors::UnimplementedProviderAction") => FailureKind::NotSupported,
            Some(
                "Vagrant::Errors::ProvisionerFlagInvalid"
                | "Vagrant::Errors::SnapshotNotFound"
                | "Vagrant::Errors::SnapshotConflictFailed"
                // The instance's Vagrantfile is wrong, not the server.
                | "Vagrant::Errors::ConfigInvalid",
            ) => FailureKind::InvalidRequest,
            Some(c) if c.ends_with("NotSupported") => FailureKind::NotSupported,
            _ => FailureKind::Failed,
        };
        Some(CommandError {
            kind,
            class,
            message: self.data.get(1).cloned().unwrap_or_default(),
        })
    }

    /// The first data field, if any.
    pub fn value(&self) -> Option<&str> {
        self.data.first().map(String::as_str)
    }
}

/// Parses one line (without its line ending).
///
/// ```
/// use jeto_vagrant::machine_readable::{parse_line, Line};
/// let Line::Record(r) = parse_line("1795854071,www,state,running") else { panic!() };
/// assert_eq!((r.target.as_str(), r.kind.as_str(), r.value()), ("www", "state", Some("running")));
/// assert!(matches!(parse_line("hello, world"), Line::Raw(_)));
/// ```
pub fn parse_line(line: &str) -> Line {
    let mut fields = line.split(',');
    let timestamp = fields
        .next()
        .filter(|t| !t.is_empty() && t.len() <= 20 && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse().ok());
    let (Some(timestamp), Some(target), Some(kind)) = (timestamp, fields.next(), fields.next())
    else {
        return Line::Raw(line.to_owned());
    };
    if kind.is_empty()
        || !kind
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Line::Raw(line.to_owned());
    }
    Line::Record(Record {
        timestamp,
        target: unescape(target),
        kind: kind.to_owned(),
        data: fields.map(unescape).collect(),
    })
}

/// Undoes Vagrant's escaping of a field: `%!(VAGRANT_COMMA)` to `,`, `\n` and `\r` to line
/// breaks. Other backslashes are kept as they are.
pub fn unescape(field: &str) -> String {
    field
        .replace("%!(VAGRANT_COMMA)", ",")
        .replace("\\n", "\n")
        .replace("\\r", "\r")
}

/// What a whole vagrant run printed, folded: the structured error, the last `ui` error text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// The `error-exit` record, when Vagrant gave one.
    pub error_exit: Option<CommandError>,
    /// The text of the last `ui,error` record.
    pub last_ui_error: Option<String>,
}

impl RunSummary {
    /// Takes one parsed line into account.
    pub fn observe(&mut self, line: &Line) {
        if let Line::Record(record) = line {
            if let Some(error) = record.error_exit() {
                self.error_exit = Some(error);
            } else if let Some(("error", text)) = record.ui() {
                self.last_ui_error = Some(text.to_owned());
            }
        }
    }

    /// The best description of a failure: Vagrant's error-exit, else its last error line.
    pub fn error(&self) -> Option<CommandError> {
        self.error_exit.clone().or_else(|| {
            self.last_ui_error
                .as_ref()
                .map(|text| CommandError::message(text.clone()))
        })
    }
}

/// The text a person should see for a line on the console, if any: `ui` text, raw lines, and
/// records of unknown types as printed (so script output that happens to look like CSV is not
/// lost). Bookkeeping records (`state`, `metadata`, `action`, ...) show nothing.
pub fn console_text(raw: &str, line: &Line) -> Option<String> {
    match line {
        Line::Raw(text) => Some(text.clone()),
        Line::Record(record) => match record.kind.as_str() {
            "ui" => record.ui().map(|(_, text)| text.to_owned()),
            "error-exit" | "state" | "state-human-short" | "state-human-long" | "metadata"
            | "jeto-ssh-host" | "jeto-addresses" | "action" | "provider-name" | "ssh-config"
            | "box-name" | "box-provider" | "box-version" | "cli-command" | "version-installed"
            | "version-latest" => None,
            _ => Some(raw.to_owned()),
        },
    }
}

/// Parses a whole output, line by line.
pub fn parse(output: &str) -> Vec<Line> {
    output.lines().map(parse_line).collect()
}

/// The records of parsed lines.
pub fn records(lines: &[Line]) -> Vec<Record> {
    lines
        .iter()
        .filter_map(|line| match line {
            Line::Record(record) => Some(record.clone()),
            Line::Raw(_) => None,
        })
        .collect()
}

/// The machines of a `vagrant status` run, in the order their records came (the Vagrantfile's
/// order), with their state ids and provider names.
pub fn statuses(records: &[Record]) -> Vec<Status> {
    let mut machines: Vec<Status> = Vec::new();
    for record in records.iter().filter(|r| !r.target.is_empty()) {
        let provider = match (record.kind.as_str(), record.value()) {
            ("provider-name", Some(name)) => Some(name),
            ("metadata", Some("provider")) => record.data.get(1).map(String::as_str),
            _ => None,
        };
        let state = match (record.kind.as_str(), record.value()) {
            ("state", Some(state)) => Some(state),
            _ => None,
        };
        if provider.is_none() && state.is_none() {
            continue;
        }
        let index = match machines.iter().position(|m| m.name == record.target) {
            Some(index) => index,
            None => {
                machines.push(Status::new(record.target.clone(), "unknown"));
                machines.len() - 1
            }
        };
        if let Some(provider) = provider {
            machines[index].provider = Some(provider.to_owned());
        }
        if let Some(state) = state {
            machines[index].status = state.to_owned();
        }
    }
    machines
}

/// The records of `text`, one line each (other lines dropped), for tests of what reads them.
#[cfg(test)]
pub(crate) fn records_of(text: &str) -> Vec<Record> {
    text.lines()
        .filter_map(|l| match parse_line(l) {
            Line::Record(r) => Some(r),
            Line::Raw(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(line: &str) -> Record {
        match parse_line(line) {
            Line::Record(r) => r,
            Line::Raw(_) => panic!("not a record: {line}"),
        }
    }

    #[test]
    fn unescapes_every_field() {
        let r = record(r"1,a%!(VAGRANT_COMMA)b,ui,info,one\ntwo%!(VAGRANT_COMMA) three\rx,C:\path");
        assert_eq!(r.target, "a,b");
        assert_eq!(r.data, vec!["info", "one\ntwo, three\rx", "C:\\path"]);
    }

    #[test]
    fn any_number_of_data_fields_and_empty_target() {
        let r = record("1795854071,,box-info,a,b,c,d,e,f");
        assert_eq!(r.target, "");
        assert_eq!(r.data.len(), 6);
        let r = record("1795854071,web,ready");
        assert!(r.data.is_empty());
        assert_eq!(r.value(), None);
    }

    #[test]
    fn non_csv_lines_are_raw() {
        for line in [
            "",
            "Host www",
            "  HostName 192.0.2.10",
            "abc,def,ghi",
            "12,",
            "12,x",
            "1,x,bad type",
        ] {
            assert_eq!(parse_line(line), Line::Raw(line.to_owned()), "{line:?}");
        }
    }

    #[test]
    fn long_lines_are_fine() {
        let long = format!("1,www,ui,info,{}", "x".repeat(200_000));
        assert_eq!(record(&long).data[1].len(), 200_000);
    }

    #[test]
    fn error_exit_and_summary() {
        let mut summary = RunSummary::default();
        for line in [
            "1,,ui,error,first",
            "1,,ui,error,The machine with the name 'nosuch' was not found",
            "1,,error-exit,Vagrant::Errors::MachineNotFound,The machine with the name 'nosuch' was not found configured for\\nthis Vagrant environment.",
        ] {
            summary.observe(&parse_line(line));
        }
        let error = summary.error().unwrap();
        assert_eq!(
            error.class.as_deref(),
            Some("Vagrant::Errors::MachineNotFound")
        );
        assert!(error
            .message
            .ends_with("configured for\nthis Vagrant environment."));
        let mut only_ui = RunSummary::default();
        only_ui.observe(&parse_line("1,db,ui,error,==> db: not ready for rsync"));
        assert_eq!(
            only_ui.error().unwrap(),
            CommandError::message("==> db: not ready for rsync")
        );
    }

    #[test]
    fn console_text_shows_people_what_matters() {
        let show = |raw: &str| console_text(raw, &parse_line(raw));
        assert_eq!(
            show("1,www,ui,info,==> www: Booting"),
            Some("==> www: Booting".into())
        );
        assert_eq!(show("1,www,state,running"), None);
        assert_eq!(show("1,www,action,up,start"), None);
        assert_eq!(
            show("hello from the script"),
            Some("hello from the script".into())
        );
        assert_eq!(show("1,2,3"), Some("1,2,3".into()));
    }
}
