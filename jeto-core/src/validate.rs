//! Checks on request data, done before anything runs, so embedders get them too.

use crate::{Action, ActionRequest, Error, Instance, Result};

/// Longest instance name accepted.
pub const MAX_NAME_LEN: usize = 128;

/// Checks an instance name: non-empty, at most [`MAX_NAME_LEN`] characters, no control
/// characters.
pub fn instance_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::invalid("name must not be empty"));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(Error::invalid(format!(
            "name is {} characters long; at most {MAX_NAME_LEN} are allowed",
            name.chars().count()
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid("name must not contain control characters"));
    }
    Ok(())
}

/// Checks a machine name as Vagrant allows it: letters, digits, `-`, `_` and `.`, not starting
/// with `-` (so it can never be taken for an option).
///
/// ```
/// assert!(jeto_core::validate::machine_name("www-1").is_ok());
/// assert!(jeto_core::validate::machine_name("-f").is_err());
/// ```
pub fn machine_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid machine name {name:?}: use letters, digits, '-', '_' and '.', not starting with '-'"
        )))
    }
}

/// Checks a request against the instance it targets: machine name syntax, and for
/// `runScript` a machine and a script declared in `jeto.json`. Returns the script's command
/// for `runScript`.
pub fn action_request<'a>(
    instance: &'a Instance,
    request: &ActionRequest,
) -> Result<Option<&'a str>> {
    if let Some(machine) = &request.machine {
        machine_name(machine)?;
    }
    if request.action == Action::Sync && request.machine.is_some() {
        return Err(Error::invalid(
            "sync works on the whole instance folder; leave \"machine\" out",
        ));
    }
    if request.action != Action::RunScript {
        if request.script.is_some() {
            return Err(Error::invalid(format!(
                "\"script\" is only allowed with runScript, not with {}",
                request.action
            )));
        }
        return Ok(None);
    }
    if request.machine.is_none() {
        return Err(Error::invalid(
            "runScript needs a \"machine\": the name of the machine to run the script on",
        ));
    }
    let Some(script) = &request.script else {
        return Err(Error::invalid(format!(
            "runScript needs a \"script\"; declared scripts: {}",
            declared(instance)
        )));
    };
    match instance.jeto_infos.script(script) {
        Some(command) => Ok(Some(command)),
        None => Err(Error::invalid(format!(
            "script {script:?} is not declared in jeto.json of instance {}; declared scripts: {}",
            instance.id,
            declared(instance)
        ))),
    }
}

fn declared(instance: &Instance) -> String {
    let names = instance.jeto_infos.script_names();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_names() {
        for good in ["default", "www", "db-1", "a_b.c", "A9"] {
            assert!(machine_name(good).is_ok(), "{good}");
        }
        for bad in ["", "-f", "--help", "a b", "a\0b", "a;b", "a/b", "é", "a\nb"] {
            assert!(machine_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn instance_names() {
        assert!(instance_name("web").is_ok());
        assert!(instance_name(" ").is_err());
        assert!(instance_name(&"x".repeat(129)).is_err());
        assert!(instance_name(&"x".repeat(128)).is_ok());
        assert!(instance_name("a\u{7}").is_err());
    }
}
