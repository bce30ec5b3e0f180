//! Store work runs on tokio's blocking threads: SQLite and file calls block.

use crate::model::{Error, Result};

/// Runs file work on tokio's blocking threads, off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::storage("a file task", e))?
}
