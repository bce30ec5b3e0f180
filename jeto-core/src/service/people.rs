//! People: users and teams (admins manage them), the keys users make for themselves, and
//! signing in with such a key. Changes apply from the next request on: a key's rights are
//! worked out again at every request from its user, their teams and its scope.

use serde::Deserialize;
use time::OffsetDateTime;

use super::Jeto;
use crate::access::people::{key_principal, user_rights, ApiKey, Grants, Identity, Team, User};
use crate::access::{hash_key, Principal};
use crate::{Error, Result};

/// How often a key's last use is written (at most).
const LAST_USE_EVERY: time::Duration = time::Duration::minutes(1);

/// A request for a new key (`POST /api/keys`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NewKey {
    /// A name for it (1 to 128 characters).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 128, example = "laptop")
    )]
    pub name: String,
    /// From when it is refused (RFC 3339, in the future: a time past is a 400); never when
    /// absent.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<String>, format = DateTime, example = "2100-01-01T00:00:00Z")
    )]
    pub expires_at: Option<OffsetDateTime>,
    /// At most these grants; its user's rights cap them at every request.
    #[serde(default)]
    pub scope: Option<Grants>,
    /// Whose key (admins only; the caller's own by default).
    #[serde(default)]
    pub user: Option<u64>,
}

impl NewKey {
    /// A key named `name`, with no expiry and no scope.
    pub fn new(name: impl Into<String>) -> Self {
        NewKey {
            name: name.into(),
            ..NewKey::default()
        }
    }
}

impl Jeto {
    /// The principal of an access key: a config token, or a user's key (refused once it has
    /// expired, or its user is gone); [`Error::Unauthenticated`] when missing or unknown.
    pub async fn authenticate(&self, key: Option<&str>) -> Result<Principal> {
        let key = key
            .filter(|k| !k.is_empty())
            .ok_or(Error::Unauthenticated)?;
        if let Some(token) = self.policy().authenticate(key) {
            return Ok(token);
        }
        let store = &self.inner.store;
        let found = match store.api_key_by_hash(&hash_key(key)).await {
            // A store without people (an embedder's): only config tokens sign in.
            Err(Error::NotSupported { .. }) => return Err(Error::Unauthenticated),
            other => other?,
        }
        .ok_or(Error::Unauthenticated)?;
        let now = OffsetDateTime::now_utc();
        if let Some(at) = found.expires_at.filter(|at| *at <= now) {
            return Err(Error::KeyExpired {
                name: found.name,
                at: at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
            });
        }
        let user = store
            .users()
            .await?
            .into_iter()
            .find(|u| u.id == found.user)
            .ok_or(Error::Unauthenticated)?;
        let principal = key_principal(&user, &store.teams().await?, &found);
        if found
            .last_used_at
            .is_none_or(|at| now - at >= LAST_USE_EVERY)
        {
            let mut used = found;
            used.last_used_at = Some(now);
            if let Err(error) = store.put_api_key(used).await {
                tracing::warn!(%error, "could not record a key's use");
            }
        }
        Ok(principal)
    }

    /// The principal of a person an identity provider vouched for: their user (made now when
    /// the sign-in rules let them join, refused with [`Error::SignInRefused`] when not), with
    /// their grants, their teams' and those of the teams named by their groups.
    pub async fn identity_principal(&self, identity: &Identity) -> Result<Principal> {
        let refused = |reason: &str| Error::SignInRefused {
            name: identity.name.clone(),
            reason: reason.to_owned(),
        };
        let store = &self.inner.store;
        let users = match store.users().await {
            Err(Error::NotSupported { .. }) => {
                return Err(refused("this server's store keeps no users"))
            }
            other => other?,
        };
        let user = match users.into_iter().find(|u| u.name == identity.name) {
            Some(user) => user,
            None if identity.may_join => {
                crate::validate::instance_name(&identity.name)?;
                match store.put_user(User::new(identity.name.clone())).await {
                    Ok(user) => {
                        tracing::info!(user = %user.name, id = user.id, "user made at first sign-in");
                        user
                    }
                    // Signed in twice at once: the other sign-in made it.
                    Err(Error::Conflict { .. }) => store
                        .users()
                        .await?
                        .into_iter()
                        .find(|u| u.name == identity.name)
                        .ok_or(Error::Unauthenticated)?,
                    Err(error) => return Err(error),
                }
            }
            None => {
                return Err(refused(
                    "no user has this name, and the sign-in rules (allowed_users, allowed_groups) do not let them in; ask an admin to add the user",
                ))
            }
        };
        let (mut rights, teams) = user_rights(&user, &store.teams().await?, &identity.groups);
        rights.admin |= identity.admin;
        let mut principal = rights.principal(format!("{} ({})", user.name, identity.how));
        principal.user = Some(user.id);
        principal.teams = teams;
        principal.expires_at = identity.expires_at;
        Ok(principal)
    }

