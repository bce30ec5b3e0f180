//! What Jeto keeps in JetStream: the command stream, the workers' presence bucket and the
//! results bucket, made by whichever side starts first.

use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};

type AnyError = Box<dyn std::error::Error + Send + Sync>;
use jeto_core::ProviderError;

/// The work-queue stream of actions waiting for a worker.
pub(crate) const COMMAND_STREAM: &str = "JETO_COMMANDS";
/// Key-value bucket: one key per worker, rewritten every heartbeat, gone after [`PRESENCE_TTL`].
pub(crate) const PRESENCE_BUCKET: &str = "jeto_workers";
/// Key-value bucket: per run, `started` when a worker takes it, then its result.
pub(crate) const RESULTS_BUCKET: &str = "jeto_results";

/// How often a worker says it is alive (presence, and on each running action).
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(2);
/// The largest worker beat: the presence bucket refuses larger ones (when this version made
/// it), and the server ignores them whatever the bucket took.
pub(crate) const MAX_BEAT_BYTES: usize = 4096;
/// A worker not heard from for this long is offline (its presence key expires too).
pub(crate) const PRESENCE_TTL: Duration = Duration::from_secs(10);
/// How long a run's record is kept: long enough for any caller to read its result.
const RESULT_TTL: Duration = Duration::from_secs(3600);
/// How long making the stream and buckets is retried: a cluster electing its leaders
/// answers "temporarily unavailable" for a few seconds after it starts.
const SETUP_PATIENCE: Duration = Duration::from_secs(30);

/// How Jeto's stream and buckets are made in JetStream.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JetStreamSetup {
    /// Copies of each, on as many NATS servers (1 for one server, 3 for a 3-node cluster).
    pub replicas: usize,
}

impl Default for JetStreamSetup {
    fn default() -> Self {
        JetStreamSetup { replicas: 1 }
    }
}

impl JetStreamSetup {
    /// With `replicas` copies of the stream and buckets (at most the cluster's size).
    pub fn replicas(replicas: usize) -> Self {
        JetStreamSetup {
            replicas: replicas.max(1),
        }
    }

    /// The command stream, made when it is not there yet.
    pub(crate) async fn command_stream(
        &self,
        jetstream: &jetstream::Context,
    ) -> Result<stream::Stream, ProviderError> {
        let config = stream::Config {
            name: COMMAND_STREAM.into(),
            subjects: vec!["jeto.host.*.command".into()],
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            num_replicas: self.replicas,
            // Publishes are retried with the run as message id: a retry is never a second copy.
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        };
        patiently("making the command stream", || async {
            Ok::<_, AnyError>(jetstream.get_or_create_stream(config.clone()).await?)
        })
        .await
    }

    /// The workers' presence bucket.
    pub(crate) async fn presence(
        &self,
        jetstream: &jetstream::Context,
    ) -> Result<kv::Store, ProviderError> {
        self.bucket(
            jetstream,
            PRESENCE_BUCKET,
            PRESENCE_TTL,
            MAX_BEAT_BYTES as i32,
        )
        .await
    }

    /// The runs' results bucket.
    pub(crate) async fn results(
        &self,
        jetstream: &jetstream::Context,
    ) -> Result<kv::Store, ProviderError> {
        self.bucket(jetstream, RESULTS_BUCKET, RESULT_TTL, -1).await
    }

    async fn bucket(
        &self,
        jetstream: &jetstream::Context,
        name: &str,
        max_age: Duration,
        max_message_size: i32,
    ) -> Result<kv::Store, ProviderError> {
        // The bucket's stream made as a key-value bucket is (async-nats's own
        // `create_key_value` first reads the account in a shape nats-server 2.9 does not send).
        let config = stream::Config {
            name: format!("KV_{name}"),
            subjects: vec![format!("$KV.{name}.>")],
            max_messages_per_subject: 1,
            max_age,
            storage: stream::StorageType::File,
            num_replicas: self.replicas,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: stream::DiscardPolicy::New,
            max_message_size,
            ..Default::default()
        };
        patiently(&format!("making the {name} bucket"), || async {
            jetstream.get_or_create_stream(config.clone()).await?;
            Ok::<_, AnyError>(jetstream.get_key_value(name).await?)
        })
        .await
    }
}

/// Retries `attempt` until it succeeds or [`SETUP_PATIENCE`] has passed.
async fn patiently<T, F, Fut>(what: &str, mut attempt: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AnyError>>,
{
    let deadline = tokio::time::Instant::now() + SETUP_PATIENCE;
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(error) if tokio::time::Instant::now() >= deadline => {
                return Err(ProviderError::Unavailable {
                    message: format!(
                        "{what} failed after {}s of retries: NATS: {error} (is JetStream on? \
                         start nats-server with -js, and on a cluster keep replicas at most \
                         the number of servers)",
                        SETUP_PATIENCE.as_secs()
                    ),
                    source: Some(error),
                })
            }
            Err(error) => {
                tracing::debug!(%error, "{what}: JetStream not ready, retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}
