//! Property tests of the placement contract (SPEC.md, "Placement rules").

use std::collections::BTreeMap;

use ipnet::{IpNet, Ipv4Net};
use proptest::prelude::{any, prop, prop_assert, prop_assert_eq, prop_assume, prop_oneof, proptest, Just, ProptestConfig, TestCaseError};
use proptest::strategy::Strategy as _;

use super::naive::Naive;
use super::{Pool, Request, Rules};
use std::net::Ipv4Addr;

const POOL: &str = "10.20.0.0/20";

fn strategy() -> impl proptest::strategy::Strategy<Value = super::Strategy> {
    prop_oneof![Just(super::Strategy::BestFit), Just(super::Strategy::Lowest), Just(super::Strategy::Highest)]
}

/// Up to three reserved blocks inside the /20.
fn reserved() -> impl proptest::strategy::Strategy<Value = Vec<IpNet>> {
    prop::collection::vec((0u32..4096, 24u8..=30), 0..3).prop_map(|v| {
        v.into_iter()
            .map(|(off, len)| {
                let base = u32::from(Ipv4Addr::new(10, 20, 0, 0)) + off;
                IpNet::V4(Ipv4Net::new(Ipv4Addr::from(base), len).unwrap().trunc())
            })
            .collect()
    })
}

/// Requests named n00..n39 with prefix lengths 21..=30.
fn requests() -> impl proptest::strategy::Strategy<Value = BTreeMap<String, u8>> {
    prop::collection::btree_map((0u8..40).prop_map(|i| format!("n{i:02}")), 21u8..=30, 0..24)
}

fn as_requests(m: &BTreeMap<String, u8>) -> BTreeMap<String, Request> {
    m.iter().map(|(k, &p)| (k.clone(), Request::Size(Some(p)))).collect()
}

fn pool(res: &[IpNet], s: super::Strategy) -> Pool {
    Pool::new(&[POOL.parse().unwrap()], res, Rules::default(), s).unwrap()
}

fn naive(res: &[IpNet]) -> Naive {
    let v4: Vec<Ipv4Net> = res.iter().map(|r| match r { IpNet::V4(n) => *n, IpNet::V6(_) => unreachable!() }).collect();
    Naive::new(POOL.parse().unwrap(), &v4)
}

