//! Checks on request data, done before anything runs, so embedders get them too.

use crate::{Action, ActionRequest, Error, Instance, Result};

/// Longest instance name accepted.
pub const MAX_NAME_LEN: usize = 128;

/// Whether `c` is a Unicode format character (category Cf: bidi controls, zero-width
/// characters, soft hyphen, tags...), which can make a name display as another.
pub fn is_format_char(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2
        | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F
        | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F)
}

/// Checks free text such as an environment string: at most `max` characters, no control or
/// format characters. `field` names it in the error.
pub fn free_text(field: &str, text: &str, max: usize) -> Result<()> {
    if text.chars().count() > max {
        return Err(Error::invalid(format!(
            "{field} is {} characters long; at most {max} are allowed",
            text.chars().count()
        )));
    }
    if let Some(c) = text.chars().find(|c| c.is_control() || is_format_char(*c)) {
        return Err(Error::invalid(format!(
            "{field} must not contain control or invisible formatting characters (found U+{:04X})",
            c as u32
        )));
    }
    Ok(())
}

/// Checks an instance name: non-empty, at most [`MAX_NAME_LEN`] characters, no control
/// or format characters (bidi overrides, zero-width characters).
///
/// ```
/// assert!(jeto_core::validate::instance_name("web 1").is_ok());
/// assert!(jeto_core::validate::instance_name("\u{202e}admin\u{200b}").is_err());
/// ```
pub fn instance_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::invalid("name must not be empty"));
    }
    free_text("name", name, MAX_NAME_LEN)
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

/// Checks a snapshot name: like a machine name, at most 128 characters.
pub fn snapshot_name(name: &str) -> Result<()> {
    if name.len() > 128 || machine_name(name).is_err() {
        return Err(Error::invalid(format!(
            "invalid snapshot name {name:?}: at most 128 letters, digits, '-', '_' and '.', not starting with '-'"
        )));
    }
    Ok(())
}

/// Checks a request against the instance it targets: machine name syntax, and for
/// `runScript` a machine and a script declared in `jeto.json`. Returns the script's command
/// for `runScript`.
pub(crate) fn action_request<'a>(
    instance: &'a Instance,
    request: &ActionRequest,
) -> Result<Option<&'a str>> {
    if let Some(machine) = &request.machine {
        machine_name(machine)?;
    }
    if request.force && request.action != Action::Stop {
        return Err(Error::invalid(format!(
            "\"force\" applies to stop only, not to {}",
            request.action
        )));
    }
    if request.provision.is_some() && !matches!(request.action, Action::Start | Action::Reload) {
        return Err(Error::invalid(format!(
            "\"provision\" applies to start and reload only, not to {}",
            request.action
        )));
    }
    if !request.provision_with.is_empty() {
        if !matches!(
            request.action,
            Action::Start | Action::Reload | Action::Provision
        ) {
            return Err(Error::invalid(format!(
                "\"provision_with\" applies to start, reload and provision only, not to {}",
                request.action
            )));
        }
        if request.provision_with.len() > 16 {
            return Err(Error::invalid(
                "\"provision_with\" names at most 16 provisioners",
            ));
        }
        for name in &request.provision_with {
            machine_name(name).map_err(|_| {
                Error::invalid(format!(
                    "provision_with: {name:?} is not a provisioner name (letters, digits, '_', '.', '-')"
                ))
            })?;
        }
        if request.provision == Some(false) {
            return Err(Error::invalid(
                "\"provision\": false and \"provision_with\" contradict each other",
            ));
        }
    }
    if matches!(request.action, Action::Sync | Action::Validate) && request.machine.is_some() {
        return Err(Error::invalid(format!(
            "{} works on the whole instance; leave \"machine\" out",
            request.action
        )));
    }
    match (&request.snapshot, request.action.is_snapshot()) {
        (Some(name), true) => snapshot_name(name)?,
        (None, true) => {
            return Err(Error::invalid(format!(
                "{} needs a \"snapshot\": the snapshot's name",
                request.action
            )))
        }
        (Some(_), false) => {
            return Err(Error::invalid(format!(
                "\"snapshot\" applies to snapshot_save, snapshot_restore and snapshot_delete only, not to {}",
                request.action
            )))
        }
        (None, false) => {}
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
    match instance.spec.jeto_infos.script(script) {
        Some(command) => Ok(Some(command)),
        None => Err(Error::invalid(format!(
            "script {script:?} is not declared in jeto.json of instance {}; declared scripts: {}",
            instance.id,
            declared(instance)
        ))),
    }
}

fn declared(instance: &Instance) -> String {
    let names = instance.spec.jeto_infos.script_names();
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
