//! End-to-end trust between the server and its workers, whatever NATS lets through.
//!
//! Every message and record Jeto puts on NATS is an [`Envelope`]: the JSON of the payload,
//! signed with an ed25519 key (a NATS nkey, `SU...` seed, `U...` public key) over the subject
//! it was sent to, the signer, the time and an id. A reader checks the signature, that the
//! subject is the one it read it from (a message copied to another subject or run is refused),
//! who signed (the server's key for calls, actions, cancels and withdrawals; a worker key the
//! server knows for the host, for answers, output, results and presence), and freshness (with
//! ids never seen before for calls, increasing numbers for a run's output).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jeto_core::ProviderError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The version of what travels over NATS. A server and a worker of different versions refuse
/// each other's messages, saying so (upgrade them together).
pub(crate) const PROTOCOL: u32 = 1;

/// How far apart the clocks of the server and its workers may be (keep them NTP-synced).
pub(crate) const MAX_CLOCK_SKEW: Duration = Duration::from_secs(30);

/// An ed25519 key pair (a NATS user nkey) that signs what one side puts on NATS.
///
/// ```
/// let key = jeto_nats::SigningKey::generate();
/// assert!(key.public_key().starts_with('U'));
/// let again = jeto_nats::SigningKey::from_seed(&key.seed()).unwrap();
/// assert_eq!(again.public_key(), key.public_key());
/// ```
#[derive(Clone)]
pub struct SigningKey {
    pair: Arc<nkeys::KeyPair>,
    public: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the seed.
        f.debug_tuple("SigningKey").field(&self.public).finish()
    }
}

impl SigningKey {
    /// A new random key.
    pub fn generate() -> Self {
        SigningKey::of(nkeys::KeyPair::new_user())
    }

    /// The key of a user nkey seed (`SU...`, as `jeto keygen` or `nk -gen user` print).
    pub fn from_seed(seed: &str) -> Result<Self, ProviderError> {
        let seed = seed.trim();
        if !seed.starts_with("SU") {
            return Err(ProviderError::invalid(
                "a signing seed is a NATS user nkey seed, starting with SU (make one with `jeto keygen`)",
            ));
        }
        nkeys::KeyPair::from_seed(seed)
            .map(SigningKey::of)
            .map_err(|e| ProviderError::invalid(format!("unreadable signing seed: {e}")))
    }

    fn of(pair: nkeys::KeyPair) -> Self {
        SigningKey {
            public: pair.public_key(),
            pair: Arc::new(pair),
        }
    }

    /// The seed, to keep in a file only its side reads.
    pub fn seed(&self) -> String {
        self.pair
            .seed()
            .expect("a generated or parsed key has its seed")
    }

    /// The public key (`U...`), which the other side is configured with.
    pub fn public_key(&self) -> String {
        self.public.clone()
    }

    /// `body` sealed for `subject` under `id`.
    pub(crate) fn seal<T: Serialize + ?Sized>(
        &self,
        subject: &str,
        id: &str,
        body: &T,
    ) -> bytes::Bytes {
        let body = serde_json::to_string(body).expect("wire types serialise");
        let at = now_ms();
        let signed = signed_bytes(subject, &self.public, at, id, &body);
        let sig = self.pair.sign(&signed).expect("a key with its seed signs");
        crate::wire::to_json(&Envelope {
            v: PROTOCOL,
            key: self.public.clone(),
            at,
            id: id.to_owned(),
            body,
            sig: hex::encode(sig),
        })
    }
}

/// Checks that `key` is a user public key (`U...`), for config files.
pub(crate) fn check_public_key(key: &str) -> Result<(), ProviderError> {
    match nkeys::KeyPair::from_public_key(key) {
        Ok(_) if key.starts_with('U') => Ok(()),
        _ => Err(ProviderError::invalid(format!(
            "{:?} is not a public signing key (a NATS user nkey: U followed by 55 characters, as `jeto keygen` prints)",
            jeto_core::audit::bounded(key)
        ))),
    }
}

