//! `VagrantProvider::status` against running `vagrant status --machine-readable` directly, on
//! the same Vagrantfile in the same process, interleaved (A, B, A, B, ...) so that drift on the
//! machine hits both alike. Prints the medians and the ratio provider / direct.
//!
//! `cargo bench --bench vagrant_status [-- ROUNDS]` (default 20 rounds). Needs vagrant
//! (`apt-get install -y vagrant`); no hypervisor.

use std::time::{Duration, Instant};

use jeto_core::Provider;
use jeto_vagrant::fixture::FakeVagrant;
use jeto_vagrant::VagrantProvider;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20);
    let fake = FakeVagrant::new();
    let config = fake.config();
    let provider = VagrantProvider::new(config.clone());
    let instance = FakeVagrant::instance(1, &fake.multi(), FakeVagrant::host(&[]));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let direct = || {
        fake.run_vagrant(&fake.multi(), &["--machine-readable", "status"]);
    };
    // Warm the page cache and Vagrant's own caches once each.
    direct();
    runtime.block_on(provider.status(&instance)).unwrap();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        direct();
        a.push(t.elapsed());
        let t = Instant::now();
        let status = runtime.block_on(provider.status(&instance)).unwrap();
        b.push(t.elapsed());
        assert_eq!(status.len(), 2);
    }
    let (direct, jeto) = (median(a), median(b));
    println!("vagrant status, {rounds} interleaved rounds");
    println!("  direct `vagrant --machine-readable status`: median {direct:?}");
    println!("  VagrantProvider::status:                    median {jeto:?}");
    println!(
        "  ratio provider / direct: {:.3}",
        jeto.as_secs_f64() / direct.as_secs_f64()
    );
}
