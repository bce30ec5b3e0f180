//! Throughput of the machine-readable parser on real captured output.
#![allow(missing_docs)] // criterion_group! generates undocumented functions.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use jeto_vagrant::machine_readable::{console_text, parse, parse_line, records, statuses};

const STATUS_MULTI: &str = include_str!("../jeto-vagrant/tests/captured/status_multi.txt");
const UP: &str = include_str!("../jeto-vagrant/tests/captured/up.txt");

fn bench(c: &mut Criterion) {
    // A long `vagrant up` log: the captured up, repeated.
    let up_log = UP.repeat(2_000);
    let mut group = c.benchmark_group("machine_readable");
    group.throughput(Throughput::Bytes(up_log.len() as u64));
    group.bench_function("console_of_up_log", |b| {
        b.iter(|| {
            up_log
                .lines()
                .filter_map(|raw| console_text(raw, &parse_line(raw)))
                .count()
        })
    });
    group.throughput(Throughput::Bytes(STATUS_MULTI.len() as u64));
    group.bench_function("status_multi", |b| {
        b.iter(|| statuses(&records(&parse(STATUS_MULTI))))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
