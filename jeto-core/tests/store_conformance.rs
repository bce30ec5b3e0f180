//! The store conformance suite against the in-memory store and the SQLite store (reopened from
//! its file for the persistence checks).

use std::sync::Arc;

use jeto_core::store::{MemoryStore, SqliteStore, Store};
use jeto_core::testing::store_conformance;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_passes_the_suite() {
    let store = MemoryStore::new();
    store_conformance::run_all(move || Arc::new(store.clone()) as Arc<dyn Store>, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_passes_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    store_conformance::run_all(
        move || Arc::new(SqliteStore::open(&path).unwrap()) as Arc<dyn Store>,
        true,
    )
    .await;
}
