//! Property tests of the placement contract (the rules in `mod.rs`, which
//! `docs/index.md` states for users), against `naive.rs`.

use std::collections::BTreeMap;

use ipnet::{IpNet, Ipv4Net};
use proptest::prelude::{
    any, prop, prop_assert, prop_assert_eq, prop_assert_ne, prop_assume, prop_oneof, proptest,
    Just, ProptestConfig, TestCaseError,
};
use proptest::strategy::Strategy as _;

use super::naive::Naive;
use super::{Pool, Prior, Request, Rules};
use std::net::Ipv4Addr;

const POOL: &str = "10.20.0.0/20";

fn strategy() -> impl proptest::strategy::Strategy<Value = super::Strategy> {
    prop_oneof![
        Just(super::Strategy::BestFit),
        Just(super::Strategy::Lowest),
        Just(super::Strategy::Highest)
    ]
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
    m.iter()
        .map(|(k, &p)| (k.clone(), Request::Size(Some(p))))
        .collect()
}

fn pool(res: &[IpNet], s: super::Strategy) -> Pool {
    Pool::new(&[POOL.parse().unwrap()], res, Rules::default(), s).unwrap()
}

fn naive(res: &[IpNet]) -> Naive {
    let v4: Vec<Ipv4Net> = res
        .iter()
        .map(|r| match r {
            IpNet::V4(n) => *n,
            IpNet::V6(_) => unreachable!(),
        })
        .collect();
    Naive::new(POOL.parse().unwrap(), &v4)
}

