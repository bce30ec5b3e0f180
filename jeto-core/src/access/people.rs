//! People and their keys: [`User`]s, [`Team`]s of users, the [`Grants`] given to either, and
//! the [`ApiKey`]s users make for themselves. A user's rights are the union of their own
//! grants and their teams'; a key's are at most its user's (its scope narrows them, never
//! widens them), computed again at every request.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Permission, Principal};
use crate::{validate, Quota, Result};

/// What a user or a team is granted. Nothing by default.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Grants {
    /// Admins see and do everything.
    #[serde(default)]
    pub admin: bool,
    /// Instances on these hosts are visible.
    #[serde(default)]
    pub hosts: BTreeSet<u64>,
    /// These instances are visible.
    #[serde(default)]
    pub instances: BTreeSet<u64>,
    /// Instances may be created from these projects.
    #[serde(default)]
    pub projects: BTreeSet<u64>,
    /// Granted permissions (none when absent; unlike a config token, never "all").
    #[serde(default)]
    pub actions: BTreeSet<Permission>,
}

impl Grants {
    /// Everything `self` or `other` grants.
    pub fn union(mut self, other: &Grants) -> Grants {
        self.admin |= other.admin;
        self.hosts.extend(&other.hosts);
        self.instances.extend(&other.instances);
        self.projects.extend(&other.projects);
        self.actions.extend(&other.actions);
        self
    }

    /// What both grant: a key's scope applied to its user's rights.
    ///
    /// ```
    /// use jeto_core::access::people::Grants;
    /// let mut user = Grants::default();
    /// user.hosts = [1, 2].into();
    /// let mut scope = Grants::default();
    /// scope.hosts = [2, 3].into();
    /// assert_eq!(user.intersection(&scope).hosts, [2].into());
    /// ```
    pub fn intersection(&self, other: &Grants) -> Grants {
        // An admin's key scoped to some hosts is that much of an admin: its scope's grants.
        let narrow = |mine: &BTreeSet<u64>, theirs: &BTreeSet<u64>, admin: bool| {
            if admin {
                theirs.clone()
            } else {
                mine.intersection(theirs).copied().collect()
            }
        };
        Grants {
            admin: self.admin && other.admin,
            hosts: narrow(&self.hosts, &other.hosts, self.admin),
            instances: narrow(&self.instances, &other.instances, self.admin),
            projects: narrow(&self.projects, &other.projects, self.admin),
            actions: if self.admin {
                other.actions.clone()
            } else {
                self.actions.intersection(&other.actions).copied().collect()
            },
        }
    }

    /// The principal named `name` with these grants.
    pub fn principal(&self, name: String) -> Principal {
        Principal {
            name,
            admin: self.admin,
            hosts: self.hosts.clone(),
            instances: self.instances.clone(),
            projects: self.projects.clone(),
            actions: (!self.admin).then(|| self.actions.clone()),
            user: None,
            key: None,
            teams: BTreeSet::new(),
            expires_at: None,
            metrics_only: false,
        }
    }
}

/// A person who signs in or holds keys.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct User {
    /// Unique, positive, never reused; 0 in a user not stored yet.
    #[serde(default)]
    pub id: u64,
    /// Unique: a login or an e-mail address (1 to 128 characters).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 128, example = "ann@example.org")
    )]
    pub name: String,
    /// What the user is granted, beside their teams' grants.
    #[serde(default)]
    pub grants: Grants,
    /// What the user may hold at most (their teams' quotas bound them too).
    #[serde(default, skip_serializing_if = "Quota::is_empty")]
    pub quota: Quota,
}

impl User {
    /// A user named `name`, granted nothing.
    pub fn new(name: impl Into<String>) -> Self {
        User {
            id: 0,
            name: name.into(),
            grants: Grants::default(),
            quota: Quota::default(),
        }
    }

    /// Checks the name.
    pub fn validate(&self) -> Result<()> {
        validate::instance_name(&self.name)
    }
}

/// Users who share grants.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Team {
    /// Unique, positive, never reused; 0 in a team not stored yet.
    #[serde(default)]
    pub id: u64,
    /// Unique (1 to 128 characters).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 128, example = "ops")
    )]
    pub name: String,
    /// The users in it, by id.
    #[serde(default)]
    pub members: BTreeSet<u64>,
    /// What every member is granted.
    #[serde(default)]
    pub grants: Grants,
    /// What the members may hold at most, all together.
    #[serde(default, skip_serializing_if = "Quota::is_empty")]
    pub quota: Quota,
    /// The expiry, in seconds after creation, of instances a member makes without naming one
    /// (the shortest of their teams' wins; a project's default comes first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 315360000))]
    pub default_expiry_secs: Option<u64>,
}

impl Team {
    /// A team named `name`, with no members and no grants.
    pub fn new(name: impl Into<String>) -> Self {
        Team {
            id: 0,
            name: name.into(),
            members: BTreeSet::new(),
            grants: Grants::default(),
            quota: Quota::default(),
            default_expiry_secs: None,
        }
    }

    /// Checks the name and the default expiry.
    pub fn validate(&self) -> Result<()> {
        validate::instance_name(&self.name)?;
        validate::default_expiry(self.default_expiry_secs)
    }
}

