//! The provider conformance suite against the in-memory provider, directly and boxed.

use jeto_core::conformance::{self, Fixture};
use jeto_core::memory::InMemoryProvider;
use jeto_core::Provider;

#[tokio::test]
async fn in_memory_provider_passes_the_suite() {
    let provider = InMemoryProvider::new();
    let fixture = Fixture::in_memory(&provider);
    conformance::run_all(&provider, &fixture).await;
}

#[tokio::test]
async fn boxed_dyn_provider_passes_the_suite() {
    let memory = InMemoryProvider::new();
    let fixture = Fixture::in_memory(&memory);
    let boxed: Box<dyn Provider> = Box::new(memory);
    conformance::run_all(&boxed, &fixture).await;
}

#[tokio::test]
async fn arc_dyn_provider_passes_the_suite() {
    let memory = InMemoryProvider::new();
    let fixture = Fixture::in_memory(&memory);
    let shared: jeto_core::DynProvider = std::sync::Arc::new(memory);
    conformance::run_all(&shared, &fixture).await;
}
