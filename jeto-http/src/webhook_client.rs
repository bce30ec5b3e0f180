//! [`WebhookClient`]: webhook deliveries over Jeto's HTTP client (reqwest on rustls).

use std::time::Duration;

use jeto_core::webhooks::WebhookSender;

/// Bytes of an endpoint's answer read at most (the rest is never read).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Sends webhook deliveries: a POST per attempt, no redirect followed, no proxy from the
/// environment, bounded in time (connect and whole attempt) and in the bytes of the answer
/// read, so an endpoint that never answers or answers forever costs one attempt's time.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use jeto_core::{testing::InMemoryProvider, Jeto};
/// let jeto = Jeto::builder(Arc::new(InMemoryProvider::new()))
///     .webhook_sender(Arc::new(jeto_http::WebhookClient::new(std::time::Duration::from_secs(10))))
///     .build()
///     .await
///     .unwrap();
/// # let _ = jeto; });
/// ```
#[derive(Debug, Clone)]
pub struct WebhookClient {
    client: reqwest::Client,
}

impl WebhookClient {
    /// A client giving each attempt at most `timeout`.
    pub fn new(timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .timeout(timeout)
            .no_proxy()
            .user_agent(concat!("jeto-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the webhook client builds (rustls, no system settings)");
        WebhookClient { client }
    }
}

#[jeto_core::async_trait]
impl WebhookSender for WebhookClient {
    async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: String,
    ) -> Result<u16, String> {
        let mut request = self.client.post(url).body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let mut answer = request.send().await.map_err(|e| describe(&e))?;
        let status = answer.status().as_u16();
        // Read a little of the answer (a connection is reused only when its body is read),
        // never all of it.
        let mut read = 0;
        while read < MAX_ANSWER_BYTES {
            match answer.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                _ => break,
            }
        }
        Ok(status)
    }
}

/// A reqwest error with its causes.
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "no answer in time".to_owned()
    } else {
        error.to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}
