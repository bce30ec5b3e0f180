//! Who may do what: the [`AccessPolicy`] trait and the default [`TokenPolicy`].

pub mod audit;
pub mod people;

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{Action, Error};

/// Something a key may be granted: an action, or creating instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// Creating instances (on granted hosts), from granted projects or folders inside
    /// `instance_roots`.
    Create,
    /// Creating instances from any git or archive URL. This gives away code execution as the
    /// server's user: a source's `Vagrantfile` is Ruby that every vagrant command evaluates.
    RunOwnVagrantfile,
    /// Running this action (`destroy` also covers deleting the instance).
    Action(Action),
}

impl Permission {
    /// The wire name of [`Permission::RunOwnVagrantfile`].
    pub const RUN_OWN_VAGRANTFILE: &'static str = "run_own_vagrantfile";
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Permission::Create => f.write_str("create"),
            Permission::RunOwnVagrantfile => f.write_str(Permission::RUN_OWN_VAGRANTFILE),
            Permission::Action(action) => f.write_str(action.as_str()),
        }
    }
}

impl FromStr for Permission {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "create" => return Ok(Permission::Create),
            Permission::RUN_OWN_VAGRANTFILE => return Ok(Permission::RunOwnVagrantfile),
            _ => {}
        }
        s.parse().map(Permission::Action).map_err(|_| {
            Error::invalid(format!(
                "unknown action {s:?} in a token grant; expected create, run_own_vagrantfile or one of: {}",
                Action::wire_names()
            ))
        })
    }
}

impl Serialize for Permission {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Permission {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "An action's wire name (`start`, `runScript`, ...), `create`, or `run_own_vagrantfile`",
            ))
            .examples(["start"])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Permission {}

/// An authenticated caller and what it is granted (`GET /api/me`). Build one with
/// [`Principal::admin`] or [`Principal::tenant`] and grant more through its fields.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Principal {
    /// The token's name, for logs (never the key).
    pub name: String,
    /// Admins see and do everything, and see host params unredacted.
    pub admin: bool,
    /// Instances on these hosts are visible.
    pub hosts: BTreeSet<u64>,
    /// These instances are visible.
    pub instances: BTreeSet<u64>,
    /// Instances may be created from these projects.
    #[serde(default)]
    pub projects: BTreeSet<u64>,
    /// Granted permissions; `None` means all of them but
    /// [`Permission::RunOwnVagrantfile`], which must be named.
    pub actions: Option<BTreeSet<Permission>>,
    /// The user whose key this is (none for a config token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<u64>,
    /// The id of the user's key (none for a config token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<u64>,
    /// The teams whose grants count: the user's, and those named by the identity provider's
    /// groups.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub teams: BTreeSet<String>,
    /// When the key or the sign-in stops being accepted; never when absent.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expires_at: Option<time::OffsetDateTime>,
    /// A key that reads `GET /metrics` and nothing else (every other route answers 403).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub metrics_only: bool,
}

impl Principal {
    /// An admin principal, for embedders that do their own authentication.
    pub fn admin(name: impl Into<String>) -> Principal {
        Principal {
            name: name.into(),
            admin: true,
            hosts: BTreeSet::new(),
            instances: BTreeSet::new(),
            projects: BTreeSet::new(),
            actions: None,
            user: None,
            key: None,
            teams: BTreeSet::new(),
            expires_at: None,
            metrics_only: false,
        }
    }

    /// A principal that is not admin, sees nothing and is granted nothing yet: add hosts,
    /// instances, projects and actions to its fields.
    ///
    /// ```
    /// use jeto_core::{access::{Permission, Principal}, Action};
    /// let mut bob = Principal::tenant("bob");
    /// bob.hosts.insert(1);
    /// bob.actions = Some([Permission::Action(Action::Start)].into());
    /// assert!(bob.can_use_host(1) && !bob.is_granted(Permission::Action(Action::Stop)));
    /// ```
    pub fn tenant(name: impl Into<String>) -> Principal {
        Principal {
            name: name.into(),
            admin: false,
            hosts: BTreeSet::new(),
            instances: BTreeSet::new(),
            projects: BTreeSet::new(),
            actions: Some(BTreeSet::new()),
            user: None,
            key: None,
            teams: BTreeSet::new(),
            expires_at: None,
            metrics_only: false,
        }
    }