/// What travels: a payload's JSON and who signed it, when, for which id.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    /// [`PROTOCOL`] of the sender.
    v: u32,
    key: String,
    at: i64,
    id: String,
    body: String,
    sig: String,
}

/// A verified envelope.
#[derive(Debug)]
pub(crate) struct Opened<T> {
    /// Who signed it (a public key).
    pub(crate) key: String,
    /// When, in milliseconds since the epoch, by the signer's clock.
    pub(crate) at: i64,
    pub(crate) id: String,
    pub(crate) body: T,
}

impl<T> Opened<T> {
    /// Whether it was signed within `max_age` of now (either way, by [`MAX_CLOCK_SKEW`]).
    pub(crate) fn fresh(&self, max_age: Duration) -> bool {
        let age = now_ms() - self.at;
        age <= (max_age + MAX_CLOCK_SKEW).as_millis() as i64
            && -age <= MAX_CLOCK_SKEW.as_millis() as i64
    }
}

/// Opens `payload`, read from `subject`: its signature must hold over that subject.
pub(crate) fn open<T: DeserializeOwned>(
    payload: &[u8],
    subject: &str,
) -> Result<Opened<T>, String> {
    #[derive(Deserialize)]
    struct Version {
        v: Option<u32>,
    }
    match serde_json::from_slice::<Version>(payload).ok().and_then(|v| v.v) {
        Some(PROTOCOL) => {}
        Some(other) => {
            return Err(format!(
                "sent with jeto-nats protocol {other}, this side speaks {PROTOCOL}: upgrade the server and its workers together"
            ))
        }
        None => {
            return Err(
                "not a signed message (a forger's, or a Jeto from before messages were signed: upgrade it)"
                    .into(),
            )
        }
    }
    let envelope: Envelope =
        serde_json::from_slice(payload).map_err(|e| format!("not a signed message: {e}"))?;
    let public = nkeys::KeyPair::from_public_key(&envelope.key)
        .map_err(|e| format!("unreadable signer key: {e}"))?;
    let sig = hex::decode(&envelope.sig).map_err(|_| "unreadable signature".to_owned())?;
    let signed = signed_bytes(
        subject,
        &envelope.key,
        envelope.at,
        &envelope.id,
        &envelope.body,
    );
    public
        .verify(&signed, &sig)
        .map_err(|_| "bad signature (or sent to another subject)".to_owned())?;
    let body =
        serde_json::from_str(&envelope.body).map_err(|e| format!("signed, but unreadable: {e}"))?;
    Ok(Opened {
        key: envelope.key,
        at: envelope.at,
        id: envelope.id,
        body,
    })
}

