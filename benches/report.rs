//! Render times of the address-plan report for one pool of 1,000 and 10,000
//! allocations placed by the allocator in a /8 (and the same as a saved plan in which
//! a tenth of them are added), and the page size. `cargo bench --bench report`;
//! `scripts/bench-report.sh` also loads the 10,000-allocation page in headless Chromium.
//! With `IPAM_REPORT_PAGE=path` the 10,000-allocation page is written there.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ipam::alloc::{Pool, Prior, Request, Rules, Strategy};
use ipam::report::{render, Format};
use serde_json::json;

fn ledger(n: usize) -> BTreeMap<String, String> {
    let pool = Pool::new(
        &["10.0.0.0/8".parse().unwrap()],
        &[],
        Rules::default(),
        Strategy::BestFit,
    )
    .unwrap();
    let requests: BTreeMap<String, Request> = (0..n)
        .map(|i| {
            (
                format!("subnet-{i:05}"),
                Request::Size(Some(20 + (i % 9) as u8)),
            )
        })
        .collect();
    let out = pool.allocate(&Prior::default(), &requests).unwrap();
    out.ledger
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect()
}

fn pool_values(ledger: &BTreeMap<String, String>) -> serde_json::Value {
    let allocations: serde_json::Map<String, serde_json::Value> = ledger
        .iter()
        .map(|(k, c)| {
            (
                k.clone(),
                json!({ "cidr": c, "description": format!("team {}", &k[7..9]) }),
            )
        })
        .collect();
    json!({ "cidrs": ["10.0.0.0/8"], "reserved": ["10.255.0.0/16"], "allocations": allocations })
}

fn state(n: usize) -> String {
    json!({ "format_version": "1.0", "values": { "root_module": { "resources": [
        { "address": "ipam_pool.corp", "mode": "managed", "type": "ipam_pool", "values": pool_values(&ledger(n)) }
    ] } } })
    .to_string()
}

fn plan(n: usize) -> String {
    let after = ledger(n);
    let before: BTreeMap<String, String> = after
        .iter()
        .take(n - n / 10)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    json!({ "format_version": "1.2", "resource_changes": [
        { "address": "ipam_pool.corp", "mode": "managed", "type": "ipam_pool",
          "change": { "actions": ["update"], "before": pool_values(&before), "after": pool_values(&after) } }
    ] })
    .to_string()
}

fn best_of(runs: usize, f: impl Fn() -> usize) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut size = 0;
    for _ in 0..runs {
        let t = Instant::now();
        size = f();
        best = best.min(t.elapsed());
    }
    (best, size)
}

fn main() {
    println!("{:<34} {:>12} {:>12}", "input", "render", "output");
    for n in [1_000usize, 10_000] {
        for (kind, input) in [("state", state(n)), ("plan (+10%)", plan(n))] {
            for format in [Format::Html, Format::Svg, Format::Markdown] {
                let (t, size) = best_of(5, || render(&input, format).unwrap().len());
                println!(
                    "{:<34} {:>9.1} ms {:>9} KiB",
                    format!("{n} allocations, {kind}, {format:?}"),
                    t.as_secs_f64() * 1e3,
                    size / 1024
                );
            }
        }
    }
    if let Ok(path) = std::env::var("IPAM_REPORT_PAGE") {
        std::fs::write(&path, render(&state(10_000), Format::Html).unwrap()).unwrap();
        println!("wrote {path}");
    }
}