    /// Whether instances may be created from a project (visibility of the project).
    pub fn can_use_project(&self, project_id: u64) -> bool {
        self.admin || self.projects.contains(&project_id)
    }

    /// Whether an instance (by id and host) is visible.
    pub fn can_view(&self, instance_id: u64, host_id: u64) -> bool {
        self.admin || self.instances.contains(&instance_id) || self.hosts.contains(&host_id)
    }

    /// Whether a host is visible (to create instances on it, or list it).
    pub fn can_use_host(&self, host_id: u64) -> bool {
        self.admin || self.hosts.contains(&host_id)
    }

    /// Whether the permission is granted (visibility is checked separately).
    pub fn is_granted(&self, permission: Permission) -> bool {
        match &self.actions {
            _ if self.admin => true,
            Some(granted) => granted.contains(&permission),
            // "All actions" never includes running code of the key's own choosing.
            None => permission != Permission::RunOwnVagrantfile,
        }
    }

    /// `Ok` when the instance is visible and the permission granted; `InstanceNotFound` when
    /// it is not visible (so ids cannot be probed), `Forbidden` when visible but not granted.
    pub fn check(
        &self,
        instance_id: u64,
        host_id: u64,
        permission: Permission,
    ) -> Result<(), Error> {
        if !self.can_view(instance_id, host_id) {
            return Err(Error::InstanceNotFound { id: instance_id });
        }
        if !self.is_granted(permission) {
            return Err(Error::Forbidden {
                action: permission.to_string(),
            });
        }
        Ok(())
    }
}

/// Turns an access key into a [`Principal`]. Implement it to plug in your own authentication.
pub trait AccessPolicy: fmt::Debug + Send + Sync + 'static {
    /// The principal for `key`, or `None` for an unknown key.
    fn authenticate(&self, key: &str) -> Option<Principal>;
}

/// A token of the config file: a name, the SHA-256 of its key, and its grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// A name for logs.
    pub name: String,
    /// Hex SHA-256 of the key (see [`hash_key`]); the key itself is never stored.
    pub key_sha256: String,
    /// Whether the token is an admin.
    #[serde(default)]
    pub admin: bool,
    /// Hosts whose instances are visible.
    #[serde(default)]
    pub hosts: BTreeSet<u64>,
    /// Instances that are visible.
    #[serde(default)]
    pub instances: BTreeSet<u64>,
    /// Projects instances may be created from.
    #[serde(default)]
    pub projects: BTreeSet<u64>,
    /// Granted permissions; absent means all but `run_own_vagrantfile`.
    #[serde(default)]
    pub actions: Option<BTreeSet<Permission>>,
    /// A key for a metrics scraper: it reads `GET /metrics` and nothing else, whatever else
    /// it is granted.
    #[serde(default)]
    pub metrics_only: bool,
}

impl TokenConfig {
    /// An admin token for `key` (only its hash is kept).
    ///
    /// ```
    /// use jeto_core::access::{AccessPolicy, TokenConfig, TokenPolicy};
    /// let policy = TokenPolicy::new(vec![TokenConfig::admin("ops", "s3cret")]).unwrap();
    /// assert!(policy.authenticate("s3cret").unwrap().admin);
    /// ```
    pub fn admin(name: impl Into<String>, key: &str) -> TokenConfig {
        TokenConfig {
            name: name.into(),
            key_sha256: hash_key(key),
            admin: true,
            hosts: BTreeSet::new(),
            instances: BTreeSet::new(),
            projects: BTreeSet::new(),
            actions: None,
            metrics_only: false,
        }
    }
}

/// Hex SHA-256 of a key, as stored in [`TokenConfig::key_sha256`].
///
/// ```
/// assert_eq!(jeto_core::access::hash_key("abc").len(), 64);
/// ```
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The default policy: tokens from the config, keys compared by SHA-256 in constant time.
#[derive(Debug, Clone)]
pub struct TokenPolicy {
    tokens: Vec<([u8; 32], TokenConfig)>,
}

