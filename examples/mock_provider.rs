//! A test harness as a user's crate would write one: code under test takes a `&dyn Provider`,
//! and the tests drive it through mockall's `MockProvider` (to check calls) and the
//! `InMemoryProvider` (to check behaviour).
//!
//! Run: `cargo run --example mock_provider`

use jeto_core::testing::{instance_at, InMemoryProvider};
use jeto_core::{
    Action, ActionRequest, ConsoleSink, Instance, MockProvider, Outcome, Provider, Status,
};

/// The code under test: make sure every machine of an instance runs, starting only the
/// stopped ones. Returns the machines it started.
async fn ensure_running(
    provider: &dyn Provider,
    instance: &Instance,
) -> jeto_core::Result<Vec<String>> {
    let mut started = Vec::new();
    for machine in provider.status(instance).await? {
        if !machine.is_running() {
            let request = ActionRequest::new(Action::Start).on(&machine.name);
            let outcome = provider
                .run(
                    instance,
                    &(request).check(instance).unwrap(),
                    ConsoleSink::discard(),
                )
                .await?;
            if !outcome.is_success() {
                return Err(jeto_core::Error::invalid(format!(
                    "could not start {}",
                    machine.name
                )));
            }
            started.push(machine.name);
        }
    }
    Ok(started)
}

async fn with_mock() {
    let mut mock = MockProvider::new();
    mock.expect_status().times(1).returning(|_| {
        Ok(vec![
            Status::new("www", "running"),
            Status::new("db", "poweroff"),
        ])
    });
    mock.expect_run()
        .withf(|_, request, _| {
            request.action == Action::Start && request.machine.as_deref() == Some("db")
        })
        .times(1)
        .returning(|_, _, _| Ok(Outcome::success()));
    let started = ensure_running(&mock, &instance_at(1, "/srv/app"))
        .await
        .unwrap();
    assert_eq!(started, ["db"]);
    println!("MockProvider: started {started:?}, expectations met");
}

async fn with_in_memory() {
    let provider = InMemoryProvider::new().with_instance("/srv/app", &["www", "db"]);
    let instance = instance_at(1, "/srv/app");
    let first = ensure_running(&provider, &instance).await.unwrap();
    let second = ensure_running(&provider, &instance).await.unwrap();
    assert_eq!(first, ["www", "db"]);
    assert!(second.is_empty(), "already running machines are left alone");
    println!(
        "InMemoryProvider: first pass started {first:?}, second pass {second:?}; {} runs recorded",
        provider.stats().runs.len()
    );
}

#[tokio::main]
async fn main() {
    with_mock().await;
    with_in_memory().await;
}
