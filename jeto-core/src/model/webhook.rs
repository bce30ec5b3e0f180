//! Webhooks: endpoints admins register to receive events, and the record of each delivery.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::error::{Error, Result};
use super::{Event, EventKind};

/// An HTTP endpoint that receives events as they are written, signed per the
/// [Standard Webhooks](https://www.standardwebhooks.com/) specification.
///
/// The wire shape is the same for `/api/webhooks`, `[[webhooks]]` in the config and the
/// store; the secret is only ever shown in the answer that made it.
///
/// ```
/// use jeto_core::Webhook;
/// let hook = Webhook::new("https://chat.example.org/hooks/jeto").types(["command_ended"]);
/// hook.validate().unwrap();
/// assert!(Webhook::new("ftp://example.org/").validate().is_err());
/// ```
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Webhook {
    /// Unique, positive id, assigned by the server (0 in one not stored yet).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(read_only))]
    pub id: u64,
    /// Where events are POSTed (http or https).
    pub url: String,
    /// The event types sent (`command_ended`, ...); empty: every type.
    #[serde(default)]
    pub types: BTreeSet<String>,
    /// Only events of these instances; empty: any.
    #[serde(default)]
    pub instances: BTreeSet<u64>,
    /// Only events of these hosts; empty: any.
    #[serde(default)]
    pub hosts: BTreeSet<u64>,
    /// The signing secret, `whsec_` and base64 (made when not given). Shown once, in the
    /// answer that created it; empty in every other answer.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub secret: String,
    /// Why deliveries are paused (they failed for too long); `null` while it delivers. An
    /// admin resumes it by setting it to `null`: the event that failed is sent first.
    #[serde(default)]
    pub paused: Option<String>,
    /// The id of the last event handled (delivered, or filtered out); the next delivery is
    /// of the first event after it.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(read_only))]
    pub cursor: u64,
}

impl Webhook {
    /// An endpoint at `url` receiving every event, with no secret yet.
    pub fn new(url: impl Into<String>) -> Self {
        Webhook {
            id: 0,
            url: url.into(),
            types: BTreeSet::new(),
            instances: BTreeSet::new(),
            hosts: BTreeSet::new(),
            secret: String::new(),
            paused: None,
            cursor: 0,
        }
    }

    /// The same endpoint, receiving only these event types.
    pub fn types<I: IntoIterator<Item = S>, S: Into<String>>(mut self, types: I) -> Self {
        self.types = types.into_iter().map(Into::into).collect();
        self
    }

    /// Checks it as the API does: an http(s) URL without credentials, known event types, a
    /// well-formed secret when one is given.
    pub fn validate(&self) -> Result<()> {
        let invalid = |message: String| Error::InvalidRequest { message };
        let rest = self
            .url
            .strip_prefix("https://")
            .or_else(|| self.url.strip_prefix("http://"))
            .ok_or_else(|| {
                invalid(format!(
                    "url {:?} must start with http:// or https://",
                    self.url
                ))
            })?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if authority.is_empty() || authority.contains('@') || self.url.len() > 2048 {
            return Err(invalid(format!(
                "url {:?} needs a host, no user or password in it, and at most 2048 characters",
                self.url
            )));
        }
        if self
            .url
            .chars()
            .any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(invalid(
                "url must not contain spaces or control characters".into(),
            ));
        }
        if let Some(unknown) = self
            .types
            .iter()
            .find(|t| !EventKind::TYPES.contains(&t.as_str()))
        {
            return Err(invalid(format!(
                "unknown event type {unknown:?}; known: {}",
                EventKind::TYPES.join(", ")
            )));
        }
        if !self.secret.is_empty() && secret_key(&self.secret).is_none() {
            return Err(invalid(
                "secret must be whsec_ followed by base64 of 24 to 64 bytes (or left out: one is made)".into(),
            ));
        }
        Ok(())
    }

    /// Whether `event` is sent to this endpoint.
    pub fn wants(&self, event: &Event) -> bool {
        (self.types.is_empty() || self.types.contains(event.type_name()))
            && (self.instances.is_empty()
                || event.instance.is_some_and(|i| self.instances.contains(&i)))
            && (self.hosts.is_empty() || event.host.is_some_and(|h| self.hosts.contains(&h)))
    }
}

/// The key bytes of a `whsec_` secret, when it is one.
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let encoded = secret.strip_prefix("whsec_")?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    (24..=64).contains(&key.len()).then_some(key)
}

/// What became of one attempt to deliver an event.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// The endpoint answered 2xx.
    Delivered,
    /// It failed; it will be tried again.
    Retrying,
    /// It failed, and the time for tries is over: the endpoint is paused.
    Failed,
}

impl DeliveryOutcome {
    /// Its wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Retrying => "retrying",
            DeliveryOutcome::Failed => "failed",
        }
    }
}

/// One attempt to deliver an event to a webhook.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Delivery {
    /// Unique, positive id (0 before it is stored).
    #[serde(default)]
    pub id: u64,
    /// The webhook.
    pub webhook: u64,
    /// The event (its id is also the `webhook-id` header, `evt_<id>`).
    pub event: u64,
    /// The event's type.
    pub event_type: String,
    /// The attempt's number for this event (1 for the first).
    pub attempt: u32,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: OffsetDateTime,
    /// The HTTP status answered, if any.
    #[serde(default)]
    pub status: Option<u16>,
    /// Why it failed, if it did.
    #[serde(default)]
    pub error: Option<String>,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// What became of it.
    pub outcome: DeliveryOutcome,
}

impl Delivery {
    /// A record of attempt `attempt` of `event` to `webhook`, made now.
    pub fn new(webhook: u64, event: &Event, attempt: u32, outcome: DeliveryOutcome) -> Self {
        Delivery {
            id: 0,
            webhook,
            event: event.id,
            event_type: event.type_name().to_owned(),
            attempt,
            at: OffsetDateTime::now_utc(),
            status: None,
            error: None,
            duration_ms: 0,
            outcome,
        }
    }
}