impl TokenPolicy {
    /// A policy over these tokens; a malformed hash is an error naming the token.
    pub fn new(tokens: Vec<TokenConfig>) -> Result<TokenPolicy, Error> {
        let tokens = tokens
            .into_iter()
            .map(|token| {
                let mut hash = [0u8; 32];
                hex::decode_to_slice(token.key_sha256.trim(), &mut hash).map_err(|_| {
                    Error::invalid(format!(
                        "token {:?}: key_sha256 must be 64 hex digits (the SHA-256 of the key, e.g. `printf %s KEY | sha256sum`)",
                        token.name
                    ))
                })?;
                Ok((hash, token))
            })
            .collect::<Result<_, Error>>()?;
        Ok(TokenPolicy { tokens })
    }

    /// Whether no token is configured.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

impl AccessPolicy for TokenPolicy {
    fn authenticate(&self, key: &str) -> Option<Principal> {
        let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        // Compare against every token so the time taken does not tell which one matched.
        let mut found = None;
        for (candidate, token) in &self.tokens {
            if bool::from(candidate.ct_eq(&hash)) {
                found = Some(token);
            }
        }
        found.map(|t| Principal {
            name: t.name.clone(),
            admin: t.admin,
            hosts: t.hosts.clone(),
            instances: t.instances.clone(),
            projects: t.projects.clone(),
            actions: t.actions.clone(),
            user: None,
            key: None,
            teams: BTreeSet::new(),
            expires_at: None,
            metrics_only: t.metrics_only,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> TokenPolicy {
        TokenPolicy::new(vec![
            TokenConfig {
                name: "admin".into(),
                key_sha256: hash_key("admin-key"),
                admin: true,
                hosts: BTreeSet::new(),
                instances: BTreeSet::new(),
                projects: Default::default(),
                actions: None,
                metrics_only: false,
            },
            TokenConfig {
                name: "ci".into(),
                key_sha256: hash_key("ci-key"),
                admin: false,
                hosts: [1].into(),
                instances: [7].into(),
                projects: Default::default(),
                actions: Some(["status".parse().unwrap(), "start".parse().unwrap()].into()),
                metrics_only: false,
            },
        ])
        .unwrap()
    }

    #[test]
    fn unknown_key_is_rejected() {
        assert_eq!(policy().authenticate("nope"), None);
        assert_eq!(policy().authenticate(""), None);
    }

    #[test]
    fn admin_sees_and_does_everything() {
        let admin = policy().authenticate("admin-key").unwrap();
        assert!(admin
            .check(99, 99, Permission::Action(Action::Destroy))
            .is_ok());
        assert!(admin.check(99, 99, Permission::Create).is_ok());
    }

    #[test]
    fn ungranted_instance_is_not_found_and_ungranted_action_forbidden() {
        let ci = policy().authenticate("ci-key").unwrap();
        assert!(
            ci.check(7, 5, Permission::Action(Action::Start)).is_ok(),
            "granted by id"
        );
        assert!(
            ci.check(3, 1, Permission::Action(Action::Status)).is_ok(),
            "granted by host"
        );
        assert!(matches!(
            ci.check(8, 2, Permission::Action(Action::Start)),
            Err(Error::InstanceNotFound { id: 8 })
        ));
        assert!(matches!(
            ci.check(7, 5, Permission::Action(Action::Destroy)),
            Err(Error::Forbidden { .. })
        ));
        assert!(!ci.is_granted(Permission::Create));
    }

    #[test]
    fn bad_hashes_and_grants_are_reported() {
        let err = TokenPolicy::new(vec![TokenConfig {
            name: "x".into(),
            key_sha256: "abc".into(),
            admin: false,
            hosts: BTreeSet::new(),
            instances: BTreeSet::new(),
            projects: BTreeSet::new(),
            actions: None,
            metrics_only: false,
        }])
        .unwrap_err();
        assert!(err.to_string().contains("token \"x\""), "{err}");
        let err = "halt".parse::<Permission>().unwrap_err();
        assert!(
            err.to_string().contains("run_own_vagrantfile or one of"),
            "{err}"
        );
    }
}
