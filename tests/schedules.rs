//! The shared ledger under random schedules (issue 21), store-level runner: seeded
//! interleavings of edits, pull-request plans, saved plans, applies, imports, destroys,
//! network-team pool edits and faults across several states of one pool, driven
//! through the provider's own resource code (read, plan, the second plan of the apply
//! walk, apply, import) against a real PostgreSQL, with an oracle checked after every
//! step. A failure prints its seed and the shortest schedule it shrinks to.
//!
//! - CI runs the fixed seeds of `ci_seeds_hold_the_oracle`.
//! - `IPAM_SCHEDULE_SEEDS=1000` runs seeds 0..1000; `IPAM_SCHEDULE_SEED=17` replays one
//!   and prints its schedule (`scripts/schedules.sh` wraps both).
mod common;
#[path = "schedules/world.rs"]
mod world;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::pg::cluster;
use common::rng::Rng;
use world::World;

/// States (working directories) in a schedule, and steps per schedule.
const STATES: usize = 3;
const STEPS: usize = 24;
const NAMES: [&str; 4] = ["a", "b", "c", "d"];
const POOL_CIDR: &str = "10.0.0.0/21";

/// One allocation's request, as a configuration writes it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Req {
    Size(u8),
    Grow(u8, u8),
    /// The n-th /26 of the pool.
    Pin(u8),
    Remove,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// Change one request in a state's configuration (main).
    Edit(usize, usize, Req),
    /// A pull request: plan main's configuration with one edit, never applied.
    PullRequest(usize, usize, Req),
    /// `plan -out` of main's configuration, applied later by `ApplySaved`.
    SavePlan(usize),
    ApplySaved(usize),
    /// `terraform apply` of main's configuration.
    Apply(usize),
    /// An apply whose commit lands but whose provider dies before Terraform writes the
    /// state (kill -9 after the commit).
    CrashAfterCommit(usize),
    /// An apply killed before its commit: nothing reaches the database.
    CrashBeforeCommit(usize),
    /// The state (its resource destroyed or never created) imports another state's owner.
    Import(usize, usize),
    /// The state, with no resource, configures another state's owner and creates it.
    SameOwner(usize, usize),
    /// The state becomes a copy of another's state file and configuration (a copied
    /// state: the ledger cannot tell it from the original).
    CopyState(usize, usize),
    Destroy(usize),
    /// The network team reserves the n-th /24 of the pool, or releases every reserved range.
    Reserve(Option<u8>),
    /// The network team edits the pool: its CIDRs (the whole /21, or only its first /22)
    /// and its rules (a longest prefix length of /26, or none).
    PoolEdit {
        shrink: bool,
        max_26: bool,
    },
    /// `pg_ctl restart`: every connection is dropped.
    Restart,
    /// Every live plan reservation expires now (a saved plan applied after its TTL).
    /// Blocks held after an apply are left: their hold is what protects a state whose
    /// apply result was lost, and it ends only with the TTL (see the guide).
    Expire,
    /// The TTL runs out between the apply walk's plan and the apply of the first state,
    /// and the second state applies in between (the apply's re-check must stop it).
    LateApply(usize, usize),
    /// `pg_terminate_backend` of every other session (the provider's connection).
    Terminate,
}

fn gen_req(rng: &mut Rng) -> Req {
    match rng.below(8) {
        0 => Req::Remove,
        1 => Req::Pin(rng.below(32) as u8),
        2 => {
            let p = 25 + rng.below(3) as u8;
            Req::Grow(p, p - 1 - rng.below(2) as u8)
        }
        _ => Req::Size(24 + rng.below(4) as u8),
    }
}

fn gen_schedule(seed: u64) -> Vec<Step> {
    let mut rng = Rng(seed);
    let mut steps = Vec::new();
    for _ in 0..STEPS {
        let s = rng.below(STATES);
        let step = match rng.below(20) {
            0..=4 => Step::Edit(s, rng.below(NAMES.len()), gen_req(&mut rng)),
            5..=6 => Step::PullRequest(s, rng.below(NAMES.len()), gen_req(&mut rng)),
            7 => Step::SavePlan(s),
            8 => Step::ApplySaved(s),
            9..=11 => Step::Apply(s),
            12 => Step::CrashAfterCommit(s),
            13 => Step::CrashBeforeCommit(s),
            14 => Step::Import(s, rng.below(STATES)),
            15 => match rng.below(3) {
                0 => Step::CopyState(s, rng.below(STATES)),
                _ => Step::SameOwner(s, rng.below(STATES)),
            },
            16 => Step::Destroy(s),
            17 => match rng.below(6) {
                0 | 1 => Step::PoolEdit {
                    shrink: rng.below(2) == 0,
                    max_26: rng.below(3) == 0,
                },
                2 if rng.below(4) == 0 => Step::Restart,
                _ => Step::Reserve((rng.below(3) > 0).then(|| rng.below(8) as u8)),
            },
            18 => match rng.below(2) {
                0 => Step::Expire,
                _ => Step::LateApply(s, rng.below(STATES)),
            },
            _ => Step::Terminate,
        };
        steps.push(step);
    }
    steps
}

