//! The provider conformance suite against the in-memory provider (directly and boxed), and
//! against two providers that break the trait's contract, which it must fail.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use jeto_core::testing::conformance::{self, Fixture};
use jeto_core::testing::InMemoryProvider;
use jeto_core::{
    CheckedRequest, ConsoleSink, Instance, InstanceSource, Outcome, Provider, ProviderError,
    Result, Status,
};

#[tokio::test(start_paused = true)]
async fn in_memory_provider_passes_the_suite() {
    let provider = InMemoryProvider::new();
    let fixture = Fixture::in_memory(&provider);
    conformance::run_all(&provider, &fixture).await;
}

#[tokio::test(start_paused = true)]
async fn boxed_dyn_provider_passes_the_suite() {
    let memory = InMemoryProvider::new();
    let fixture = Fixture::in_memory(&memory);
    let boxed: Box<dyn Provider> = Box::new(memory);
    conformance::run_all(&boxed, &fixture).await;
}

#[tokio::test(start_paused = true)]
async fn arc_dyn_provider_passes_the_suite() {
    let memory = InMemoryProvider::new();
    let fixture = Fixture::in_memory(&memory);
    let shared: jeto_core::DynProvider = std::sync::Arc::new(memory);
    conformance::run_all(&shared, &fixture).await;
}

/// Passes its output on only when the action has ended.
#[derive(Debug)]
struct BufferingProvider(InMemoryProvider);

/// Runs each action on a detached task, so dropping `run`'s future leaves it running.
#[derive(Debug)]
struct LeakingProvider(InMemoryProvider);

#[async_trait]
impl Provider for BufferingProvider {
    async fn status(&self, instance: &Instance) -> Result<Vec<Status>, ProviderError> {
        self.0.status(instance).await
    }
    async fn run(
        &self,
        instance: &Instance,
        request: &CheckedRequest,
        console: ConsoleSink,
    ) -> Result<Outcome, ProviderError> {
        let buffer = Arc::new(Mutex::new(Vec::<String>::new()));
        let collect = buffer.clone();
        let sink = ConsoleSink::new(move |l: &str| collect.lock().unwrap().push(l.to_owned()));
        let outcome = self.0.run(instance, request, sink).await;
        for line in buffer.lock().unwrap().iter() {
            console.line(line);
        }
        outcome
    }
    async fn ip(
        &self,
        instance: &Instance,
        machine: &str,
    ) -> Result<Option<String>, ProviderError> {
        self.0.ip(instance, machine).await
    }
    async fn prepare(
        &self,
        host: &jeto_core::Host,
        source: &InstanceSource,
        target: &Path,
    ) -> Result<PathBuf, ProviderError> {
        self.0.prepare(host, source, target).await
    }
}

#[async_trait]
impl Provider for LeakingProvider {
    async fn status(&self, instance: &Instance) -> Result<Vec<Status>, ProviderError> {
        self.0.status(instance).await
    }
    async fn run(
        &self,
        instance: &Instance,
        request: &CheckedRequest,
        console: ConsoleSink,
    ) -> Result<Outcome, ProviderError> {
        let (provider, instance, request) = (self.0.clone(), instance.clone(), request.clone());
        tokio::spawn(async move {
            provider
                .run(&instance, &(request).check(&instance).unwrap(), console)
                .await
        })
        .await
        .expect("the detached run")
    }
    async fn ip(
        &self,
        instance: &Instance,
        machine: &str,
    ) -> Result<Option<String>, ProviderError> {
        self.0.ip(instance, machine).await
    }
    async fn prepare(
        &self,
        host: &jeto_core::Host,
        source: &InstanceSource,
        target: &Path,
    ) -> Result<PathBuf, ProviderError> {
        self.0.prepare(host, source, target).await
    }
}

/// Runs the whole suite on `provider` and returns its panic message (`None` if it passed).
async fn suite_failure<P: Provider>(provider: P, fixture: Fixture) -> Option<String> {
    let outcome =
        tokio::spawn(async move { conformance::run_all(&provider, &fixture).await }).await;
    let panic = outcome.err()?.into_panic();
    Some(
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default(),
    )
}

#[tokio::test(start_paused = true)]
async fn the_suite_fails_a_provider_that_buffers_its_output() {
    let memory = InMemoryProvider::new();
    let fixture = Fixture::in_memory(&memory);
    let failure = suite_failure(BufferingProvider(memory), fixture)
        .await
        .expect("the suite must fail a buffering provider");
    assert!(failure.contains("buffered"), "{failure}");
}

#[tokio::test(start_paused = true)]
async fn the_suite_fails_a_provider_whose_actions_outlive_their_future() {
    let memory = InMemoryProvider::new();
    let fixture = Fixture::in_memory(&memory);
    let failure = suite_failure(LeakingProvider(memory), fixture)
        .await
        .expect("the suite must fail a provider that leaks its actions");
    assert!(failure.contains("must stop it"), "{failure}");
}
