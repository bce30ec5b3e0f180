//! Checking a token the provider signed (an ID token from a sign-in, or a bearer token on the
//! API): signature by one of the provider's published keys, in an asymmetric algorithm only
//! (never `none`, never a shared secret), issuer, audience, expiry, and the sign-in's nonce.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::provider::{IdentityProvider, ProviderError};

/// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds.
const LEEWAY_SECS: u64 = 60;

/// The algorithms a provider may sign with: asymmetric ones only.
const ACCEPTED: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TokenError {
    #[error("the token is not a JWT signed with an accepted algorithm: {0}")]
    Malformed(jsonwebtoken::errors::Error),
    #[error("the token is signed with {0:?}, which is not accepted (only the provider's asymmetric keys are)")]
    Algorithm(Algorithm),
    #[error("the token names a key the provider does not publish ({0})")]
    UnknownKey(String),
    #[error("the token's key is published for another algorithm")]
    KeyAlgorithm,
    #[error("the token {}", reason(.0))]
    Invalid(jsonwebtoken::errors::Error),
    #[error("the token is not from this sign-in (its nonce differs)")]
    Nonce,
    #[error("the token was issued to another client (azp {0:?})")]
    AuthorizedParty(String),
    #[error(transparent)]
    Provider(#[from] ProviderError),
}

/// What a person reads about a token that failed a check.
fn reason(error: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::InvalidSignature => {
            "is not signed by the provider (its signature does not match the provider's key)".into()
        }
        ErrorKind::ExpiredSignature => "has expired".into(),
        ErrorKind::ImmatureSignature => "is not valid yet (nbf)".into(),
        ErrorKind::InvalidAudience => "is for another audience (aud)".into(),
        ErrorKind::InvalidIssuer => "is from another issuer (iss)".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("has no {claim} claim"),
        ErrorKind::InvalidAlgorithm => "is signed with an algorithm its key is not for".into(),
        other => format!("is not valid: {other:?}"),
    }
}

/// The claims of a valid token.
pub(crate) type Claims = Map<String, Value>;

/// Checks `token` against the provider: its signature, `iss`, one of `audiences` in `aud`,
/// `exp` (and `nbf`), and `nonce` when one is expected.
pub(crate) async fn validate(
    provider: &IdentityProvider,
    token: &str,
    audiences: &[String],
    client_id: &str,
    nonce: Option<&str>,
) -> Result<Claims, TokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(TokenError::Malformed)?;
    if !ACCEPTED.contains(&header.alg) {
        return Err(TokenError::Algorithm(header.alg));
    }
    let jwk = provider.key(header.kid.as_deref()).await?.ok_or_else(|| {
        TokenError::UnknownKey(header.kid.clone().unwrap_or_else(|| "none named".into()))
    })?;
    if let Some(published) = jwk.common.key_algorithm {
        if published.to_string() != format!("{:?}", header.alg) {
            return Err(TokenError::KeyAlgorithm);
        }
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| TokenError::KeyAlgorithm)?;
    let metadata = provider.metadata().await?;
    let mut validation = Validation::new(header.alg);
    validation.leeway = LEEWAY_SECS;
    validation.validate_nbf = true;
    validation.set_issuer(&[&metadata.issuer]);
    validation.set_audience(audiences);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map_err(TokenError::Invalid)?
        .claims;
    if let Some(expected) = nonce {
        let given = claims
            .get("nonce")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            given.as_bytes(),
            expected.as_bytes(),
        )) {
            return Err(TokenError::Nonce);
        }
        // OpenID Connect Core 3.1.3.7: with several audiences, azp names this client.
        let several = claims
            .get("aud")
            .and_then(Value::as_array)
            .is_some_and(|a| a.len() > 1);
        let azp = claims.get("azp").and_then(Value::as_str);
        if let Some(azp) = azp.filter(|azp| *azp != client_id) {
            return Err(TokenError::AuthorizedParty(azp.to_owned()));
        }
        if several && azp.is_none() {
            return Err(TokenError::AuthorizedParty(String::new()));
        }
    }
    Ok(claims)
}
