//! Domains (`/api/domains`) and what the proxy asks of them: which domain a host name is, who
//! may visit it, and the machine address to forward to.
//!
//! A tenant points a domain only at an instance it may see and start, and only at a machine
//! and port: the address is always the IP Jeto itself read for that machine, never one from
//! the request. Names are unique across every domain's names and aliases and never one of the
//! names reserved for the API.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use sha2::{Digest, Sha256};

use super::Jeto;
use crate::access::{Permission, Principal};
use crate::{Action, Domain, DomainAccess, Error, Result, Status};

/// Passwords verified lately, so a visitor's every request does not pay for Argon2.
const VERIFIED_KEEP: Duration = Duration::from_secs(600);
const VERIFIED_MAX: usize = 4096;

/// Where a domain's requests go, as the proxy needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DomainTarget {
    /// The machine runs at this address.
    Ready(SocketAddr),
    /// The machine is not running (its state, as last read).
    NotRunning {
        /// The instance's name.
        instance: String,
        /// Vagrant's state id (`poweroff`, `not_created`, ...), `unknown` when never read.
        state: String,
    },
    /// The machine runs but Jeto read no address for it.
    NoAddress {
        /// The instance's name.
        instance: String,
    },
    /// The instance is gone.
    Gone,
}

/// Every domain by each of its names.
type ByName = Arc<HashMap<String, Arc<Domain>>>;

/// The domains by name and alias, and the passwords verified lately.
#[derive(Debug, Default)]
pub(crate) struct DomainIndex {
    by_name: RwLock<Option<ByName>>,
    verified: Mutex<HashMap<(u64, [u8; 32]), Instant>>,
    /// One domain write at a time: names stay unique.
    writes: tokio::sync::Mutex<()>,
    /// When a visit last started each domain's machine.
    visit_starts: Mutex<HashMap<u64, Instant>>,
}

/// Visits start a domain's machine at most this often.
const VISIT_START_EVERY: Duration = Duration::from_secs(60);

/// The Argon2id hash (PHC string) of `password`, with a fresh random salt.
fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt).map_err(|e| Error::Internal {
        message: format!("no randomness for a password salt: {e}"),
    })?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::Internal {
        message: format!("encoding a password salt: {e}"),
    })?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| Error::Internal {
            message: format!("hashing a password: {e}"),
        })
}

impl Jeto {
    /// `domain` as answered: no secret, and where visitors reach it.
    fn answer(&self, domain: Domain) -> Domain {
        let mut domain = domain.redacted();
        domain.url = self
            .inner
            .config
            .domain_url
            .as_ref()
            .map(|template| template.replace("{name}", &domain.name));
        domain
    }

    /// Whether `who` may change domains of instance `record`: it sees the instance (404
    /// otherwise) and is granted `start` on it.
    async fn check_domain_instance(&self, who: &Principal, instance: u64) -> Result<()> {
        let record = self.record(who, instance).await?;
        who.check(record.id, record.host_id, Permission::Action(Action::Start))
    }

    /// Whether `who` sees domain `domain` (admins, keys that see its instance).
    async fn sees_domain(&self, who: &Principal, domain: &Domain) -> bool {
        if who.admin {
            return true;
        }
        match self.inner.store.instance(domain.instance).await {
            Ok(Some(record)) => who.can_view(record.id, record.host_id),
            _ => false,
        }
    }

    /// The domains `who` sees (admins: all; others: those of instances they see), without
    /// secrets.
    pub async fn domains(&self, who: &Principal) -> Result<Vec<Domain>> {
        let mut seen = Vec::new();
        for domain in self.inner.store.domains().await? {
            if self.sees_domain(who, &domain).await {
                seen.push(self.answer(domain));
            }
        }
        Ok(seen)
    }

    /// One domain, without secrets (404 when `who` does not see it).
    pub async fn domain(&self, who: &Principal, id: u64) -> Result<Domain> {
        Ok(self.answer(self.visible_domain(who, id).await?))
    }

