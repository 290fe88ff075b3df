//! A property test under real Terraform: seeded random sequences of edits to one pool
//! (add, remove, resize, pin, reserve, grow `cidrs`, switch `strategy`, `grow_to`,
//! `release_hold`), each applied and each followed by `terraform plan
//! -detailed-exitcode`, which must exit 0: no perpetual diff after any edit. An edit the
//! provider rightly refuses (an exhausted pool, a pin on a taken block, ...) must fail
//! with one of its diagnostics and change nothing; it is undone and the sequence goes on.
//!
//! After each applied edit the state is checked too: no two allocations, growth rooms
//! or held blocks overlap, and every allocation the edit did not touch kept its CIDR.
//!
//! `IPAM_EDIT_STEPS` (default 25) sets the steps per seed; `IPAM_EDIT_SEEDS` (a
//! comma-separated list) runs other seeds in `other_seeds_from_the_environment`.

mod common;

use std::collections::BTreeMap;

use common::rng::Rng;
use common::Workdir;
use ipnet::IpNet;
use serde_json::Value as Json;

#[derive(Clone, Debug, PartialEq)]
enum Entry {
    Size(u8),
    Grow(u8, u8),
    Pin(String),
}

#[derive(Clone, Debug)]
struct Model {
    cidrs: Vec<String>,
    reserved: Vec<String>,
    strategy: Option<&'static str>,
    hold: bool,
    allocs: BTreeMap<String, Entry>,
    next: u32,
}

