//! Webhook deliveries: every endpoint follows the durable event log on its own task, in
//! order, at least once, signed per the Standard Webhooks specification; a failed delivery is
//! tried again with exponential backoff and jitter for a bounded time, then recorded failed
//! and the endpoint paused (its place in the log kept, so nothing is lost when an admin
//! resumes it). Deliveries never block commands or requests: they run on their own tasks,
//! at most `max_in_flight` at once, each bounded in time by the [`WebhookSender`].

mod signing;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::{Notify, Semaphore};

use crate::events::EventLog;
use crate::metrics::Metrics;
use crate::{Delivery, DeliveryOutcome, Event, Result, Webhook};

pub(crate) use signing::new_secret;

/// Sends one signed delivery; Jeto's HTTP adapter gives one over its HTTP client.
#[async_trait]
pub trait WebhookSender: Send + Sync + std::fmt::Debug {
    /// POSTs `body` to `url` with `headers`: the status answered, or why there was none.
    /// It must give up within its own time limit and read a bounded part of the answer.
    async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: String,
    ) -> std::result::Result<u16, String>;
}

/// How deliveries are tried.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeliveryConfig {
    /// The wait before the second attempt; each later one waits twice as long (with jitter).
    pub first_retry: Duration,
    /// The longest wait between two attempts.
    pub max_retry_wait: Duration,
    /// How long an event is tried before it is recorded failed and the endpoint paused.
    pub retry_for: Duration,
    /// Deliveries in flight at once, all endpoints together.
    pub max_in_flight: usize,
    /// Delivery records kept per endpoint (the oldest are dropped).
    pub deliveries_kept: usize,
    /// Endpoints at most.
    pub max_webhooks: usize,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            first_retry: Duration::from_secs(1),
            max_retry_wait: Duration::from_secs(300),
            retry_for: Duration::from_secs(3600),
            max_in_flight: 8,
            deliveries_kept: 1000,
            max_webhooks: 100,
        }
    }
}

/// Events read from the log at once per endpoint.
const PAGE: usize = 100;
/// How long an idle endpoint waits for news before it looks at the log anyway.
const IDLE_LOOK: Duration = Duration::from_secs(5);

/// The delivery tasks of every endpoint.
#[derive(Debug, Clone)]
pub(crate) struct WebhookDeliveries {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    events: EventLog,
    sender: Arc<dyn WebhookSender>,
    config: DeliveryConfig,
    in_flight: Arc<Semaphore>,
    /// Woken at every event written.
    news: Arc<Notify>,
    tasks: Mutex<HashMap<u64, tokio::task::AbortHandle>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            task.abort();
        }
    }
}

