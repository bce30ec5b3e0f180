//! Embedding Jeto with no HTTP: the service over the real vagrant CLI, driven in-process.
//!
//! Uses the test plugin (`jeto_fake`, no hypervisor needed) so it runs anywhere vagrant is
//! installed. Run: `cargo run --example embed`

use std::sync::Arc;

use jeto_core::access::Principal;
use jeto_core::service::CreateInstance;
use jeto_core::Host;
use jeto_core::{Action, ActionRequest, Jeto};
use jeto_vagrant::fixture::FakeVagrant;
use jeto_vagrant::VagrantProvider;

#[tokio::main]
async fn main() -> Result<(), jeto_core::Error> {
    let fake = FakeVagrant::new();
    let jeto = Jeto::builder(Arc::new(VagrantProvider::new(fake.config())))
        .build()
        .await?;
    // Embedders that authenticate on their own act as a principal of their choice.
    let me = Principal::admin("embedder");
    let host = jeto
        .create_host(&me, Host::new("fake", "jeto_fake"))
        .await?;
    let web = jeto
        .create_instance(
            &me,
            CreateInstance {
                name: "web".into(),
                host: host.id,
                environment: "demo".into(),
                path: Some(fake.multi().display().to_string()),
                ..Default::default()
            },
        )
        .await?;
    let id = web.instance.id;

    let (command, instance) = jeto
        .run(&me, id, ActionRequest::new(Action::Start).on("www"))
        .await?;
    let took = command
        .finished_at
        .zip(command.started_at)
        .map(|(f, s)| (f - s).whole_milliseconds());
    println!(
        "start www: {} in {} ms",
        command.status.as_str(),
        took.unwrap_or_default()
    );
    for machine in &instance.instance.status {
        println!(
            "  {:<4} {:<12} {}",
            machine.name,
            machine.status,
            machine.ip.as_deref().unwrap_or("-")
        );
    }

    // Async: submit, then follow the console while it runs.
    let handle = jeto
        .submit(
            &me,
            id,
            ActionRequest::new(Action::RunScript)
                .on("www")
                .script("hello"),
        )
        .await?;
    let mut console = handle.follow()?;
    while let Some(chunk) = console.next_chunk().await {
        print!("  console: {chunk}");
    }
    println!("runScript hello: {}", handle.wait().await.status.as_str());

    let destroyed = jeto.delete_instance(&me, id, false).await?;
    println!(
        "delete: {}; instances left: {}",
        destroyed.status.as_str(),
        jeto.instances(&me, false).await?.len()
    );
    Ok(())
}