/// Checks safety: inside the pool, aligned, clear of reserved and of each other.
fn assert_safe(
    pool_nets: &[IpNet],
    res: &[IpNet],
    ledger: &BTreeMap<String, IpNet>,
) -> Result<(), TestCaseError> {
    let v: Vec<(&String, &IpNet)> = ledger.iter().collect();
    for (i, (name, net)) in v.iter().enumerate() {
        prop_assert_eq!(net.trunc(), **net, "{} misaligned", name);
        prop_assert!(
            pool_nets.iter().any(|p| p.contains(*net)),
            "{} {} outside pool",
            name,
            net
        );
        for r in res {
            prop_assert!(
                !r.contains(*net) && !net.contains(r),
                "{} {} touches reserved {}",
                name,
                net,
                r
            );
        }
        for (other, onet) in &v[i + 1..] {
            prop_assert!(
                !net.contains(*onet) && !onet.contains(*net),
                "{} {} overlaps {} {}",
                name,
                net,
                other,
                onet
            );
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
        let fast = p.allocate(&Prior::default(), &as_requests(&r1)).ok().map(|o| o.ledger);
        let slow = naive(&res).allocate(&BTreeMap::new(), &r1, s);
        prop_assert_eq!(&fast, &slow);
        if let Some(prior) = fast {
            let fast2 = p.allocate(&Prior::ledger(prior.clone()), &as_requests(&r2)).ok().map(|o| o.ledger);
            let slow2 = naive(&res).allocate(&prior, &r2, s);
            prop_assert_eq!(fast2, slow2);
        }
    }

    /// Safe: no overlap, nothing escapes the pool or touches reserved, all aligned.
    #[test]
    fn ledger_is_safe(res in reserved(), r in requests(), s in strategy()) {
        if let Ok(out) = pool(&res, s).allocate(&Prior::default(), &as_requests(&r)) {
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
        let a = p.allocate(&Prior::default(), &as_requests(&r)).map(|o| o.ledger);
        let b = p.allocate(&Prior::default(), &shuffled).map(|o| o.ledger);
        prop_assert_eq!(a, b);
    }

    /// Re-running on its own output changes nothing.
    #[test]
    fn rerun_is_a_fixed_point(res in reserved(), r in requests(), s in strategy()) {
        let p = pool(&res, s);
        if let Ok(out) = p.allocate(&Prior::default(), &as_requests(&r)) {
            let again = p.allocate(&Prior::ledger(out.ledger.clone()), &as_requests(&r)).unwrap();
            prop_assert_eq!(again.ledger, out.ledger);
            prop_assert!(again.repaired.is_empty());
        }
    }

    /// Adding a request never moves an existing allocation.
    #[test]
    fn adding_moves_nothing(res in reserved(), r in requests(), extra in 21u8..=30, s in strategy()) {
        let p = pool(&res, s);
        if let Ok(out) = p.allocate(&Prior::default(), &as_requests(&r)) {
            let mut more = as_requests(&r);
            more.insert("zz-new".into(), Request::Size(Some(extra)));
            if let Ok(next) = p.allocate(&Prior::ledger(out.ledger.clone()), &more) {
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
        let out = match p.allocate(&Prior::default(), &as_requests(&r)) { Ok(o) => o, Err(_) => return Ok(()) };
        let victim = pick.get(&r.keys().cloned().collect::<Vec<_>>()).clone();
        let mut fewer = as_requests(&r);
        fewer.remove(&victim);
        let next = p.allocate(&Prior::ledger(out.ledger.clone()), &fewer).unwrap();
        for (k, v) in &next.ledger {
            prop_assert_eq!(&out.ledger[k], v);
        }
        let mut shrunk = as_requests(&r);
        let old = out.ledger[&victim];
        if old.prefix_len() < 30 {
            shrunk.insert(victim.clone(), Request::Size(Some(old.prefix_len() + 1)));
            let next = p.allocate(&Prior::ledger(out.ledger.clone()), &shrunk).unwrap();
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
        if let Ok(out) = p.allocate(&Prior::default(), &req) {
            assert_safe(&[net], &[], &out.ledger)?;
            let again = p.allocate(&Prior::ledger(out.ledger.clone()), &req).unwrap();
            prop_assert_eq!(again.ledger, out.ledger);
        }
    }

    /// Growth in place: whenever the larger aligned block at an allocation's start is
    /// free of every other allocation and of reserved ranges, growing keeps the start,
    /// and nothing else moves.
    #[test]
    fn growth_is_in_place_whenever_the_larger_block_is_free(res in reserved(), r in requests(), pick in any::<prop::sample::Index>(), by in 1u8..=3, s in strategy()) {
        let p = pool(&res, s);
        prop_assume!(!r.is_empty());
        let out = match p.allocate(&Prior::default(), &as_requests(&r)) { Ok(o) => o, Err(_) => return Ok(()) };
        let victim = pick.get(&r.keys().cloned().collect::<Vec<_>>()).clone();
        let old = out.ledger[&victim];
        prop_assume!(old.prefix_len() >= 21 + by);
        let bigger = IpNet::new(old.network(), old.prefix_len() - by).unwrap();
        let pool_net: IpNet = POOL.parse().unwrap();
        let free_there = bigger.trunc() == bigger
            && pool_net.contains(&bigger)
            && res.iter().all(|x| !x.contains(&bigger) && !bigger.contains(x))
            && out.ledger.iter().all(|(k, v)| k == &victim || (!v.contains(&bigger) && !bigger.contains(v)));
        let mut grown = as_requests(&r);
        grown.insert(victim.clone(), Request::Size(Some(bigger.prefix_len())));
        if let Ok(next) = p.allocate(&Prior::ledger(out.ledger.clone()), &grown) {
            if free_there {
                prop_assert_eq!(next.ledger[&victim], bigger);
            } else {
                prop_assert_ne!(next.ledger[&victim].network(), old.network());
            }
            for (k, v) in &out.ledger { if *k != victim { prop_assert_eq!(&next.ledger[k], v); } }
            assert_safe(&[pool_net], &res, &next.ledger)?;
        } else {
            prop_assert!(!free_there, "growth into a free block failed");
        }
    }

    /// Growth room: every growable allocation starts its room; no allocation, room or
    /// reserved range overlaps another's room; later requests never land in a room;
    /// growing within the room keeps the block.
    #[test]
    fn growth_room_is_never_handed_to_another(res in reserved(), r in requests(), g in prop::collection::btree_map((0u8..40).prop_map(|i| format!("n{i:02}")), 1u8..=3, 0..8), more in requests(), s in strategy()) {
        let p = pool(&res, s);
        let req: BTreeMap<String, Request> = r.iter().map(|(k, &len)| {
            let req = match g.get(k) {
                Some(&extra) if len - extra >= 21 => Request::Growable { prefix: Some(len), grow_to: len - extra },
                _ => Request::Size(Some(len)),
            };
            (k.clone(), req)
        }).collect();
        let out = match p.allocate(&Prior::default(), &req) { Ok(o) => o, Err(_) => return Ok(()) };
        let check = |ledger: &BTreeMap<String, IpNet>, growth: &BTreeMap<String, IpNet>| -> Result<(), TestCaseError> {
            for (name, room) in growth {
                prop_assert_eq!(ledger[name].network(), room.network(), "{} does not start its room", name);
                prop_assert!(room.contains(&ledger[name]));
                for x in &res { prop_assert!(!room.contains(x) && !x.contains(room), "room {} touches reserved", room); }
                for (other, net) in ledger {
                    if other != name { prop_assert!(!room.contains(net) && !net.contains(room), "{} {} in the room {} of {}", other, net, room, name); }
                }
                for (other, r2) in growth {
                    if other != name { prop_assert!(!room.contains(r2) && !r2.contains(room), "rooms of {} and {} overlap", name, other); }
                }
            }
            Ok(())
        };
        for (k, r) in &req {
            prop_assert_eq!(out.growth.contains_key(k), matches!(r, Request::Growable { .. }), "{} room", k);
        }
        check(&out.ledger, &out.growth)?;
        // Add more requests: the rooms stay whole and every block stays put.
        let mut next_req = req.clone();
        for (k, &len) in &more { next_req.entry(format!("m-{k}")).or_insert(Request::Size(Some(len))); }
        // Grow every growable allocation to its full room.
        for (k, room) in &out.growth { next_req.insert(k.clone(), Request::Growable { prefix: Some(room.prefix_len()), grow_to: room.prefix_len() }); }
        if let Ok(next) = p.allocate(&Prior::ledger(out.ledger.clone()), &next_req) {
            check(&next.ledger, &next.growth)?;
            for (k, v) in &out.ledger {
                match out.growth.get(k) {
                    Some(room) => prop_assert_eq!(&next.ledger[k], room, "{} did not grow in place", k),
                    None => prop_assert_eq!(&next.ledger[k], v),
                }
            }
        }
    }
}
