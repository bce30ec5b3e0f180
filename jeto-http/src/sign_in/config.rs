//! [`OidcConfig`]: which identity provider, which client, and who may sign in.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// Sign-in through an OpenID Connect provider (`[oidc]` in the server's config): Google,
/// Keycloak, Dex, Okta, Entra, or any provider that publishes its discovery document.
///
/// Who may sign in is this configuration's, never the first comer's: a person the provider
/// vouches for gets in when a user of their name exists (made by an admin), or when
/// `allowed_users` or `allowed_groups` names them (their user is then made at their first
/// sign-in, granted nothing of its own).
///
/// ```
/// let config: jeto_http::sign_in::OidcConfig = toml::from_str(r#"
///     issuer = "https://accounts.google.com"
///     client_id = "1234.apps.googleusercontent.com"
///     client_secret_file = "/etc/jeto/google-secret"
///     redirect_url = "https://jeto.example.org/auth/callback"
///     allowed_groups = ["devs"]
///     admin_users = ["ann@example.org"]
/// "#).unwrap();
/// assert_eq!(config.username_claim, "email");
/// assert_eq!(config.session_secs, 8 * 3600);
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OidcConfig {
    /// The provider's issuer URL, exactly as its discovery document gives it
    /// (`{issuer}/.well-known/openid-configuration` is read at the first sign-in).
    pub issuer: String,
    /// This server's client id at the provider.
    pub client_id: String,
    /// The client secret (prefer `client_secret_file`); none for a public client.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// A file holding the client secret, read at start.
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// Where the provider sends the browser back: this server's `/auth/callback`, as the
    /// browser reaches it (registered at the provider). Cookies are `Secure` when it is https.
    pub redirect_url: String,
    /// What the dashboard's button says ("Sign in with NAME").
    #[serde(default = "default_display_name")]
    pub display_name: String,
    /// Scopes asked for (`openid` is always asked).
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The claim naming the user (`email`, `preferred_username`, `sub`...). With `email`, an
    /// `email_verified: false` is refused.
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// The claim listing the person's groups; teams of the same names grant them too. None:
    /// groups are not read.
    #[serde(default)]
    pub groups_claim: Option<String>,
    /// Maps a provider's group to a team of another name (`{ "gitlab-ops" = "ops" }`); groups
    /// not named here map to teams of their own name.
    #[serde(default)]
    pub group_teams: BTreeMap<String, String>,
    /// People who may sign in without an admin making their user first.
    #[serde(default)]
    pub allowed_users: Vec<String>,
    /// Groups whose members may sign in without an admin making their user first.
    #[serde(default)]
    pub allowed_groups: Vec<String>,
    /// People who are admins whenever they sign in.
    #[serde(default)]
    pub admin_users: Vec<String>,
    /// Groups whose members are admins whenever they sign in.
    #[serde(default)]
    pub admin_groups: Vec<String>,
    /// How long a sign-in lasts, in seconds (8 hours by default); then the person signs in
    /// again.
    #[serde(default = "default_session_secs")]
    pub session_secs: u64,
    /// Sessions kept at most (10,000 by default); a sign-in beyond them is answered 503.
    #[serde(default = "default_max_sessions")]
    pub max_sessions: usize,
    /// Sign-ins started and not finished (10 minutes each) kept at most (1,000 by default);
    /// more are answered 429.
    #[serde(default = "default_max_pending")]
    pub max_pending_sign_ins: usize,
    /// Audiences accepted in bearer tokens on the API (this client id by default). Empty
    /// list: bearer tokens from the provider are not accepted.
    #[serde(default)]
    pub bearer_audiences: Option<Vec<String>>,
    /// Bearer tokens of machine clients (a token's `sub`, e.g. a CI job's client id) mapped
    /// to the user they act as.
    #[serde(default)]
    pub services: BTreeMap<String, String>,
}

impl std::fmt::Debug for OidcConfig {
    // Never the client secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("redirect_url", &self.redirect_url)
            .field("allowed_users", &self.allowed_users)
            .field("allowed_groups", &self.allowed_groups)
            .field("admin_users", &self.admin_users)
            .field("admin_groups", &self.admin_groups)
            .finish_non_exhaustive()
    }
}

fn default_display_name() -> String {
    "your identity provider".into()
}

fn default_scopes() -> Vec<String> {
    ["openid", "email", "profile"].map(String::from).to_vec()
}

fn default_username_claim() -> String {
    "email".into()
}

fn default_session_secs() -> u64 {
    8 * 3600
}

fn default_max_sessions() -> usize {
    10_000
}

fn default_max_pending() -> usize {
    1_000
}

impl OidcConfig {
    /// A configuration for `issuer` and `client_id`, coming back to `redirect_url`, with the
    /// defaults for the rest.
    pub fn new(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        redirect_url: impl Into<String>,
    ) -> Self {
        OidcConfig {
            issuer: issuer.into(),
            client_id: client_id.into(),
            client_secret: None,
            client_secret_file: None,
            redirect_url: redirect_url.into(),
            display_name: default_display_name(),
            scopes: default_scopes(),
            username_claim: default_username_claim(),
            groups_claim: None,
            group_teams: BTreeMap::new(),
            allowed_users: Vec::new(),
            allowed_groups: Vec::new(),
            admin_users: Vec::new(),
            admin_groups: Vec::new(),
            session_secs: default_session_secs(),
            max_sessions: default_max_sessions(),
            max_pending_sign_ins: default_max_pending(),
            bearer_audiences: None,
            services: BTreeMap::new(),
        }
    }

    /// The audiences a bearer token may be for.
    pub(crate) fn audiences(&self) -> Vec<String> {
        self.bearer_audiences
            .clone()
            .unwrap_or_else(|| vec![self.client_id.clone()])
    }

    /// The client secret, from the config or its file.
    pub(crate) fn secret(&self) -> Result<Option<String>, String> {
        match (&self.client_secret, &self.client_secret_file) {
            (Some(_), Some(_)) => {
                Err("[oidc] has both client_secret and client_secret_file: keep one".into())
            }
            (Some(secret), None) => Ok(Some(secret.clone())),
            (None, Some(file)) => std::fs::read_to_string(file)
                .map(|s| Some(s.trim().to_owned()))
                .map_err(|e| {
                    format!(
                        "[oidc] client_secret_file {}: cannot read it: {e}",
                        file.display()
                    )
                }),
            (None, None) => Ok(None),
        }
    }

    /// Checks what can be checked before the provider is reached.
    pub(crate) fn check(&self) -> Result<(), String> {
        for (what, url) in [
            ("issuer", &self.issuer),
            ("redirect_url", &self.redirect_url),
        ] {
            let parsed = reqwest::Url::parse(url)
                .map_err(|e| format!("[oidc] {what} {url:?} is no URL: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(format!("[oidc] {what} {url:?} must be an http(s) URL"));
            }
        }
        if self.client_id.is_empty() {
            return Err(
                "[oidc] client_id is empty: give this server's client id at the provider".into(),
            );
        }
        if self.session_secs == 0 || self.max_sessions == 0 || self.max_pending_sign_ins == 0 {
            return Err(
                "[oidc] session_secs, max_sessions and max_pending_sign_ins must be at least 1"
                    .into(),
            );
        }
        Ok(())
    }
}
