//! Domains: a name (and aliases) at which Jeto's proxy serves one machine's web port, with who
//! may visit it. The original Jeto's model (domain, aliases, upstreams, certificate, access
//! list), served by Jeto itself rather than a separate nginx.

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};

/// Aliases one domain may have at most.
pub const MAX_ALIASES: usize = 16;

/// Logins one domain's access list may hold at most.
pub const MAX_LOGINS: usize = 64;

/// A name at which the proxy serves a machine's port.
///
/// The wire shape is the same for `/api/domains` and the store; password hashes and private
/// keys are never in an answer.
///
/// ```
/// use jeto_core::{Domain, DomainAccess};
/// let mut shop = Domain::new("shop.test", 7, 8080);
/// shop.aliases.push("www.shop.test".into());
/// shop.access = DomainAccess::Public;
/// shop.validate().unwrap();
/// assert!(Domain::new("-bad-.test", 7, 80).validate().is_err());
/// ```
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Domain {
    /// Unique, positive id, assigned by the server (0 in one not stored yet).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(read_only))]
    pub id: u64,
    /// The host name visitors use (lowercase letters, digits, `-`, dots); unique across every
    /// domain's name and aliases.
    #[cfg_attr(feature = "openapi", schema(example = "shop.dev.example.org"))]
    pub name: String,
    /// More names for the same machine.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The instance served.
    pub instance: u64,
    /// Its machine (`default` for a single-machine Vagrantfile).
    #[serde(default = "default_machine")]
    pub machine: String,
    /// The port on the machine's address (the IP Jeto read for it).
    pub port: u16,
    /// Who may visit.
    #[serde(default)]
    pub access: DomainAccess,
    /// Its certificate for HTTPS (`null`: the proxy's default certificate, if any).
    #[serde(default)]
    pub tls: Option<DomainTls>,
    /// Requests bodies larger than this are refused (413); `null`: the proxy's default.
    #[serde(default)]
    pub max_body_bytes: Option<u64>,
    /// Whether a visit while the machine is not running starts it (a command requested by
    /// `proxy:start-on-visit`, at most one a minute per domain); visitors are told to retry.
    #[serde(default)]
    pub start_on_visit: bool,
    /// Where visitors reach it, in answers when the server runs its proxy (ignored on the
    /// way in, never stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(read_only))]
    pub url: Option<String>,
}

fn default_machine() -> String {
    "default".into()
}

/// Who may visit a domain.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum DomainAccess {
    /// Jeto users allowed to see the instance: their access key (`X-JETO-KEY` or
    /// `Authorization: Bearer`), checked at every request.
    #[default]
    Granted,
    /// Anyone.
    Public,
    /// These logins, with HTTP Basic authentication.
    Passwords {
        /// The logins.
        logins: Vec<DomainLogin>,
    },
}

/// One login of a domain's access list.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DomainLogin {
    /// The login name (no `:`).
    pub name: String,
    /// The password, on its way in only (8 to 256 characters); left out when changing a
    /// domain keeps this login's password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(write_only))]
    pub password: Option<String>,
    /// Its Argon2id hash (PHC string), kept by the store, never shown.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub password_hash: String,
}

impl DomainLogin {
    /// A login `name` with `password`, not hashed yet.
    pub fn new(name: impl Into<String>, password: impl Into<String>) -> Self {
        DomainLogin {
            name: name.into(),
            password: Some(password.into()),
            password_hash: String::new(),
        }
    }
}

/// A domain's certificate chain and private key, in PEM.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DomainTls {
    /// The certificate chain, leaf first.
    pub certificate_pem: String,
    /// The private key: on its way in only, never shown again; left out when changing a
    /// domain keeps the key it has.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[cfg_attr(feature = "openapi", schema(write_only))]
    pub private_key_pem: String,
}

impl Domain {
    /// `name` serving `port` of instance `instance`'s `default` machine, to Jeto users granted
    /// the instance.
    pub fn new(name: impl Into<String>, instance: u64, port: u16) -> Self {
        Domain {
            id: 0,
            name: name.into(),
            aliases: Vec::new(),
            instance,
            machine: default_machine(),
            port,
            access: DomainAccess::default(),
            tls: None,
            max_body_bytes: None,
            start_on_visit: false,
            url: None,
        }
    }

    /// Its name and aliases.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str()).chain(self.aliases.iter().map(String::as_str))
    }

    /// The same domain with no secret in it (for answers).
    pub fn redacted(mut self) -> Self {
        if let DomainAccess::Passwords { logins } = &mut self.access {
            for login in logins {
                login.password = None;
                login.password_hash.clear();
            }
        }
        if let Some(tls) = &mut self.tls {
            tls.private_key_pem.clear();
        }
        self
    }

    /// Checks names, machine, port and the access list (not what needs the store: the
    /// instance, uniqueness).
    pub fn validate(&self) -> Result<()> {
        for name in self.names() {
            super::validate::host_name(name)?;
        }
        if self.aliases.len() > MAX_ALIASES {
            return Err(Error::invalid(format!(
                "a domain has at most {MAX_ALIASES} aliases"
            )));
        }
        super::validate::machine_name(&self.machine)?;
        if self.port == 0 {
            return Err(Error::invalid("port must be between 1 and 65535"));
        }
        if let DomainAccess::Passwords { logins } = &self.access {
            if logins.is_empty() || logins.len() > MAX_LOGINS {
                return Err(Error::invalid(format!(
                    "a password access list needs 1 to {MAX_LOGINS} logins"
                )));
            }
            for login in logins {
                let name_ok = !login.name.is_empty()
                    && login.name.len() <= 128
                    && !login.name.contains(':')
                    && !login.name.chars().any(char::is_control);
                if !name_ok {
                    return Err(Error::invalid(format!(
                        "login name {:?} must be 1 to 128 characters, without ':' or control characters",
                        login.name
                    )));
                }
                if let Some(password) = &login.password {
                    if !(8..=256).contains(&password.chars().count()) {
                        return Err(Error::invalid(format!(
                            "the password of login {:?} must be 8 to 256 characters",
                            login.name
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}