    async fn visible_domain(&self, who: &Principal, id: u64) -> Result<Domain> {
        let found = self
            .inner
            .store
            .domains()
            .await?
            .into_iter()
            .find(|d| d.id == id);
        match found {
            Some(domain) if self.sees_domain(who, &domain).await => Ok(domain),
            _ => Err(Error::NotFound {
                what: format!("domain {id}"),
            }),
        }
    }

    /// Checks `domain` (names free and not reserved, the instance `who` may manage) and hashes
    /// new passwords; `current` is the domain it replaces, whose hashes and key stay where
    /// none is given.
    async fn prepare_domain(
        &self,
        who: &Principal,
        mut domain: Domain,
        current: Option<&Domain>,
    ) -> Result<Domain> {
        domain.validate()?;
        domain.url = None;
        self.check_domain_instance(who, domain.instance).await?;
        let reserved = &self.inner.config.reserved_domains;
        let others = self.inner.store.domains().await?;
        for name in domain.names() {
            if reserved.iter().any(|r| r.eq_ignore_ascii_case(name)) {
                return Err(Error::invalid(format!(
                    "{name} is the name of this server's API: choose another"
                )));
            }
            if domain.names().filter(|n| *n == name).count() > 1 {
                return Err(Error::invalid(format!("{name} is given twice")));
            }
            // Taken by a domain the caller may not see: the same answer, so it learns
            // nothing about the other domain but that the name is taken.
            if others
                .iter()
                .filter(|d| current.is_none_or(|c| c.id != d.id))
                .any(|d| d.names().any(|n| n == name))
            {
                return Err(Error::Conflict {
                    message: format!("the name {name} is taken by another domain"),
                });
            }
        }
        if let DomainAccess::Passwords { logins } = &mut domain.access {
            let kept: HashMap<&str, &str> = match current.map(|c| &c.access) {
                Some(DomainAccess::Passwords { logins }) => logins
                    .iter()
                    .map(|l| (l.name.as_str(), l.password_hash.as_str()))
                    .collect(),
                _ => HashMap::new(),
            };
            for login in logins {
                login.password_hash = match login.password.take() {
                    Some(password) => hash_password(&password)?,
                    None => match kept.get(login.name.as_str()) {
                        Some(hash) => (*hash).to_owned(),
                        None => {
                            return Err(Error::invalid(format!(
                                "login {:?} needs a password",
                                login.name
                            )))
                        }
                    },
                };
            }
        }
        if let Some(tls) = &mut domain.tls {
            if tls.private_key_pem.is_empty() {
                match current.and_then(|c| c.tls.as_ref()) {
                    Some(old) => tls.private_key_pem = old.private_key_pem.clone(),
                    None => {
                        return Err(Error::invalid(
                            "tls needs \"private_key_pem\" with the certificate",
                        ))
                    }
                }
            }
            if !tls.certificate_pem.contains("-----BEGIN CERTIFICATE-----")
                || !tls.private_key_pem.contains("PRIVATE KEY-----")
            {
                return Err(Error::invalid(
                    "tls needs a PEM certificate chain and a PEM private key",
                ));
            }
        }
        Ok(domain)
    }

    /// Makes a domain (admins, and keys granted `start` on its instance).
    pub async fn create_domain(&self, who: &Principal, mut domain: Domain) -> Result<Domain> {
        let _one = self.inner.domains.writes.lock().await;
        domain.id = 0;
        let domain = self.prepare_domain(who, domain, None).await?;
        let stored = self.inner.store.put_domain(domain).await?;
        self.domains_changed().await;
        tracing::info!(domain = %stored.name, by = %who.name, "domain created");
        Ok(self.answer(stored))
    }