/// Runs a schedule on a fresh pool; the first violation, with the step it came at.
fn run_schedule(r: &Runner, tag: &str, steps: &[Step]) -> Result<(), (usize, String)> {
    let mut w = World::new(&r.db, tag, r.oracle());
    for (i, step) in steps.iter().enumerate() {
        let before = w.rows();
        let t = Instant::now();
        let outcome = w.run(step).map_err(|e| (i, e))?;
        if t.elapsed() > Duration::from_secs(30) {
            return Err((i, format!("step took {:?}", t.elapsed())));
        }
        w.check(&before, &outcome).map_err(|e| (i, e))?;
    }
    w.converge().map_err(|e| (steps.len(), e))
}

static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn tag(seed: u64) -> String {
    format!(
        "s{seed}-{}",
        RUN.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    )
}

/// The shortest schedule that still violates: steps removed one at a time while the
/// violation stays.
fn shrink(r: &Runner, mut steps: Vec<Step>) -> Vec<Step> {
    loop {
        let mut smaller = false;
        for i in (0..steps.len()).rev() {
            let mut s = steps.clone();
            s.remove(i);
            if run_schedule(r, &tag(0), &s).is_err() {
                steps = s;
                smaller = true;
            }
        }
        if !smaller {
            return steps;
        }
    }
}

/// Runs seeds; panics with the seed and the shrunk schedule of the first violation.
/// One database and one runtime for every schedule of a run (a pool per schedule):
/// the store's connection lives as long as a provider process's would.
struct Runner {
    db: String,
    rt: tokio::runtime::Runtime,
    oracle: std::sync::Mutex<Option<Arc<tokio_postgres::Client>>>,
}

impl Runner {
    fn new() -> Runner {
        Runner {
            db: cluster().new_database("schedules"),
            rt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap(),
            oracle: std::sync::Mutex::new(None),
        }
    }

    /// The oracle's connection, made again after a `Terminate` step closed it.
    fn oracle(&self) -> Arc<tokio_postgres::Client> {
        let mut g = self.oracle.lock().unwrap();
        if let Some(c) = g.as_ref().filter(|c| !c.is_closed()) {
            return c.clone();
        }
        let info = ipam::store::ConnInfo::parse(&cluster().url(&self.db)).unwrap();
        let c = Arc::new(
            tokio::task::block_in_place(|| self.rt.handle().block_on(info.connect())).unwrap(),
        );
        *g = Some(c.clone());
        c
    }
}

fn run_seeds(seeds: impl Iterator<Item = u64>) -> (usize, usize) {
    let r = Runner::new();
    let _enter = r.rt.enter();
    let (mut schedules, mut steps) = (0, 0);
    for seed in seeds {
        let schedule = gen_schedule(seed);
        if let Err((at, why)) = run_schedule(&r, &tag(seed), &schedule) {
            let shrunk = shrink(&r, schedule.clone());
            let replay = run_schedule(&r, &tag(seed), &shrunk).err();
            panic!(
                "seed {seed}: violation at step {at}: {why}\nshortest schedule ({} steps; replay: IPAM_SCHEDULE_SEED={seed}):\n{}\nits violation: {replay:?}",
                shrunk.len(),
                shrunk.iter().map(|s| format!("  {s:?}")).collect::<Vec<_>>().join("\n")
            );
        }
        schedules += 1;
        steps += schedule.len();
    }
    (schedules, steps)
}

/// CI's fixed seeds (0..60). More: `scripts/schedules.sh --seeds 1000`.
#[test]
fn ci_seeds_hold_the_oracle() {
    let t = Instant::now();
    let (n, steps) = match (
        std::env::var("IPAM_SCHEDULE_SEED")
            .ok()
            .and_then(|s| s.parse::<u64>().ok()),
        std::env::var("IPAM_SCHEDULE_SEEDS")
            .ok()
            .and_then(|s| s.parse::<u64>().ok()),
    ) {
        (Some(seed), _) => {
            for s in gen_schedule(seed) {
                println!("  {s:?}");
            }
            run_seeds(std::iter::once(seed))
        }
        (None, Some(count)) => run_seeds(0..count),
        (None, None) => run_seeds(0..60),
    };
    println!(
        "store-level schedules: {n} schedules, {steps} steps, {STATES} states each, in {:.1} s",
        t.elapsed().as_secs_f64()
    );
}