    /// Whether `who`, as it signed in, may still follow instance `id` (its console, its
    /// events): always for a config token; for a user (by key or sign-in) while the user
    /// exists, the key (if any) exists and has not expired, the sign-in has not ended, and
    /// the rights, worked out again, still see the instance. Open streams ask this every few
    /// seconds and end when it says no.
    pub async fn may_still_follow(&self, who: &Principal, id: u64) -> bool {
        let Some(rights) = self.rights_now(who).await else {
            return false;
        };
        match self.inner.store.instance(id).await {
            Ok(record) => record.is_some_and(|r| rights.can_view(r.id, r.host_id)),
            // A store that cannot answer now does not cut anyone off.
            Err(_) => true,
        }
    }

    /// `who`'s rights as they are now (an event stream follows them): `None` once its key
    /// is revoked or expired, its user gone, or its sign-in ended; a config token's never
    /// change.
    pub async fn rights_now(&self, who: &Principal) -> Option<Principal> {
        let Some(user_id) = who.user else {
            return Some(who.clone());
        };
        let now = OffsetDateTime::now_utc();
        if who.expires_at.is_some_and(|at| at <= now) {
            return None;
        }
        let store = &self.inner.store;
        let (Ok(keys), Ok(users), Ok(teams)) = (
            store.api_keys().await,
            store.users().await,
            store.teams().await,
        ) else {
            // A store that cannot answer now does not cut anyone off.
            return Some(who.clone());
        };
        let user = users.into_iter().find(|u| u.id == user_id)?;
        let mut rights = match who.key {
            Some(key_id) => match keys.into_iter().find(|k| k.id == key_id) {
                Some(key) if !key.expired(now) => key_principal(&user, &teams, &key),
                _ => return None,
            },
            None => {
                let groups: Vec<String> = who.teams.iter().cloned().collect();
                let (mut rights, _) = user_rights(&user, &teams, &groups);
                rights.admin |= who.admin;
                rights.principal(who.name.clone())
            }
        };
        rights.user = who.user;
        rights.key = who.key;
        Some(rights)
    }

    /// Every user (admins only; others are told there is no such thing).
    pub async fn users(&self, who: &Principal) -> Result<Vec<User>> {
        admin_only(who)?;
        self.inner.store.users().await
    }

    /// One user (admins only).
    pub async fn user(&self, who: &Principal, id: u64) -> Result<User> {
        self.users(who)
            .await?
            .into_iter()
            .find(|u| u.id == id)
            .ok_or_else(|| not_found("user", id))
    }

    /// Adds a user (admins only; its id is the store's to give).
    pub async fn create_user(&self, who: &Principal, user: User) -> Result<User> {
        admin_only(who)?;
        no_id(user.id)?;
        user.validate()?;
        self.inner.store.put_user(user).await
    }

    /// Replaces user `id` (admins only); their keys follow their new grants at once.
    pub async fn update_user(&self, who: &Principal, id: u64, mut user: User) -> Result<User> {
        self.user(who, id).await?;
        same_id(user.id, id)?;
        user.id = id;
        user.validate()?;
        self.inner.store.put_user(user).await
    }

    /// Removes user `id` with their keys (refused from their next request) and their places
    /// in teams (admins only).
    pub async fn delete_user(&self, who: &Principal, id: u64) -> Result<User> {
        admin_only(who)?;
        self.inner
            .store
            .remove_user(id)
            .await?
            .ok_or_else(|| not_found("user", id))
    }

    /// Every team (admins only).
    pub async fn teams(&self, who: &Principal) -> Result<Vec<Team>> {
        admin_only(who)?;
        self.inner.store.teams().await
    }