    /// Changes a domain: the caller must manage both the instance it points at and the one it
    /// is moved to.
    pub async fn update_domain(
        &self,
        who: &Principal,
        id: u64,
        mut domain: Domain,
    ) -> Result<Domain> {
        let _one = self.inner.domains.writes.lock().await;
        let current = self.visible_domain(who, id).await?;
        self.check_domain_instance(who, current.instance).await?;
        domain.id = id;
        let domain = self.prepare_domain(who, domain, Some(&current)).await?;
        let stored = self.inner.store.put_domain(domain).await?;
        self.domains_changed().await;
        Ok(self.answer(stored))
    }

    /// Removes a domain.
    pub async fn remove_domain(&self, who: &Principal, id: u64) -> Result<Domain> {
        let _one = self.inner.domains.writes.lock().await;
        let current = self.visible_domain(who, id).await?;
        self.check_domain_instance(who, current.instance).await?;
        let removed = self.inner.store.remove_domain(id).await?;
        self.domains_changed().await;
        removed
            .map(|d| self.answer(d))
            .ok_or_else(|| Error::NotFound {
                what: format!("domain {id}"),
            })
    }

    /// Removes the domains of a deleted instance.
    pub(crate) async fn remove_domains_of(&self, instance: u64) -> Result<()> {
        let _one = self.inner.domains.writes.lock().await;
        for domain in self.inner.store.domains().await? {
            if domain.instance == instance {
                self.inner.store.remove_domain(domain.id).await?;
            }
        }
        self.domains_changed().await;
        Ok(())
    }

    /// After a write: the passwords verified are forgotten and the index is read again
    /// (so TLS handshakes, which cannot wait for the store, find the new names at once).
    async fn domains_changed(&self) {
        let index = &self.inner.domains;
        index
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        *index.by_name.write().unwrap_or_else(|e| e.into_inner()) = None;
        if let Err(error) = self.load_domain_index().await {
            tracing::warn!(%error, "could not read the domains again; the next request will");
        }
    }

    /// Reads every domain into the index by name.
    async fn load_domain_index(&self) -> Result<ByName> {
        let mut by_name = HashMap::new();
        for domain in self.inner.store.domains().await? {
            let domain = Arc::new(domain);
            for name in domain.names() {
                by_name.insert(name.to_owned(), domain.clone());
            }
        }
        let by_name = Arc::new(by_name);
        *self
            .inner
            .domains
            .by_name
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(by_name.clone());
        Ok(by_name)
    }