impl WebhookDeliveries {
    /// Starts a task per stored endpoint, woken by every event written.
    pub(crate) async fn start(
        events: EventLog,
        sender: Arc<dyn WebhookSender>,
        config: DeliveryConfig,
    ) -> Result<WebhookDeliveries> {
        let deliveries = WebhookDeliveries {
            inner: Arc::new(Inner {
                in_flight: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
                events,
                sender,
                config,
                news: Arc::new(Notify::new()),
                tasks: Mutex::default(),
            }),
        };
        for webhook in deliveries.inner.events.store().webhooks().await? {
            deliveries.restart(webhook.id);
        }
        let weak = Arc::downgrade(&deliveries.inner);
        let mut live = deliveries.inner.events.subscribe();
        tokio::spawn(async move {
            loop {
                let next = live.recv().await;
                let Some(inner) = weak.upgrade() else { return };
                match next {
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        inner.news.notify_waiters()
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Ok(deliveries)
    }

    /// The settings in use.
    pub(crate) fn config(&self) -> &DeliveryConfig {
        &self.inner.config
    }

    /// (Re)starts the task of endpoint `id` from what the store holds (after it was made,
    /// changed or removed: a removed one just stops).
    pub(crate) fn restart(&self, id: u64) {
        let mut tasks = self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(task) = tasks.remove(&id) {
            task.abort();
        }
        let weak = Arc::downgrade(&self.inner);
        let news = self.inner.news.clone();
        let task = tokio::spawn(async move { follow(weak, news, id).await });
        tasks.insert(id, task.abort_handle());
    }

    /// Stops every delivery task (the service shuts down); an event being delivered is sent
    /// again at the next start.
    pub(crate) fn stop(&self) {
        let mut tasks = self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner());
        for (_, task) in tasks.drain() {
            task.abort();
        }
    }

    /// Sends `event` to `webhook` once more (an admin asked), on a task of its own.
    pub(crate) fn send_again(&self, webhook: Webhook, event: Event, attempt: u32) {
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let (delivered, mut record) = attempt_once(&inner, &webhook, &event, attempt).await;
            if !delivered {
                record.outcome = DeliveryOutcome::Failed;
            }
            let _ = record_delivery(&inner, record).await;
        });
    }
}

/// One endpoint's task: its events in order, each until delivered or given up.
async fn follow(weak: std::sync::Weak<Inner>, news: Arc<Notify>, id: u64) {
    loop {
        // Registered before the log is read: an event written meanwhile still wakes it.
        let woken = news.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let Some(inner) = weak.upgrade() else { return };
        match deliver_some(&inner, id).await {
            Round::Gone => return,
            Round::Busy => continue,
            Round::Idle => {}
        }
        // Not held while idle: the service may stop meanwhile.
        drop(inner);
        let _ = tokio::time::timeout(IDLE_LOOK, woken).await;
    }
}

/// What one round of an endpoint's task found.
enum Round {
    /// The endpoint was removed.
    Gone,
    /// It delivered (or skipped) events: there may be more.
    Busy,
    /// Nothing to do (no new event, paused, or the store did not answer).
    Idle,
}

/// Delivers the next page of events of endpoint `id`, in order; stops at one that cannot be
/// delivered (the endpoint is then paused, its place kept before that event).
async fn deliver_some(inner: &Inner, id: u64) -> Round {
    let store = inner.events.store();
    let Ok(webhooks) = store.webhooks().await else {
        return Round::Idle;
    };
    let Some(webhook) = webhooks.into_iter().find(|w| w.id == id) else {
        return Round::Gone;
    };
    if webhook.paused.is_some() {
        return Round::Idle;
    }
    let events = store.events(webhook.cursor, PAGE).await.unwrap_or_default();
    if events.is_empty() {
        return Round::Idle;
    }
    let mut cursor = webhook.cursor;
    for event in events {
        if webhook.wants(&event) {
            if let Err(why) = deliver(inner, &webhook, &event).await {
                let _ = store.advance_webhook(id, cursor, Some(why)).await;
                return Round::Idle;
            }
            let _ = store.advance_webhook(id, event.id, None).await;
        }
        cursor = event.id;
    }
    let _ = store.advance_webhook(id, cursor, None).await;
    Round::Busy
}

/// Delivers `event` until it is delivered (`Ok`) or the time for tries is over (`Err`
/// saying why, which pauses the endpoint).
async fn deliver(
    inner: &Inner,
    webhook: &Webhook,
    event: &Event,
) -> std::result::Result<(), String> {
    let started = Instant::now();
    let mut attempt = 1;
    loop {
        let (delivered, mut record) = attempt_once(inner, webhook, event, attempt).await;
        if delivered {
            let _ = record_delivery(inner, record).await;
            return Ok(());
        }
        let wait = backoff(&inner.config, attempt);
        let why = record.error.clone().unwrap_or_default();
        if started.elapsed() + wait > inner.config.retry_for {
            record.outcome = DeliveryOutcome::Failed;
            let _ = record_delivery(inner, record).await;
            return Err(format!(
                "event {} could not be delivered for {} s ({} attempts; last: {why}); resume it to send it again",
                event.id,
                inner.config.retry_for.as_secs(),
                attempt
            ));
        }
        let _ = record_delivery(inner, record).await;
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

/// One signed POST of `event`; whether it was delivered, and its record (outcome
/// `Delivered` or `Retrying`).
async fn attempt_once(
    inner: &Inner,
    webhook: &Webhook,
    event: &Event,
    attempt: u32,
) -> (bool, Delivery) {
    let mut record = Delivery::new(webhook.id, event, attempt, DeliveryOutcome::Retrying);
    let body = serde_json::to_string(event).expect("events serialise");
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let Some(headers) = signing::signed_headers(
        &webhook.secret,
        &format!("evt_{}", event.id),
        timestamp,
        &body,
    ) else {
        record.error = Some("the webhook's secret is not a whsec_ secret".into());
        return (false, record);
    };
    let _permit = inner.in_flight.acquire().await;
    let started = Instant::now();
    let answer = inner.sender.post(&webhook.url, &headers, body).await;
    record.duration_ms = started.elapsed().as_millis().min(u64::MAX as u128) as u64;
    let delivered = match answer {
        Ok(status) => {
            record.status = Some(status);
            if (200..300).contains(&status) {
                record.outcome = DeliveryOutcome::Delivered;
                true
            } else {
                record.error = Some(format!("the endpoint answered {status}"));
                false
            }
        }
        Err(why) => {
            record.error = Some(why);
            false
        }
    };
    (delivered, record)
}

async fn record_delivery(inner: &Inner, record: Delivery) -> Result<Delivery> {
    if let Some(metrics) = inner.events.metrics() {
        metrics.webhook_delivery(record.outcome.as_str());
    }
    let keep = inner.config.deliveries_kept;
    let store = inner.events.store();
    Metrics::timed(
        inner.events.metrics(),
        "append_delivery",
        store.append_delivery(record, keep),
    )
    .await
}

/// The wait after failed attempt `attempt`: `first_retry` doubled each time, at most
/// `max_retry_wait`, with jitter (between half and all of it) so endpoints that failed
/// together do not come back together.
fn backoff(config: &DeliveryConfig, attempt: u32) -> Duration {
    let doubled = config
        .first_retry
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let ceiling = doubled.min(config.max_retry_wait);
    let mut random = [0u8; 2];
    let _ = getrandom::getrandom(&mut random);
    let fraction = 0.5 + f64::from(u16::from_le_bytes(random)) / f64::from(u16::MAX) / 2.0;
    ceiling.mul_f64(fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_ceiling_with_jitter() {
        let config = DeliveryConfig {
            first_retry: Duration::from_secs(1),
            max_retry_wait: Duration::from_secs(8),
            ..DeliveryConfig::default()
        };
        for (attempt, ceiling) in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 8), (40, 8)] {
            let wait = backoff(&config, attempt);
            let ceiling = Duration::from_secs(ceiling);
            assert!(
                wait <= ceiling && wait >= ceiling / 2,
                "{attempt}: {wait:?}"
            );
        }
    }
}
