//! Prints the allocator's figures in one short run: wall time per size, time per
//! placement, growth between sizes, time of one placement against a 100k-entry
//! ledger, and peak memory (VmHWM). `cargo bench --bench alloc_scaling`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ipam::alloc::{Pool, Prior, Request, Rules, Strategy};

fn requests(n: usize, v6: bool) -> BTreeMap<String, Request> {
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

fn pool(v6: bool) -> Pool {
    let cidr = if v6 { "2001:db8::/32" } else { "10.0.0.0/8" };
    Pool::new(
        &[cidr.parse().unwrap()],
        &[],
        Rules::default(),
        Strategy::BestFit,
    )
    .unwrap()
}

/// Best of `runs` wall times of `f`.
fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .min()
        .unwrap()
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` probes bench binaries
    }
    println!(
        "{:<10} {:>8} {:>12} {:>14} {:>10}",
        "pool", "requests", "best of 5", "per placement", "growth"
    );
    for v6 in [false, true] {
        let mut last: Option<(usize, Duration)> = None;
        for n in [1_000usize, 10_000, 100_000] {
            let p = pool(v6);
            let reqs = requests(n, v6);
            let t = best(5, || p.allocate(&Prior::default(), &reqs).unwrap());
            let growth = last
                .map(|(ln, lt)| {
                    format!("x{:.1} for x{}", t.as_secs_f64() / lt.as_secs_f64(), n / ln)
                })
                .unwrap_or_default();
            println!(
                "{:<10} {:>8} {:>9.2} ms {:>11.0} ns {:>10}",
                if v6 { "IPv6 /32" } else { "IPv4 /8" },
                n,
                t.as_secs_f64() * 1e3,
                t.as_nanos() as f64 / n as f64,
                growth
            );
            last = Some((n, t));
        }
    }
    let p = pool(false);
    let reqs = requests(100_000, false);
    let ledger = p.allocate(&Prior::default(), &reqs).unwrap().ledger;
    let mut plus_one = reqs.clone();
    plus_one.insert("zz-new".into(), Request::Size(Some(27)));
    let run = best(5, || {
        p.allocate(&Prior::ledger(ledger.clone()), &plus_one)
            .unwrap()
    });
    let mut placer = p.placer(&ledger);
    let k = 10_000;
    let t = Instant::now();
    for _ in 0..k {
        std::hint::black_box(placer.place(30).unwrap());
    }
    let one = t.elapsed() / k;
    println!("\none request against a 100k-entry ledger:");
    println!(
        "  placement in the index (mean of {k}):      {:>8.2} us",
        one.as_secs_f64() * 1e6
    );
    println!(
        "  whole run (rebuild index + place), best of 5: {:>6.2} ms",
        run.as_secs_f64() * 1e3
    );
    println!(
        "\npeak memory (VmHWM) of this process: {:.1} MiB",
        peak_rss_mib()
    );
}