/// Checks safety: inside the pool, aligned, clear of reserved and of each other.
fn assert_safe(pool_nets: &[IpNet], res: &[IpNet], ledger: &BTreeMap<String, IpNet>) -> Result<(), TestCaseError> {
    let v: Vec<(&String, &IpNet)> = ledger.iter().collect();
    for (i, (name, net)) in v.iter().enumerate() {
        prop_assert_eq!(net.trunc(), **net, "{} misaligned", name);
        prop_assert!(pool_nets.iter().any(|p| p.contains(*net)), "{} {} outside pool", name, net);
        for r in res {
            prop_assert!(!r.contains(*net) && !net.contains(r) , "{} {} touches reserved {}", name, net, r);
        }
        for (other, onet) in &v[i + 1..] {
            prop_assert!(!net.contains(*onet) && !onet.contains(*net), "{} {} overlaps {} {}", name, net, other, onet);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    /// Differential: the indexed allocator and the bitmap oracle agree on every strategy,
    /// from scratch and again after the requests change.
    #[test]
    fn matches_naive_oracle(res in reserved(), r1 in requests(), r2 in requests(), s in strategy()) {
        let p = pool(&res, s);
        let fast = p.allocate(&BTreeMap::new(), &as_requests(&r1), &[]).ok().map(|o| o.ledger);
        let slow = naive(&res).allocate(&BTreeMap::new(), &r1, s);
        prop_assert_eq!(&fast, &slow);
        if let Some(prior) = fast {
            let fast2 = p.allocate(&prior, &as_requests(&r2), &[]).ok().map(|o| o.ledger);
            let slow2 = naive(&res).allocate(&prior, &r2, s);
            prop_assert_eq!(fast2, slow2);
        }
    }

    /// Safe: no overlap, nothing escapes the pool or touches reserved, all aligned.
    #[test]
    fn ledger_is_safe(res in reserved(), r in requests(), s in strategy()) {
        if let Ok(out) = pool(&res, s).allocate(&BTreeMap::new(), &as_requests(&r), &[]) {
            assert_safe(&[POOL.parse().unwrap()], &res, &out.ledger)?;
            prop_assert_eq!(out.ledger.len(), r.len());
        }
    }

    /// Deterministic: building the inputs in any order gives the same ledger.
    #[test]
    fn order_does_not_matter(res in reserved(), r in requests(), s in strategy(), seed in any::<u64>()) {
        let p = pool(&res, s);
        let mut items: Vec<(String, Request)> = as_requests(&r).into_iter().collect();
        // a seeded Fisher-Yates shuffle
        let mut x = seed | 1;
        for i in (1..items.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            items.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let shuffled: BTreeMap<String, Request> = items.into_iter().collect();
        let a = p.allocate(&BTreeMap::new(), &as_requests(&r), &[]).map(|o| o.ledger);
        let b = p.allocate(&BTreeMap::new(), &shuffled, &[]).map(|o| o.ledger);
        prop_assert_eq!(a, b);
    }

    /// Re-running on its own output changes nothing.
    #[test]
    fn rerun_is_a_fixed_point(res in reserved(), r in requests(), s in strategy()) {
        let p = pool(&res, s);
        if let Ok(out) = p.allocate(&BTreeMap::new(), &as_requests(&r), &[]) {
            let again = p.allocate(&out.ledger, &as_requests(&r), &[]).unwrap();
            prop_assert_eq!(again.ledger, out.ledger);
            prop_assert!(again.repaired.is_empty());
        }
    }

    /// Adding a request never moves an existing allocation.
    #[test]
    fn adding_moves_nothing(res in reserved(), r in requests(), extra in 21u8..=30, s in strategy()) {
        let p = pool(&res, s);
        if let Ok(out) = p.allocate(&BTreeMap::new(), &as_requests(&r), &[]) {
            let mut more = as_requests(&r);
            more.insert("zz-new".into(), Request::Size(Some(extra)));
            if let Ok(next) = p.allocate(&out.ledger, &more, &[]) {
                for (k, v) in &out.ledger {
                    prop_assert_eq!(&next.ledger[k], v);
                }
            }
        }
    }

    /// Removing a request never moves the rest; shrinking one keeps its start.
    #[test]
    fn removing_or_shrinking_moves_nothing(res in reserved(), r in requests(), pick in any::<prop::sample::Index>(), s in strategy()) {
        let p = pool(&res, s);
        prop_assume!(!r.is_empty());
        let out = match p.allocate(&BTreeMap::new(), &as_requests(&r), &[]) { Ok(o) => o, Err(_) => return Ok(()) };
        let victim = pick.get(&r.keys().cloned().collect::<Vec<_>>()).clone();
        let mut fewer = as_requests(&r);
        fewer.remove(&victim);
        let next = p.allocate(&out.ledger, &fewer, &[]).unwrap();
        for (k, v) in &next.ledger {
            prop_assert_eq!(&out.ledger[k], v);
        }
        let mut shrunk = as_requests(&r);
        let old = out.ledger[&victim];
        if old.prefix_len() < 30 {
            shrunk.insert(victim.clone(), Request::Size(Some(old.prefix_len() + 1)));
            let next = p.allocate(&out.ledger, &shrunk, &[]).unwrap();
            prop_assert_eq!(next.ledger[&victim].network(), old.network());
            for (k, v) in &out.ledger { if *k != victim { prop_assert_eq!(&next.ledger[k], v); } }
        }
    }

    /// IPv6: the same safety over a /48 handing out /56../64 blocks, and stability.
    #[test]
    fn ipv6_is_safe_and_stable(r in prop::collection::btree_map((0u8..40).prop_map(|i| format!("v{i}")), 52u8..=64, 0..30), s in strategy()) {
        let net: IpNet = "fd00:42::/48".parse().unwrap();
        let p = Pool::new(&[net], &[], Rules::default(), s).unwrap();
        let req: BTreeMap<String, Request> = r.iter().map(|(k, &v)| (k.clone(), Request::Size(Some(v)))).collect();
        if let Ok(out) = p.allocate(&BTreeMap::new(), &req, &[]) {
            assert_safe(&[net], &[], &out.ledger)?;
            let again = p.allocate(&out.ledger, &req, &[]).unwrap();
            prop_assert_eq!(again.ledger, out.ledger);
        }
    }
}