    /// The domain a request's host name (no port, any case) names, with its secrets, for the
    /// proxy. Read from memory once loaded.
    pub async fn domain_for_host(&self, host: &str) -> Result<Option<Arc<Domain>>> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let loaded = self
            .inner
            .domains
            .by_name
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let by_name = match loaded {
            Some(by_name) => by_name,
            None => self.load_domain_index().await?,
        };
        Ok(by_name.get(&host).cloned())
    }

    /// [`Jeto::domain_for_host`] from what is in memory only (`None` before the first
    /// read): for TLS handshakes, which cannot wait.
    pub fn domain_for_host_in_memory(&self, host: &str) -> Option<Arc<Domain>> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let index = self
            .inner
            .domains
            .by_name
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()?;
        index.get(&host).cloned()
    }

    /// Whether `login`:`password` is on `domain`'s access list (Argon2id, remembered for a
    /// while once it matched).
    pub async fn check_domain_password(
        &self,
        domain: &Domain,
        login: &str,
        password: &str,
    ) -> bool {
        let DomainAccess::Passwords { logins } = &domain.access else {
            return false;
        };
        let Some(found) = logins.iter().find(|l| l.name == login) else {
            return false;
        };
        let digest: [u8; 32] = Sha256::new()
            .chain_update(login.as_bytes())
            .chain_update([0])
            .chain_update(password.as_bytes())
            .chain_update([0])
            .chain_update(found.password_hash.as_bytes())
            .finalize()
            .into();
        let key = (domain.id, digest);
        let verified = &self.inner.domains.verified;
        if verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .is_some_and(|at| at.elapsed() < VERIFIED_KEEP)
        {
            return true;
        }
        let hash = found.password_hash.clone();
        let password = password.to_owned();
        // Argon2 takes tens of milliseconds of CPU: not on the async workers.
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash).is_ok_and(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
        })
        .await
        .unwrap_or(false);
        if ok {
            let mut verified = verified.lock().unwrap_or_else(|e| e.into_inner());
            if verified.len() >= VERIFIED_MAX {
                verified.retain(|_, at| at.elapsed() < VERIFIED_KEEP);
                if verified.len() >= VERIFIED_MAX {
                    verified.clear();
                }
            }
            verified.insert(key, Instant::now());
        }
        ok
    }

    /// Whether the holder of `key` may visit `domain` in the `granted` mode: a valid key that
    /// sees the domain's instance.
    pub async fn may_visit_domain(&self, domain: &Domain, key: Option<&str>) -> bool {
        let Ok(who) = self.authenticate(key).await else {
            return false;
        };
        self.record(&who, domain.instance).await.is_ok()
    }

    /// For a visit while `domain`'s machine is not running: starts it when the domain asks
    /// for it (at most once a minute, never while a command is queued or running on the
    /// instance, as a command requested by `proxy:start-on-visit`). Whether a start is under
    /// way.
    pub async fn start_for_visit(&self, domain: &Domain) -> bool {
        if !domain.start_on_visit {
            return false;
        }
        if self.inner.scheduler.is_busy(domain.instance) {
            return true;
        }
        {
            let mut starts = self
                .inner
                .domains
                .visit_starts
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if starts
                .get(&domain.id)
                .is_some_and(|at| at.elapsed() < VISIT_START_EVERY)
            {
                return false;
            }
            starts.insert(domain.id, Instant::now());
        }
        let why = format!("a visit to {}", domain.name);
        self.act_for_policy("proxy:start-on-visit", domain.instance, Action::Start, &why)
            .await;
        self.inner.scheduler.is_busy(domain.instance)
    }

    /// Where `domain`'s requests go now: its machine's address as Jeto last read it (read
    /// once when never read), or why there is none.
    pub async fn domain_target(&self, domain: &Domain) -> Result<DomainTarget> {
        // Every request of a running site: from memory, no store read (a deleted instance's
        // domains are gone from the index with it).
        let known = self.inner.status.last_known(domain.instance);
        if let Some(address) = known
            .statuses
            .iter()
            .find(|s| s.name == domain.machine && s.status == Status::RUNNING)
            .and_then(|s| s.ip.as_deref()?.parse::<IpAddr>().ok())
        {
            return Ok(DomainTarget::Ready(SocketAddr::new(address, domain.port)));
        }
        let Some(record) = self.inner.store.instance(domain.instance).await? else {
            return Ok(DomainTarget::Gone);
        };
        let mut snapshot = self.inner.status.last_known(record.id);
        if snapshot.checked_at.is_none() {
            let instance = self.instance_of(record.clone(), self.host_of(&record).await?);
            snapshot = self
                .inner
                .status
                .get(&instance, self.inner.config.status_max_age)
                .await;
        }
        let machine = snapshot.statuses.iter().find(|s| s.name == domain.machine);
        let instance = record.spec.name;
        Ok(match machine {
            Some(status) if status.status == Status::RUNNING => {
                match status
                    .ip
                    .as_deref()
                    .and_then(|ip| ip.parse::<IpAddr>().ok())
                {
                    Some(ip) => DomainTarget::Ready(SocketAddr::new(ip, domain.port)),
                    None => DomainTarget::NoAddress { instance },
                }
            }
            Some(status) => DomainTarget::NotRunning {
                instance,
                state: status.status.clone(),
            },
            None => DomainTarget::NotRunning {
                instance,
                state: "unknown".into(),
            },
        })
    }
}
