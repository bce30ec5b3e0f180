//! Webhook endpoints, for admins: made, listed, changed (and resumed), removed; their
//! deliveries read and one sent again. Keys that are not admin are told there is nothing of
//! the kind.

use super::Jeto;
use crate::access::Principal;
use crate::webhooks::{new_secret, WebhookDeliveries};
use crate::{Delivery, Error, Result, Webhook};

/// Delivery records shown at most in one answer.
pub const MAX_DELIVERIES_SHOWN: usize = 200;

impl Jeto {
    fn webhook_admin(&self, who: &Principal) -> Result<&WebhookDeliveries> {
        if !who.admin {
            return Err(Error::NotFound {
                what: "webhooks (admin keys only)".into(),
            });
        }
        self.inner
            .webhooks
            .as_ref()
            .ok_or_else(|| Error::NotSupported {
                what: "webhooks (this service has no sender for them)".into(),
            })
    }

    /// Every endpoint (admins), secrets left out.
    pub async fn webhooks(&self, who: &Principal) -> Result<Vec<Webhook>> {
        self.webhook_admin(who)?;
        let mut webhooks = self.inner.store.webhooks().await?;
        for webhook in &mut webhooks {
            webhook.secret.clear();
        }
        Ok(webhooks)
    }

    /// One endpoint (admins), its secret left out.
    pub async fn webhook(&self, who: &Principal, id: u64) -> Result<Webhook> {
        self.webhook_admin(who)?;
        let mut webhook = self.stored_webhook(id).await?;
        webhook.secret.clear();
        Ok(webhook)
    }

    async fn stored_webhook(&self, id: u64) -> Result<Webhook> {
        self.inner
            .store
            .webhooks()
            .await?
            .into_iter()
            .find(|w| w.id == id)
            .ok_or_else(|| Error::NotFound {
                what: format!("webhook {id}"),
            })
    }

    /// Makes an endpoint (admins): it receives the events written from now on. Its secret is
    /// made when not given, and shown in this answer only.
    pub async fn create_webhook(&self, who: &Principal, mut webhook: Webhook) -> Result<Webhook> {
        let deliveries = self.webhook_admin(who)?;
        webhook.validate()?;
        let max = deliveries.config().max_webhooks;
        if self.inner.store.webhooks().await?.len() >= max {
            return Err(Error::Conflict {
                message: format!(
                    "there are {max} webhooks already, the most allowed; remove one first"
                ),
            });
        }
        if webhook.secret.is_empty() {
            webhook.secret = new_secret();
        }
        webhook.id = 0;
        webhook.paused = None;
        webhook.cursor = self.inner.events.newest();
        let stored = self.inner.store.put_webhook(webhook).await?;
        deliveries.restart(stored.id);
        Ok(stored)
    }

    /// Changes an endpoint (admins): its place in the log stays; `paused: null` resumes it
    /// (the event that failed is sent first); an empty secret keeps the one it has.
    pub async fn update_webhook(
        &self,
        who: &Principal,
        id: u64,
        mut webhook: Webhook,
    ) -> Result<Webhook> {
        let deliveries = self.webhook_admin(who)?;
        webhook.validate()?;
        let current = self.stored_webhook(id).await?;
        if webhook.secret.is_empty() {
            webhook.secret = current.secret;
        }
        webhook.id = id;
        webhook.cursor = current.cursor;
        let mut stored = self.inner.store.put_webhook(webhook).await?;
        deliveries.restart(id);
        stored.secret.clear();
        Ok(stored)
    }

    /// Removes an endpoint and its delivery records (admins).
    pub async fn delete_webhook(&self, who: &Principal, id: u64) -> Result<Webhook> {
        let deliveries = self.webhook_admin(who)?;
        let mut removed =
            self.inner
                .store
                .remove_webhook(id)
                .await?
                .ok_or_else(|| Error::NotFound {
                    what: format!("webhook {id}"),
                })?;
        deliveries.restart(id);
        removed.secret.clear();
        Ok(removed)
    }

    /// The newest delivery attempts of an endpoint (admins), at most `limit`
    /// ([`MAX_DELIVERIES_SHOWN`]).
    pub async fn webhook_deliveries(
        &self,
        who: &Principal,
        id: u64,
        limit: usize,
    ) -> Result<Vec<Delivery>> {
        self.webhook_admin(who)?;
        self.stored_webhook(id).await?;
        self.inner
            .store
            .deliveries(id, limit.clamp(1, MAX_DELIVERIES_SHOWN))
            .await
    }

    /// Sends the event of delivery `delivery` to its endpoint once more (admins), in the
    /// background: the attempt shows in the deliveries. 409 when the event is no longer in
    /// the log.
    pub async fn send_delivery_again(&self, who: &Principal, id: u64, delivery: u64) -> Result<()> {
        let deliveries = self.webhook_admin(who)?;
        let webhook = self.stored_webhook(id).await?;
        let records = self.inner.store.deliveries(id, usize::MAX).await?;
        let Some(record) = records.iter().find(|d| d.id == delivery) else {
            return Err(Error::NotFound {
                what: format!("delivery {delivery} of webhook {id}"),
            });
        };
        let attempts = records
            .iter()
            .filter(|d| d.event == record.event)
            .map(|d| d.attempt)
            .max()
            .unwrap_or(0);
        let event = self
            .inner
            .store
            .events(record.event.saturating_sub(1), 1)
            .await?
            .into_iter()
            .find(|e| e.id == record.event)
            .ok_or_else(|| Error::Conflict {
                message: format!(
                    "event {} is no longer in the event log (events_kept): it cannot be sent again",
                    record.event
                ),
            })?;
        deliveries.send_again(webhook, event, attempts + 1);
        Ok(())
    }
}
