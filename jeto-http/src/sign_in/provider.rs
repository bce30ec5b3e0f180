//! [`IdentityProvider`]: the OpenID provider as this server reaches it: its discovery
//! document, its published keys (fetched again when a token names a key not seen yet, so
//! rotation needs no restart), and its token endpoint.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tokio::sync::{Mutex, OnceCell};

/// Answers from the provider are read up to this size.
const MAX_ANSWER: usize = 1024 * 1024;
/// Each call to the provider ends within this time.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The published keys are read again at most this often for an unknown key id (a stream of
/// forged ids must not become a stream of calls), and at least this often anyway.
const KEYS_REFRESH_MIN: Duration = Duration::from_secs(2);
const KEYS_MAX_AGE: Duration = Duration::from_secs(3600);

/// What the provider's discovery document says (the parts this server uses).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

/// The provider's answer at the token endpoint.
#[derive(Debug, Deserialize)]
pub(crate) struct TokenAnswer {
    pub id_token: String,
}

/// Why the provider could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProviderError {
    #[error("the identity provider at {url} could not be reached: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the identity provider answered {url} with {status}: {body}")]
    Refused {
        url: String,
        status: u16,
        body: String,
    },
    #[error("the identity provider's answer at {url} is not what OpenID Connect says: {reason}")]
    Malformed { url: String, reason: String },
}

#[derive(Debug)]
struct Keys {
    set: JwkSet,
    fetched: Instant,
}

/// The provider: discovered at first use (the server starts while it is away), then kept.
#[derive(Debug)]
pub(crate) struct IdentityProvider {
    issuer: String,
    http: reqwest::Client,
    metadata: OnceCell<Metadata>,
    keys: Mutex<Option<Keys>>,
}

impl IdentityProvider {
    pub fn new(issuer: &str) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            // A provider's endpoints answer in place; a redirect is not followed blindly.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot make an HTTP client for [oidc]: {e}"))?;
        Ok(IdentityProvider {
            issuer: issuer.to_owned(),
            http,
            metadata: OnceCell::new(),
            keys: Mutex::new(None),
        })
    }

    /// The discovery document, read once (and again after a failure).
    pub async fn metadata(&self) -> Result<&Metadata, ProviderError> {
        self.metadata
            .get_or_try_init(|| async {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    self.issuer.trim_end_matches('/')
                );
                let metadata: Metadata = self.read(self.http.get(&url), &url).await?;
                // OpenID Connect Discovery 1.0, 4.3: the document must be the issuer's own.
                if metadata.issuer != self.issuer {
                    return Err(ProviderError::Malformed {
                        url,
                        reason: format!(
                            "it names issuer {:?}, not the configured {:?}",
                            metadata.issuer, self.issuer
                        ),
                    });
                }
                Ok(metadata)
            })
            .await
    }

    /// The published key `kid` (the only key when the token names none).
    pub async fn key(&self, kid: Option<&str>) -> Result<Option<Jwk>, ProviderError> {
        let mut keys = self.keys.lock().await;
        let find = |keys: &Option<Keys>| {
            let set = &keys.as_ref()?.set;
            match kid {
                Some(kid) => set.find(kid).cloned(),
                None if set.keys.len() == 1 => set.keys.first().cloned(),
                None => None,
            }
        };
        let stale = keys
            .as_ref()
            .is_none_or(|k| k.fetched.elapsed() >= KEYS_MAX_AGE);
        if !stale {
            if let Some(key) = find(&keys) {
                return Ok(Some(key));
            }
        }
        let recent = keys
            .as_ref()
            .is_some_and(|k| k.fetched.elapsed() < KEYS_REFRESH_MIN);
        if stale || !recent {
            let url = self.metadata().await?.jwks_uri.clone();
            let set: JwkSet = self.read(self.http.get(&url), &url).await?;
            *keys = Some(Keys {
                set,
                fetched: Instant::now(),
            });
        }
        Ok(find(&keys))
    }

    /// Trades an authorization code for tokens (client_secret_basic, with the PKCE verifier).
    pub async fn exchange(
        &self,
        client_id: &str,
        secret: Option<&str>,
        code: &str,
        verifier: &str,
        redirect_url: &str,
    ) -> Result<TokenAnswer, ProviderError> {
        let url = self.metadata().await?.token_endpoint.clone();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_url),
            ("code_verifier", verifier),
            ("client_id", client_id),
        ];
        let mut request = self.http.post(&url).form(&form);
        if let Some(secret) = secret {
            // RFC 6749 2.3.1: both parts form-encoded before the basic scheme.
            let encode =
                |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            request = request.basic_auth(encode(client_id), Some(encode(secret)));
        }
        self.read(request, &url).await
    }

    async fn read<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<T, ProviderError> {
        let unreachable = |source| ProviderError::Unreachable {
            url: url.to_owned(),
            source,
        };
        let mut response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > MAX_ANSWER {
                return Err(ProviderError::Malformed {
                    url: url.to_owned(),
                    reason: format!("the answer is larger than {MAX_ANSWER} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            return Err(ProviderError::Refused {
                url: url.to_owned(),
                status: status.as_u16(),
                body: text.chars().take(300).collect(),
            });
        }
        serde_json::from_slice(&body).map_err(|e| ProviderError::Malformed {
            url: url.to_owned(),
            reason: e.to_string(),
        })
    }
}
