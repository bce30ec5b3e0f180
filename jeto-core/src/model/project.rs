//! Projects: an admin-defined source (a git repository or an archive) and the references of it
//! that may be used, so keys that are not admin create instances only from trusted code.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::validate;

/// A source of instances defined by an admin, as in the original Jeto.
///
/// A key that is not admin creates instances from a project it is granted (by id), at a
/// reference matching one of `references`, on a host of `hosts` (any host it may use when
/// `hosts` is absent). The Vagrantfile is then the admin's code, never the tenant's.
///
/// ```
/// use jeto_core::Project;
/// let project = Project::git("web", "https://git.example.org/web.git").references(["main", "tags/v*"]);
/// assert!(project.allows_reference("tags/v1.2"));
/// assert!(!project.allows_reference("feature/x"));
/// ```
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    /// Unique, positive id, assigned by the server (0 in a project not stored yet).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(read_only))]
    pub id: u64,
    /// A name for people.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub name: String,
    /// The git repository instances are cloned from (or `archive_url`).
    #[serde(default)]
    pub git_url: Option<String>,
    /// The archive instances are extracted from (or `git_url`).
    #[serde(default)]
    pub archive_url: Option<String>,
    /// The expected SHA-256 of the archive.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9A-Fa-f]{64}$"))]
    pub archive_sha256: Option<String>,
    /// Glob patterns (`*`, `?`, `[...]`) of the git references that may be used, e.g.
    /// `["main", "tags/v*"]`; empty means none but `default_reference`.
    #[serde(default)]
    pub references: Vec<String>,
    /// The reference used when a creation names none.
    #[serde(default)]
    pub default_reference: Option<String>,
    /// The hosts instances of this project may run on; absent means any.
    #[serde(default)]
    pub hosts: Option<BTreeSet<u64>>,
    /// What the instances made from it may hold at most, all together.
    #[serde(default, skip_serializing_if = "super::Quota::is_empty")]
    pub quota: super::Quota,
    /// The expiry, in seconds after creation, of instances made from it whose creation names
    /// none (before the creator's teams' and the configured default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 315360000))]
    pub default_expiry_secs: Option<u64>,
}

impl Project {
    /// A project cloning `git_url`, with no reference permitted yet.
    pub fn git(name: impl Into<String>, git_url: impl Into<String>) -> Project {
        Project {
            id: 0,
            name: name.into(),
            git_url: Some(git_url.into()),
            archive_url: None,
            archive_sha256: None,
            references: Vec::new(),
            default_reference: None,
            hosts: None,
            quota: Default::default(),
            default_expiry_secs: None,
        }
    }

    /// A project extracting `archive_url`.
    pub fn archive(name: impl Into<String>, archive_url: impl Into<String>) -> Project {
        Project {
            archive_url: Some(archive_url.into()),
            git_url: None,
            ..Project::git(name, "")
        }
    }

    /// The same project permitting these reference patterns.
    pub fn references<S: Into<String>>(mut self, patterns: impl IntoIterator<Item = S>) -> Self {
        self.references = patterns.into_iter().map(Into::into).collect();
        self
    }

    /// Whether `reference` matches one of the permitted patterns (or is the default).
    pub fn allows_reference(&self, reference: &str) -> bool {
        self.default_reference.as_deref() == Some(reference)
            || self.references.iter().any(|pattern| {
                glob::Pattern::new(pattern).is_ok_and(|p| {
                    p.matches_with(
                        reference,
                        glob::MatchOptions {
                            case_sensitive: true,
                            require_literal_separator: true,
                            require_literal_leading_dot: true,
                        },
                    )
                })
            })
    }

    /// Whether instances of this project may run on `host_id`.
    pub fn allows_host(&self, host_id: u64) -> bool {
        self.hosts.as_ref().is_none_or(|h| h.contains(&host_id))
    }

    /// Checks the definition: a name, exactly one source, valid patterns.
    pub fn validate(&self) -> Result<()> {
        validate::instance_name(&self.name)?;
        validate::default_expiry(self.default_expiry_secs)?;
        match (&self.git_url, &self.archive_url) {
            (Some(url), None) | (None, Some(url)) if !url.is_empty() && !url.starts_with('-') => {}
            _ => {
                return Err(Error::invalid(
                    "a project needs exactly one source: \"git_url\" or \"archive_url\"",
                ))
            }
        }
        if let Some(bad) = self
            .references
            .iter()
            .find(|p| p.is_empty() || p.starts_with('-') || glob::Pattern::new(p).is_err())
        {
            return Err(Error::invalid(format!(
                "reference pattern {bad:?} is not a valid glob (use *, ? and [...]; not starting with '-')"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_do_not_cross_slashes() {
        let p = Project::git("p", "https://x/r.git").references(["release-*", "tags/*"]);
        assert!(p.allows_reference("release-1"));
        assert!(p.allows_reference("tags/v1"));
        assert!(!p.allows_reference("release-1/../main"));
        assert!(!p.allows_reference("tags/a/b"));
        assert!(!p.allows_reference("main"));
    }
}