fn signed_bytes(subject: &str, key: &str, at: i64, id: &str, body: &str) -> Vec<u8> {
    format!("jeto-nats/1\n{subject}\n{key}\n{at}\n{id}\n{body}").into_bytes()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// The workers the server trusts: each one's public key, with the hosts it may serve.
///
/// ```
/// let worker = jeto_nats::SigningKey::generate();
/// let workers = jeto_nats::TrustedWorkers::default()
///     .with(&worker.public_key(), [1, 2])
///     .unwrap();
/// assert!(workers.serves(&worker.public_key(), 2));
/// assert!(!workers.serves(&worker.public_key(), 3));
/// ```
#[derive(Debug, Clone, Default)]
pub struct TrustedWorkers {
    keys: HashMap<String, BTreeSet<u64>>,
}

impl TrustedWorkers {
    /// Trusts the worker of public key `key` for `hosts` (added to the hosts it had).
    pub fn with(
        mut self,
        key: &str,
        hosts: impl IntoIterator<Item = u64>,
    ) -> Result<Self, ProviderError> {
        check_public_key(key)?;
        self.keys.entry(key.to_owned()).or_default().extend(hosts);
        Ok(self)
    }

    /// Whether the worker of `key` may serve `host`.
    pub fn serves(&self, key: &str, host: u64) -> bool {
        self.keys
            .get(key)
            .is_some_and(|hosts| hosts.contains(&host))
    }

    /// The hosts the worker of `key` may serve (none for a key not trusted).
    pub(crate) fn hosts_of(&self, key: &str) -> BTreeSet<u64> {
        self.keys.get(key).cloned().unwrap_or_default()
    }

    /// The keys trusted for `host`.
    pub(crate) fn keys_for(&self, host: u64) -> Vec<String> {
        let mut keys: Vec<String> = self
            .keys
            .iter()
            .filter(|(_, hosts)| hosts.contains(&host))
            .map(|(key, _)| key.clone())
            .collect();
        keys.sort();
        keys
    }

    /// Whether no worker is trusted at all.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Ids of calls seen lately: a call copied and sent again is refused. Bounded: ids older than
/// the freshness window are forgotten, and only signed, fresh calls are ever noted.
#[derive(Debug, Default)]
pub(crate) struct SeenIds {
    seen: Mutex<HashMap<String, i64>>,
}

impl SeenIds {
    /// Notes `id` (signed at `at`); false when it was seen already.
    pub(crate) fn first_time(&self, id: &str, at: i64, window: Duration) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let oldest = now_ms() - (window + MAX_CLOCK_SKEW * 2).as_millis() as i64;
        if seen.len() > 10_000 {
            seen.retain(|_, at| *at >= oldest);
        }
        seen.insert(id.to_owned(), at).is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_message_opens_on_its_subject_only() {
        let key = SigningKey::generate();
        let sealed = key.seal("jeto.host.1.call", "n1", &serde_json::json!({"a": 1}));
        let opened: Opened<serde_json::Value> = open(&sealed, "jeto.host.1.call").unwrap();
        assert_eq!(opened.key, key.public_key());
        assert_eq!(opened.id, "n1");
        assert!(opened.fresh(Duration::from_secs(1)));
        assert!(open::<serde_json::Value>(&sealed, "jeto.host.2.call").is_err());
    }

    #[test]
    fn a_changed_body_or_signer_is_refused() {
        let key = SigningKey::generate();
        let sealed = key.seal("s", "n", &"run this");
        let mut envelope: Envelope = serde_json::from_slice(&sealed).unwrap();
        envelope.body = "\"run that\"".into();
        let tampered = serde_json::to_vec(&envelope).unwrap();
        assert!(open::<String>(&tampered, "s").is_err());
        let mut envelope: Envelope = serde_json::from_slice(&sealed).unwrap();
        envelope.key = SigningKey::generate().public_key();
        let tampered = serde_json::to_vec(&envelope).unwrap();
        assert!(open::<String>(&tampered, "s").is_err());
        assert!(open::<String>(b"{\"plain\": true}", "s").is_err());
    }

    #[test]
    fn another_protocol_version_is_named() {
        let key = SigningKey::generate();
        let sealed = key.seal("s", "n", &1);
        let mut envelope: serde_json::Value = serde_json::from_slice(&sealed).unwrap();
        envelope["v"] = 2.into();
        let error = open::<u32>(&serde_json::to_vec(&envelope).unwrap(), "s").unwrap_err();
        assert!(
            error.contains("protocol 2") && error.contains("upgrade"),
            "{error}"
        );
        let error = open::<u32>(b"{\"call\": \"ping\"}", "s").unwrap_err();
        assert!(error.contains("not a signed message"), "{error}");
    }

    #[test]
    fn an_id_is_taken_once() {
        let seen = SeenIds::default();
        assert!(seen.first_time("a", now_ms(), Duration::from_secs(60)));
        assert!(!seen.first_time("a", now_ms(), Duration::from_secs(60)));
        assert!(seen.first_time("b", now_ms(), Duration::from_secs(60)));
    }

    #[test]
    fn seeds_and_public_keys_are_checked() {
        assert!(SigningKey::from_seed("not a seed").is_err());
        assert!(check_public_key("U-not-a-key").is_err());
        let key = SigningKey::generate();
        assert!(check_public_key(&key.public_key()).is_ok());
        assert!(!format!("{key:?}").contains(&key.seed()));
    }
}
