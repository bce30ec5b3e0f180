//! Checks on request data, done before anything runs, so embedders get them too.

use super::error::{Error, Result};

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

/// The longest domain name (RFC 1035).
pub const MAX_DOMAIN_LEN: usize = 253;

/// Checks a host name as a domain's name or alias: lowercase letters, digits and `-` in
/// labels of 1 to 63 characters, not starting or ending with `-`, at least two labels, not
/// an IP address.
///
/// ```
/// assert!(jeto_core::validate::host_name("shop.dev.example.org").is_ok());
/// assert!(jeto_core::validate::host_name("Shop.test").is_err());
/// assert!(jeto_core::validate::host_name("10.0.0.1").is_err());
/// ```
pub fn host_name(name: &str) -> Result<()> {
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let labels: Vec<&str> = name.split('.').collect();
    let ok = name.len() <= MAX_DOMAIN_LEN
        && labels.len() >= 2
        && labels.iter().all(|l| label_ok(l))
        && name.parse::<std::net::IpAddr>().is_err()
        && !labels
            .last()
            .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{name:?} is not a domain name: lowercase letters, digits and '-' in dot-separated labels (at least two), like shop.dev.example.org"
        )))
    }
}

/// The longest default expiry a team or project may give (ten years: longer is "never").
pub const MAX_DEFAULT_EXPIRY_SECS: u64 = 10 * 365 * 24 * 3600;

/// Checks a team's or project's `default_expiry_secs`: absent, or 1 to
/// [`MAX_DEFAULT_EXPIRY_SECS`].
///
/// ```
/// assert!(jeto_core::validate::default_expiry(Some(3600)).is_ok());
/// assert!(jeto_core::validate::default_expiry(Some(0)).is_err());
/// ```
pub fn default_expiry(secs: Option<u64>) -> Result<()> {
    match secs {
        Some(secs) if secs == 0 || secs > MAX_DEFAULT_EXPIRY_SECS => Err(Error::invalid(format!(
            "default_expiry_secs must be between 1 and {MAX_DEFAULT_EXPIRY_SECS} (leave it out for none)"
        ))),
        _ => Ok(()),
    }
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

/// Checks a git branch or tag name as given to Jeto (the original's `tags/` prefix allowed):
/// non-empty, at most 255 bytes, no control characters or spaces, and no part between `/`
/// starting with `-`, so that neither the name nor what is left once `tags/` is dropped can
/// ever be read by git as an option.
///
/// ```
/// assert!(jeto_core::validate::git_reference("tags/v1.2").is_ok());
/// assert!(jeto_core::validate::git_reference("tags/--upload-pack=touch${IFS}x").is_err());
/// ```
pub fn git_reference(reference: &str) -> Result<()> {
    let fault = if reference.is_empty() {
        Some("must not be empty")
    } else if reference.len() > 255 {
        Some("is longer than 255 bytes")
    } else if reference
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || is_format_char(c))
    {
        Some("must not contain spaces, control or invisible formatting characters")
    } else if reference.split('/').any(|part| part.starts_with('-')) {
        Some("must not have a part starting with '-' (git would read it as an option)")
    } else {
        None
    };
    match fault {
        Some(fault) => Err(Error::invalid(format!(
            "git_reference {reference:?} {fault}; give a branch or tag name such as \"main\" or \"tags/v1.2\""
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_references() {
        for good in ["main", "tags/v1.2", "feature/x-1", "release-1"] {
            assert!(git_reference(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-x",
            "tags/-x",
            "tags/--upload-pack=touch${IFS}x",
            "a/-b",
            "a b",
            "a\nb",
        ] {
            assert!(git_reference(bad).is_err(), "{bad:?}");
        }
    }

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