impl Model {
    fn hcl(&self) -> String {
        let list = |v: &[String]| {
            v.iter()
                .map(|c| format!("{c:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut out = format!(
            "resource \"ipam_pool\" \"p\" {{\n  cidrs    = [{}]\n",
            list(&self.cidrs)
        );
        if !self.reserved.is_empty() {
            out += &format!("  reserved = [{}]\n", list(&self.reserved));
        }
        if let Some(s) = self.strategy {
            out += &format!("  strategy = {s:?}\n");
        }
        if self.hold {
            out += "  release_hold = \"1h\"\n";
        }
        out += "  allocations = {\n";
        for (name, e) in &self.allocs {
            let body = match e {
                Entry::Size(p) => format!("prefix_length = {p}"),
                Entry::Grow(p, g) => format!("prefix_length = {p}, grow_to = {g}"),
                Entry::Pin(c) => format!("cidr = {c:?}"),
            };
            out += &format!("    {name} = {{ {body} }}\n");
        }
        out + "  }\n}\n"
    }

    fn new_name(&mut self) -> String {
        self.next += 1;
        format!("e{:03}", self.next)
    }
}

/// The pool's attributes in the state file (read directly: faster than `show -json`).
fn pool_state(w: &Workdir) -> Json {
    let state: Json = serde_json::from_slice(&w.read("terraform.tfstate")).unwrap_or(Json::Null);
    state["resources"][0]["instances"][0]["attributes"].clone()
}

fn nets(v: &Json, key: &str) -> BTreeMap<String, IpNet> {
    v[key]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, e)| Some((k.clone(), e["cidr"].as_str()?.parse().ok()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// A random block inside one of the pool's free blocks: its first or last sub-block of
/// a prefix length up to two longer.
fn free_sub_block(rng: &mut Rng, state: &Json) -> Option<String> {
    let free: Vec<IpNet> = state["free_cidrs"]
        .as_array()?
        .iter()
        .filter_map(|c| c.as_str()?.parse().ok())
        .collect();
    let block = *rng.pick(&free)?;
    let len = (block.prefix_len() + rng.range(0, 2)).min(30);
    let subs: Vec<IpNet> = block.subnets(len).ok()?.collect();
    let sub = if rng.below(2) == 0 {
        subs[0]
    } else {
        subs[subs.len() - 1]
    };
    Some(sub.to_string())
}

/// Applies one random edit to `m`; returns its description and the names it touches
/// (which may move), or `None` when it does not apply to this model.
fn edit(rng: &mut Rng, m: &mut Model, state: &Json) -> Option<(String, Vec<String>)> {
    let names: Vec<String> = m.allocs.keys().cloned().collect();
    match rng.below(10) {
        0 | 1 => {
            let name = m.new_name();
            // Now and then a block too large for what is left (or for the pool).
            let p = if rng.below(6) == 0 {
                rng.range(18, 21)
            } else {
                rng.range(22, 28)
            };
            let e = if rng.below(3) == 0 {
                Entry::Grow(p, p - rng.range(0, 2))
            } else {
                Entry::Size(p)
            };
            let what = format!("add {name} {e:?}");
            m.allocs.insert(name.clone(), e);
            Some((what, vec![name]))
        }
        2 => {
            let name = rng.pick(&names)?.clone();
            m.allocs.remove(&name);
            Some((format!("remove {name}"), vec![name]))
        }
        3 | 4 => {
            let name = rng.pick(&names)?.clone();
            let delta = rng.range(1, 2) as i16 * if rng.below(2) == 0 { -1 } else { 1 };
            let new = |p: u8| (p as i16 + delta).clamp(20, 29) as u8;
            let e = match &m.allocs[&name] {
                Entry::Size(p) => Entry::Size(new(*p)),
                // Mostly within the room; sometimes past it (rightly refused).
                Entry::Grow(p, g) => Entry::Grow(
                    if rng.below(4) == 0 {
                        new(*p)
                    } else {
                        new(*p).max(*g)
                    },
                    *g,
                ),
                Entry::Pin(_) => return None,
            };
            let what = format!("resize {name} to {e:?}");
            m.allocs.insert(name.clone(), e);
            Some((what, vec![name]))
        }
        5 => {
            if rng.below(2) == 0 {
                // Adopt an existing allocation as a pin of the block it has (brownfield).
                let name = rng.pick(&names)?.clone();
                let cidr = state["allocations"][&name]["cidr"].as_str()?.to_string();
                m.allocs.insert(name.clone(), Entry::Pin(cidr.clone()));
                Some((format!("pin {name} where it is, {cidr}"), vec![name]))
            } else {
                let name = m.new_name();
                let cidr = free_sub_block(rng, state)?;
                m.allocs.insert(name.clone(), Entry::Pin(cidr.clone()));
                Some((format!("add {name} pinned at {cidr}"), vec![name]))
            }
        }
        6 => {
            if !m.reserved.is_empty() && rng.below(3) == 0 {
                let r = m.reserved.remove(rng.below(m.reserved.len()));
                Some((format!("unreserve {r}"), vec![]))
            } else {
                let r = free_sub_block(rng, state)?;
                m.reserved.push(r.clone());
                Some((format!("reserve {r}"), vec![]))
            }
        }
        7 => {
            // Grow the address space: the next /20 (adjacent, so blocks merge) or one
            // further away (non-contiguous, as GKE adds ranges).
            let candidates: Vec<String> = (1..16u32)
                .map(|i| format!("10.0.{}.0/20", i * 16))
                .filter(|c| !m.cidrs.contains(c))
                .collect();
            let c = if rng.below(2) == 0 {
                candidates.first()?
            } else {
                rng.pick(&candidates)?
            }
            .clone();
            m.cidrs.push(c.clone());
            Some((format!("grow cidrs by {c}"), vec![]))
        }
        8 => {
            let s = *rng.pick(&[None, Some("best_fit"), Some("lowest"), Some("highest")])?;
            m.strategy = s;
            Some((format!("strategy {s:?}"), vec![]))
        }
        _ => {
            m.hold = !m.hold;
            Some((
                format!("release_hold {}", if m.hold { "1h" } else { "removed" }),
                vec![],
            ))
        }
    }
}

/// Diagnostics by which the provider rightly refuses an edit.
const REFUSALS: &[&str] = &[
    "Pool exhausted",
    "Pinned CIDR conflict",
    "Pool CIDR still in use",
    "grow_to smaller than the allocation",
    "Allocation larger than the pool",
];

/// No two of the allocations, growth rooms (beyond their own allocation) and held
/// blocks overlap.
fn assert_disjoint(state: &Json, ctx: &str) {
    let mut blocks: Vec<(String, IpNet)> = nets(state, "allocations").into_iter().collect();
    for (name, e) in state["allocations"].as_object().into_iter().flatten() {
        if let Some(room) = e["growth_cidr"]
            .as_str()
            .and_then(|c| c.parse::<IpNet>().ok())
        {
            let own: IpNet = e["cidr"].as_str().unwrap().parse().unwrap();
            assert!(
                room.contains(&own) && room.network() == own.network(),
                "{ctx}: {name} does not start its room {room}"
            );
            // The rest of the room: the sub-blocks after its own block.
            for sub in room.subnets(own.prefix_len()).unwrap().skip(1) {
                blocks.push((format!("room of {name}"), sub));
            }
        }
    }
    blocks.extend(
        nets(state, "released")
            .into_iter()
            .map(|(k, v)| (format!("released {k}"), v)),
    );
    for (i, (a, x)) in blocks.iter().enumerate() {
        for (b, y) in &blocks[i + 1..] {
            assert!(
                !x.contains(y) && !y.contains(x),
                "{ctx}: {a} {x} overlaps {b} {y}"
            );
        }
    }
}

fn run(seed: u64, steps: usize) {
    let mut rng = Rng(seed);
    let mut m = Model {
        cidrs: vec!["10.0.0.0/20".into()],
        reserved: vec![],
        strategy: None,
        hold: false,
        allocs: BTreeMap::new(),
        next: 0,
    };
    for _ in 0..6 {
        let name = m.new_name();
        m.allocs.insert(name, Entry::Size(rng.range(23, 27)));
    }
    let w = Workdir::new(&m.hcl());
    w.apply();
    w.assert_no_changes();
    let (mut applied, mut refused) = (0, 0);
    let mut log: Vec<String> = Vec::new();
    for step in 0..steps {
        let before = pool_state(&w);
        let mut next = m.clone();
        let Some((what, touched)) = edit(&mut rng, &mut next, &before) else {
            continue;
        };
        log.push(format!("step {step}: {what}"));
        let ctx = format!("seed {seed}, {}\nconfig:\n{}", log.join("\n"), next.hcl());
        w.config(&next.hcl());
        let out = w.tf(&["apply", "-no-color", "-input=false", "-auto-approve"]);
        if out.code != 0 {
            let text = format!("{}{}", out.stdout, out.stderr);
            assert!(
                REFUSALS.iter().any(|r| text.contains(r)),
                "{ctx}\napply failed without a refusal:\n{text}"
            );
            assert!(
                !text.contains("inconsistent") && !text.contains("Provider produced"),
                "{ctx}\n{text}"
            );
            // A refused edit changed nothing: undo it and go on.
            assert_eq!(
                pool_state(&w),
                before,
                "{ctx}\na refused apply changed the state"
            );
            w.config(&m.hcl());
            log.push("  (refused; undone)".into());
            refused += 1;
            continue;
        }
        let plan = w.tf(&["plan", "-no-color", "-input=false", "-detailed-exitcode"]);
        assert_eq!(
            plan.code, 0,
            "{ctx}\nperpetual diff after apply:\n{}{}",
            plan.stdout, plan.stderr
        );
        let after = pool_state(&w);
        assert_disjoint(&after, &ctx);
        let (old, new) = (nets(&before, "allocations"), nets(&after, "allocations"));
        for (name, cidr) in &old {
            if !touched.contains(name) && next.allocs.contains_key(name) {
                assert_eq!(
                    new.get(name),
                    Some(cidr),
                    "{ctx}\n{name} moved though the edit did not touch it"
                );
            }
        }
        m = next;
        applied += 1;
    }
    eprintln!(
        "seed {seed}: {applied} edits applied, {refused} refused, each followed by an empty plan"
    );
    assert!(
        applied >= steps / 2,
        "seed {seed}: only {applied} of {steps} edits applied:\n{}",
        log.join("\n")
    );
}

fn steps() -> usize {
    std::env::var("IPAM_EDIT_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(25)
}

#[test]
fn edit_sequence_seed_1() {
    run(1, steps());
}

#[test]
fn edit_sequence_seed_2() {
    run(2, steps());
}

#[test]
fn edit_sequence_seed_3() {
    run(3, steps());
}

#[test]
fn edit_sequence_seed_4() {
    run(4, steps());
}

#[test]
fn other_seeds_from_the_environment() {
    for seed in std::env::var("IPAM_EDIT_SEEDS")
        .unwrap_or_default()
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
    {
        run(seed, steps());
    }
}
