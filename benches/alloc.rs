//! Criterion benchmarks of the allocator: placing 1k / 10k / 100k requests into an
//! IPv4 /8 and an IPv6 /32, re-planning an unchanged 100k ledger, and one request
//! against a 100k-entry ledger. `cargo bench --bench alloc`.

use std::collections::BTreeMap;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use ipam::alloc::{Pool, Prior, Request, Rules, Strategy};

/// `n` requests of mixed sizes: /24../30 in IPv4, /48../64 in IPv6.
pub fn requests(n: usize, v6: bool) -> BTreeMap<String, Request> {
    (0..n)
        .map(|i| {
            let p = if v6 {
                48 + (i % 17) as u8
            } else {
                24 + (i % 7) as u8
            };
            (format!("req-{i:06}"), Request::Size(Some(p)))
        })
        .collect()
}

pub fn pool(v6: bool) -> Pool {
    let cidr = if v6 { "2001:db8::/32" } else { "10.0.0.0/8" };
    Pool::new(
        &[cidr.parse().unwrap()],
        &[],
        Rules::default(),
        Strategy::BestFit,
    )
    .unwrap()
}

fn place_fresh(c: &mut Criterion) {
    let mut g = c.benchmark_group("place_fresh");
    g.sample_size(10);
    for v6 in [false, true] {
        for n in [1_000usize, 10_000, 100_000] {
            let reqs = requests(n, v6);
            let p = pool(v6);
            g.throughput(Throughput::Elements(n as u64));
            let id = BenchmarkId::new(if v6 { "ipv6_/32" } else { "ipv4_/8" }, n);
            g.bench_with_input(id, &reqs, |b, reqs| {
                b.iter(|| p.allocate(&Prior::default(), reqs).unwrap())
            });
        }
    }
    g.finish();
}

fn replan_and_one_more(c: &mut Criterion) {
    let mut g = c.benchmark_group("ledger_100k");
    g.sample_size(10);
    let p = pool(false);
    let reqs = requests(100_000, false);
    let ledger = p.allocate(&Prior::default(), &reqs).unwrap().ledger;
    // What a plan does: the whole run, prior ledger of 100k plus one new request.
    let mut plus_one = reqs.clone();
    plus_one.insert("zz-new".into(), Request::Size(Some(27)));
    g.bench_function("allocate_run_100k_plus_1", |b| {
        b.iter(|| {
            p.allocate(&Prior::ledger(ledger.clone()), &plus_one)
                .unwrap()
        })
    });
    // The placement itself: one request against the index of a 100k-entry ledger.
    let placer = p.placer(&ledger);
    g.bench_function("one_placement_against_100k", |b| {
        b.iter_batched_ref(
            || placer.clone(),
            |pl| pl.place(27).unwrap(),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, place_fresh, replan_and_one_more);
criterion_main!(benches);