    /// One team (admins only).
    pub async fn team(&self, who: &Principal, id: u64) -> Result<Team> {
        self.teams(who)
            .await?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or_else(|| not_found("team", id))
    }

    /// Adds a team (admins only).
    pub async fn create_team(&self, who: &Principal, team: Team) -> Result<Team> {
        admin_only(who)?;
        no_id(team.id)?;
        team.validate()?;
        self.inner.store.put_team(team).await
    }

    /// Replaces team `id` (admins only): members and grants change from the next request on.
    pub async fn update_team(&self, who: &Principal, id: u64, mut team: Team) -> Result<Team> {
        self.team(who, id).await?;
        same_id(team.id, id)?;
        team.id = id;
        team.validate()?;
        self.inner.store.put_team(team).await
    }

    /// Removes team `id` (admins only).
    pub async fn delete_team(&self, who: &Principal, id: u64) -> Result<Team> {
        admin_only(who)?;
        self.inner
            .store
            .remove_team(id)
            .await?
            .ok_or_else(|| not_found("team", id))
    }

    /// The caller's own keys; every user's for admins.
    pub async fn keys(&self, who: &Principal) -> Result<Vec<ApiKey>> {
        let keys = self.inner.store.api_keys().await?;
        Ok(keys
            .into_iter()
            .filter(|k| who.admin || Some(k.user) == who.user)
            .collect())
    }

    /// Makes a key for the caller (or, for admins, for `user`): the key, shown this once,
    /// and what is kept of it (its SHA-256 only).
    pub async fn create_key(&self, who: &Principal, request: NewKey) -> Result<(ApiKey, String)> {
        let user = match (request.user, who.user) {
            (Some(user), _) if who.admin => user,
            (Some(user), Some(own)) if user == own => own,
            (Some(_), _) => {
                return Err(Error::Forbidden {
                    action: "make keys for other users".into(),
                })
            }
            (None, Some(own)) => own,
            (None, None) => {
                return Err(Error::invalid(
                    "this key is a token of the config file, which belongs to no user: say whose key this is with \"user\" (admins), or sign in with a user's key",
                ))
            }
        };
        crate::validate::instance_name(&request.name)?;
        if request
            .expires_at
            .is_some_and(|at| at <= OffsetDateTime::now_utc())
        {
            return Err(Error::invalid(
                "expires_at is in the past: give a time to come (RFC 3339), or leave it out",
            ));
        }
        if self.inner.store.users().await?.iter().all(|u| u.id != user) {
            return Err(not_found("user", user));
        }
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes).map_err(|e| {
            Error::storage("making a key: no randomness from the system", e.to_string())
        })?;
        let secret = format!("jeto_{}", hex::encode(bytes));
        let mut key = ApiKey::new(user, request.name, hash_key(&secret));
        key.expires_at = request.expires_at;
        key.scope = request.scope;
        let key = self.inner.store.put_api_key(key).await?;
        tracing::info!(principal = %who.name, user, key = key.id, "key made");
        Ok((key, secret))
    }

    /// Revokes a key: the caller's own, or any for admins (others are told there is none).
    /// Refused from its next request on.
    pub async fn revoke_key(&self, who: &Principal, id: u64) -> Result<ApiKey> {
        if !self.keys(who).await?.iter().any(|k| k.id == id) {
            return Err(not_found("key", id));
        }
        self.inner
            .store
            .remove_api_key(id)
            .await?
            .ok_or_else(|| not_found("key", id))
    }
}

/// Admins only; others are told there is no such thing (a tenant learns nothing of people).
fn admin_only(who: &Principal) -> Result<()> {
    if who.admin {
        Ok(())
    } else {
        Err(Error::NotVisible)
    }
}

fn not_found(what: &str, id: u64) -> Error {
    Error::NotFound {
        what: format!("{what} {id}"),
    }
}

fn no_id(id: u64) -> Result<()> {
    if id == 0 {
        Ok(())
    } else {
        Err(Error::invalid(
            "id is assigned by the server: leave it out of a new one",
        ))
    }
}

fn same_id(body: u64, path: u64) -> Result<()> {
    if body == 0 || body == path {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "the body's id ({body}) is not the path's ({path}): leave it out"
        )))
    }
}