/// A key a user made for themselves. Only the SHA-256 of the key is kept, never the key.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ApiKey {
    /// Unique, positive, never reused; 0 in a key not stored yet.
    pub id: u64,
    /// Whose key it is.
    pub user: u64,
    /// A name its user gave it (1 to 128 characters).
    pub name: String,
    /// Hex SHA-256 of the key: kept by the store, never shown.
    #[serde(skip)]
    pub key_sha256: String,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// From when it is refused; never when absent.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// At most these grants (always at most its user's); its user's when absent.
    #[serde(default)]
    pub scope: Option<Grants>,
    /// When it was last used (recorded at most once a minute).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

impl ApiKey {
    /// A key of `user` named `name` whose SHA-256 is `key_sha256`, made now.
    pub fn new(user: u64, name: impl Into<String>, key_sha256: impl Into<String>) -> Self {
        ApiKey {
            id: 0,
            user,
            name: name.into(),
            key_sha256: key_sha256.into(),
            created_at: OffsetDateTime::now_utc(),
            expires_at: None,
            scope: None,
            last_used_at: None,
        }
    }

    /// Whether it has expired at `now`.
    pub fn expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// A person an identity provider vouched for (an OpenID Connect sign-in or bearer token), as
/// the sign-in adapter read the provider's claims and the server's sign-in rules.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Identity {
    /// Their user's name (a login or an e-mail address).
    pub name: String,
    /// The provider's groups they are in: teams of these names grant them too.
    pub groups: Vec<String>,
    /// Whether the sign-in rules make them an admin.
    pub admin: bool,
    /// Whether the sign-in rules let them in without an admin adding their user first (their
    /// user is then made at their first sign-in, granted nothing of its own).
    pub may_join: bool,
    /// How they signed in, for logs and the audit (`sign-in`, `token`).
    pub how: String,
    /// When the sign-in ends.
    pub expires_at: Option<OffsetDateTime>,
}

impl Identity {
    /// `name`, signed in `how`, in no group, not admin, who may sign in only if their user
    /// exists.
    pub fn new(name: impl Into<String>, how: impl Into<String>) -> Self {
        Identity {
            name: name.into(),
            groups: Vec::new(),
            admin: false,
            may_join: false,
            how: how.into(),
            expires_at: None,
        }
    }
}

/// A user's rights: their own grants and those of their teams: the teams they are a member
/// of, and the teams named in `groups` (the groups an identity provider says they are in).
/// Returns the rights and the names of the teams that counted.
pub fn user_rights(user: &User, teams: &[Team], groups: &[String]) -> (Grants, BTreeSet<String>) {
    let mut names = BTreeSet::new();
    let rights = teams
        .iter()
        .filter(|t| t.members.contains(&user.id) || groups.contains(&t.name))
        .fold(user.grants.clone(), |rights, team| {
            names.insert(team.name.clone());
            rights.union(&team.grants)
        });
    (rights, names)
}

/// The rights of `user` through `key`: the user's grants and their teams', narrowed by the
/// key's scope; named `user (key NAME)` in logs and the audit log.
pub fn key_principal(user: &User, teams: &[Team], key: &ApiKey) -> Principal {
    let (rights, team_names) = user_rights(user, teams, &[]);
    let rights = match &key.scope {
        Some(scope) => rights.intersection(scope),
        None => rights,
    };
    let mut principal = rights.principal(format!("{} (key {})", user.name, key.name));
    principal.user = Some(user.id);
    principal.key = Some(key.id);
    principal.teams = team_names;
    principal.expires_at = key.expires_at;
    principal
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Action;

    #[test]
    fn a_key_never_has_more_than_its_user_and_teams() {
        let mut user = User::new("ann");
        user.id = 1;
        user.grants.hosts = [1].into();
        user.grants.actions = [Permission::Action(Action::Status)].into();
        let mut team = Team::new("ops");
        team.members = [1].into();
        team.grants.hosts = [2].into();
        team.grants.actions = [Permission::Action(Action::Start)].into();
        let mut others = Team::new("others");
        others.grants.admin = true;
        let mut key = ApiKey::new(1, "ci", "h");
        let rights = key_principal(&user, &[team.clone(), others], &key);
        assert!(!rights.admin, "a team she is not in grants nothing");
        assert_eq!(rights.hosts, [1, 2].into());
        assert!(rights.is_granted(Permission::Action(Action::Start)));
        key.scope = Some(Grants {
            admin: true,
            hosts: [2, 3].into(),
            actions: [
                Permission::Action(Action::Start),
                Permission::Action(Action::Destroy),
            ]
            .into(),
            ..Grants::default()
        });
        let rights = key_principal(&user, &[team], &key);
        assert!(!rights.admin);
        assert_eq!(rights.hosts, [2].into());
        assert!(rights.is_granted(Permission::Action(Action::Start)));
        assert!(!rights.is_granted(Permission::Action(Action::Destroy)));
        assert!(!rights.is_granted(Permission::Action(Action::Status)));
        assert_eq!(rights.name, "ann (key ci)");
    }
}
