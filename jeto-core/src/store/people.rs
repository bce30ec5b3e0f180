//! [`People`]: the users, teams and keys a store holds, with the rules every store applies to
//! them (unique names, known members, unique key hashes), shared by both stores.

use crate::access::people::{ApiKey, Team, User};
use crate::{Error, Result};

/// Users, teams and keys, by id, with the next ids to hand out.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct People {
    pub(crate) users: Vec<User>,
    pub(crate) teams: Vec<Team>,
    pub(crate) keys: Vec<ApiKey>,
    pub(crate) next_user_id: u64,
    pub(crate) next_team_id: u64,
    pub(crate) next_key_id: u64,
}

fn taken(kind: &str, name: &str) -> Error {
    Error::Conflict {
        message: format!("a {kind} named {name:?} exists already: pick another name"),
    }
}

/// Refuses to replace `kind` `id` that is not there (any more): a write racing a removal must
/// not bring back what was removed (a revoked key, say).
fn present(kind: &str, id: u64, exists: bool) -> Result<()> {
    if id == 0 || exists {
        Ok(())
    } else {
        Err(Error::NotFound {
            what: format!("{kind} {id}"),
        })
    }
}

impl People {
    /// Refuses `user` (a new one, id 0, or a replacement of one that is there) when another
    /// user has its name.
    pub(crate) fn check_user(&self, user: &User) -> Result<()> {
        present("user", user.id, self.users.iter().any(|u| u.id == user.id))?;
        if self
            .users
            .iter()
            .any(|u| u.id != user.id && u.name == user.name)
        {
            return Err(taken("user", &user.name));
        }
        Ok(())
    }

    pub(crate) fn store_user(&mut self, user: User) {
        self.next_user_id = self.next_user_id.max(user.id + 1);
        put(&mut self.users, user, |u| u.id);
    }

    /// Removes a user with their keys and their places in teams.
    pub(crate) fn remove_user(&mut self, id: u64) -> Option<User> {
        let at = self.users.iter().position(|u| u.id == id)?;
        self.keys.retain(|k| k.user != id);
        for team in &mut self.teams {
            team.members.remove(&id);
        }
        Some(self.users.remove(at))
    }

    /// The teams that list user `id`, without them (what removing the user rewrites).
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) fn teams_without(&self, id: u64) -> Vec<Team> {
        self.teams
            .iter()
            .filter(|t| t.members.contains(&id))
            .map(|t| {
                let mut team = t.clone();
                team.members.remove(&id);
                team
            })
            .collect()
    }

    /// Refuses `team` when another team has its name or a member is no user.
    pub(crate) fn check_team(&self, team: &Team) -> Result<()> {
        present("team", team.id, self.teams.iter().any(|t| t.id == team.id))?;
        if self
            .teams
            .iter()
            .any(|t| t.id != team.id && t.name == team.name)
        {
            return Err(taken("team", &team.name));
        }
        if let Some(missing) = team
            .members
            .iter()
            .find(|id| self.users.iter().all(|u| u.id != **id))
        {
            return Err(Error::invalid(format!(
                "team {:?}: member {missing} is no user",
                team.name
            )));
        }
        Ok(())
    }

    pub(crate) fn store_team(&mut self, team: Team) {
        self.next_team_id = self.next_team_id.max(team.id + 1);
        put(&mut self.teams, team, |t| t.id);
    }

    pub(crate) fn remove_team(&mut self, id: u64) -> Option<Team> {
        let at = self.teams.iter().position(|t| t.id == id)?;
        Some(self.teams.remove(at))
    }

    /// Refuses `key` when its user does not exist or its hash is another key's.
    pub(crate) fn check_key(&self, key: &ApiKey) -> Result<()> {
        present("key", key.id, self.keys.iter().any(|k| k.id == key.id))?;
        if self.users.iter().all(|u| u.id != key.user) {
            return Err(Error::invalid(format!(
                "key {:?}: user {} does not exist",
                key.name, key.user
            )));
        }
        if self
            .keys
            .iter()
            .any(|k| k.id != key.id && k.key_sha256 == key.key_sha256)
        {
            return Err(Error::Conflict {
                message: "another key has this key's hash: make a new key".into(),
            });
        }
        Ok(())
    }

    pub(crate) fn store_key(&mut self, key: ApiKey) {
        self.next_key_id = self.next_key_id.max(key.id + 1);
        put(&mut self.keys, key, |k| k.id);
    }

    pub(crate) fn key_by_hash(&self, hash: &str) -> Option<ApiKey> {
        self.keys.iter().find(|k| k.key_sha256 == hash).cloned()
    }

    pub(crate) fn remove_key(&mut self, id: u64) -> Option<ApiKey> {
        let at = self.keys.iter().position(|k| k.id == id)?;
        Some(self.keys.remove(at))
    }
}

/// Inserts or replaces `item` in `items`, kept in id order.
fn put<T>(items: &mut Vec<T>, item: T, id: impl Fn(&T) -> u64) {
    match items.binary_search_by_key(&id(&item), &id) {
        Ok(at) => items[at] = item,
        Err(at) => items.insert(at, item),
    }
}
