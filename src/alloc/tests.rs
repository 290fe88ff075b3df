//! Examples of each placement rule, one pool at a time. The contract as a whole is
//! property-tested in `proptests.rs`.

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::*;

fn n(s: &str) -> IpNet {
    s.parse().unwrap()
}

/// A pool of one CIDR, no reserved ranges, no rules, best fit.
fn pool(cidr: &str) -> Pool {
    pool_by(cidr, Strategy::BestFit)
}

/// As [`pool`], by `strategy`.
fn pool_by(cidr: &str, strategy: Strategy) -> Pool {
    Pool::new(&[n(cidr)], &[], Rules::default(), strategy).unwrap()
}

fn sizes(list: &[(&str, u8)]) -> BTreeMap<String, Request> {
    list.iter()
        .map(|(k, p)| (k.to_string(), Request::Size(Some(*p))))
        .collect()
}

#[test]
fn largest_first_then_by_name() {
    let pool = pool("10.0.0.0/16");
    let out = pool
        .allocate(
            &Prior::default(),
            &sizes(&[("b", 24), ("a", 24), ("c", 20)]),
        )
        .unwrap();
    assert_eq!(out.ledger["c"], n("10.0.0.0/20"));
    assert_eq!(out.ledger["a"], n("10.0.16.0/24"));
    assert_eq!(out.ledger["b"], n("10.0.17.0/24"));
}

#[test]
fn shrink_keeps_start() {
    let pool = pool("10.0.0.0/16");
    let prior: BTreeMap<String, IpNet> = [("x".to_string(), n("10.0.4.0/22"))].into();
    let out = pool
        .allocate(&Prior::ledger(prior.clone()), &sizes(&[("x", 24)]))
        .unwrap();
    assert_eq!(out.ledger["x"], n("10.0.4.0/24"));
}

#[test]
fn removed_cidr_in_use_names_allocations() {
    let pool = pool("10.0.0.0/24");
    let prior: BTreeMap<String, IpNet> = [("x".to_string(), n("10.1.0.0/26"))].into();
    let err = pool
        .allocate(
            &Prior {
                ledger: prior,
                held: BTreeMap::new(),
                cidrs: vec![n("10.0.0.0/24"), n("10.1.0.0/24")],
            },
            &sizes(&[("x", 26)]),
        )
        .unwrap_err();
    assert_eq!(
        err,
        AllocError::CidrRemovedInUse {
            cidr: n("10.1.0.0/24"),
            names: vec!["x".into()]
        }
    );
}

#[test]
fn drift_repairs_only_the_invalid_entry() {
    let pool = Pool::new(
        &[n("10.0.0.0/24")],
        &[n("10.0.0.0/28")],
        Rules::default(),
        Strategy::BestFit,
    )
    .unwrap();
    let prior: BTreeMap<String, IpNet> = [
        ("a".to_string(), n("10.0.0.64/26")),
        ("b".to_string(), n("10.0.0.64/26")),
        ("c".to_string(), n("10.0.0.0/28")),
    ]
    .into();
    assert_eq!(
        pool.check_ledger(&prior),
        vec![
            ("b".into(), Problem::Overlaps("a".into())),
            ("c".into(), Problem::InReserved(n("10.0.0.0/28")))
        ]
    );
    let out = pool
        .allocate(
            &Prior::ledger(prior.clone()),
            &sizes(&[("a", 26), ("b", 26), ("c", 28)]),
        )
        .unwrap();
    assert_eq!(out.ledger["a"], n("10.0.0.64/26"));
    assert_ne!(out.ledger["b"], n("10.0.0.64/26"));
    assert_eq!(out.repaired.len(), 2);
}

#[test]
fn exhaustion_reports_figures() {
    let pool = pool("10.0.0.0/24");
    let err = pool
        .allocate(
            &Prior::default(),
            &sizes(&[("a", 25), ("b", 25), ("c", 30)]),
        )
        .unwrap_err();
    assert_eq!(
        err,
        AllocError::Exhausted {
            name: "c".into(),
            prefix: 30,
            free: Count::ZERO,
            largest_free: None
        }
    );
}

#[test]
fn pin_overlapping_existing_allocation_is_an_error() {
    let pool = pool("10.0.0.0/24");
    let prior: BTreeMap<String, IpNet> = [("a".to_string(), n("10.0.0.0/26"))].into();
    let mut req = sizes(&[("a", 26)]);
    req.insert("p".into(), Request::Pinned(n("10.0.0.0/27")));
    assert!(matches!(
        pool.allocate(&Prior::ledger(prior.clone()), &req),
        Err(AllocError::PinOverlap { .. })
    ));
}

#[test]
fn ipv6_hands_out_64s() {
    let pool = pool("fd00:1::/48");
    let out = pool
        .allocate(&Prior::default(), &sizes(&[("a", 64), ("b", 64)]))
        .unwrap();
    assert_eq!(out.ledger["a"], n("fd00:1::/64"));
    assert_eq!(out.ledger["b"], n("fd00:1:0:1::/64"));
    assert_eq!(out.utilization.allocated, Count::from(2u128 << 64));
}

/// Regression: span() of ::/0 overflowed a shift (a panic in debug builds) when a
/// user pinned or reserved the whole IPv6 space.
#[test]
fn whole_ipv6_space_as_pin_or_reserved_is_an_error_not_a_panic() {
    let pool = pool("fd00::/48");
    let req: BTreeMap<String, Request> = [("all".to_string(), Request::Pinned(n("::/0")))].into();
    assert!(matches!(
        pool.allocate(&Prior::default(), &req),
        Err(AllocError::PinOutsidePool { .. })
    ));
    let err = Pool::new(
        &[n("fd00::/48")],
        &[n("::/0")],
        Rules::default(),
        Strategy::BestFit,
    )
    .unwrap_err();
    assert!(matches!(err, AllocError::ReservedOutsidePool { .. }));
}

/// The whole space of either family is a pool; 2^128 addresses are counted exactly.
#[test]
fn whole_address_space_is_a_pool() {
    let v6 = pool("::/0");
    let out = v6
        .allocate(&Prior::default(), &sizes(&[("a", 1), ("b", 64)]))
        .unwrap();
    assert_eq!(out.ledger["a"], n("::/1"));
    assert_eq!(out.ledger["b"], n("8000::/64"));
    assert_eq!(
        out.utilization.total.to_string(),
        "340282366920938463463374607431768211456"
    );
    assert_eq!(
        out.utilization.allocated,
        (Count::ONE << 127u32) + (Count::ONE << 64u32)
    );
    let all = v6
        .allocate(
            &Prior::default(),
            &[("all".to_string(), Request::Size(Some(0)))].into(),
        )
        .unwrap();
    assert_eq!(all.ledger["all"], n("::/0"));
    assert_eq!(all.utilization.ratio_text(), "1");
    let pinned = v6
        .allocate(
            &Prior::default(),
            &[("all".to_string(), Request::Pinned(n("::/0")))].into(),
        )
        .unwrap();
    assert_eq!(pinned.utilization.free, Count::ZERO);
    let v4 = pool("0.0.0.0/0");
    assert_eq!(
        v4.allocate(&Prior::default(), &sizes(&[("a", 1)]))
            .unwrap()
            .ledger["a"],
        n("0.0.0.0/1")
    );
}

#[test]
fn a_request_larger_than_every_pool_block_names_the_largest() {
    let pool = Pool::new(
        &[n("10.0.0.0/16"), n("10.1.0.0/17")],
        &[],
        Rules::default(),
        Strategy::BestFit,
    )
    .unwrap();
    let err = pool
        .allocate(&Prior::default(), &sizes(&[("big", 8)]))
        .unwrap_err();
    assert_eq!(
        err,
        AllocError::LargerThanPool {
            name: "big".into(),
            prefix: 8,
            largest: n("10.0.0.0/16"),
            growth: false
        }
    );
    assert!(err.to_string().contains("10.0.0.0/16"), "{err}");
    // Adjacent blocks form a larger one: a /15 fits 10.0.0.0/16 + 10.1.0.0/16.
    let joined = Pool::new(
        &[n("10.0.0.0/16"), n("10.1.0.0/16")],
        &[],
        Rules::default(),
        Strategy::BestFit,
    )
    .unwrap();
    assert_eq!(joined.largest_block(), n("10.0.0.0/15"));
    assert!(joined
        .allocate(&Prior::default(), &sizes(&[("big", 15)]))
        .is_ok());
    let grow = [(
        "g".to_string(),
        Request::Growable {
            prefix: Some(24),
            grow_to: 14,
        },
    )]
    .into();
    assert!(matches!(
        joined.allocate(&Prior::default(), &grow),
        Err(AllocError::LargerThanPool { growth: true, .. })
    ));
}

#[test]
fn growth_keeps_the_start_when_the_larger_block_is_free() {
    let pool = pool_by("10.0.0.0/16", Strategy::Lowest);
    let prior = Prior::ledger(
        [
            ("a".to_string(), n("10.0.4.0/24")),
            ("b".to_string(), n("10.0.6.0/24")),
        ]
        .into(),
    );
    // a: /24 -> /23 at 10.0.4.0 is free; b: /24 -> /22 would need 10.0.4.0, not its start.
    let out = pool
        .allocate(&prior, &sizes(&[("a", 23), ("b", 22)]))
        .unwrap();
    assert_eq!(out.ledger["a"], n("10.0.4.0/23"));
    assert_eq!(out.ledger["b"], n("10.0.0.0/22"));
}

#[test]
fn growth_room_is_taken_from_nobody_else_and_counted_as_held() {
    let pool = pool_by("10.0.0.0/24", Strategy::Lowest);
    let mut req = sizes(&[("small", 28)]);
    req.insert(
        "g".into(),
        Request::Growable {
            prefix: Some(26),
            grow_to: 25,
        },
    );
    let out = pool.allocate(&Prior::default(), &req).unwrap();
    assert_eq!(out.ledger["g"], n("10.0.0.0/26"));
    assert_eq!(out.growth["g"], n("10.0.0.0/25"));
    assert_eq!(out.ledger["small"], n("10.0.0.128/28"));
    assert_eq!(out.utilization.held, Count::from(64u8));
    assert_eq!(out.utilization.allocated, Count::from(64u8 + 16));
    assert_eq!(out.utilization.free, Count::from(256u32 - 64 - 64 - 16));
    // Later growth within the room keeps the block; others stay.
    req.insert(
        "g".into(),
        Request::Growable {
            prefix: Some(25),
            grow_to: 25,
        },
    );
    let next = pool
        .allocate(&Prior::ledger(out.ledger.clone()), &req)
        .unwrap();
    assert_eq!(next.ledger["g"], n("10.0.0.0/25"));
    assert_eq!(next.ledger["small"], out.ledger["small"]);
    assert_eq!(next.utilization.held, Count::ZERO);
}

#[test]
fn held_blocks_come_back_to_their_name_and_to_nobody_else() {
    let pool = pool_by("10.0.0.0/24", Strategy::Lowest);
    let held: BTreeMap<String, IpNet> = [("gone".to_string(), n("10.0.0.0/25"))].into();
    let prior = Prior {
        ledger: BTreeMap::new(),
        held,
        cidrs: vec![],
    };
    let out = pool.allocate(&prior, &sizes(&[("new", 26)])).unwrap();
    assert_eq!(out.ledger["new"], n("10.0.0.128/26"));
    assert_eq!(out.held["gone"], n("10.0.0.0/25"));
    assert_eq!(out.utilization.held, Count::from(128u8));
    // Re-adding the name gets the block back and ends the hold.
    let back = pool.allocate(&prior, &sizes(&[("gone", 25)])).unwrap();
    assert_eq!(back.ledger["gone"], n("10.0.0.0/25"));
    assert!(back.held.is_empty());
    // A pin on a held block takes it and ends the hold.
    let pin = [("p".to_string(), Request::Pinned(n("10.0.0.0/26")))].into();
    let pinned = pool.allocate(&prior, &pin).unwrap();
    assert!(pinned.held.is_empty());
    // A request that needs the held space does not get it.
    assert!(matches!(
        pool.allocate(&prior, &sizes(&[("x", 25), ("y", 25)])),
        Err(AllocError::Exhausted { .. })
    ));
}

#[test]
fn adjacent_pool_cidrs_merge_into_one_free_block() {
    let pool = Pool::new(
        &[n("10.0.0.128/25"), n("10.0.0.0/25")],
        &[],
        Rules::default(),
        Strategy::BestFit,
    )
    .unwrap();
    let out = pool
        .allocate(&Prior::default(), &sizes(&[("a", 24)]))
        .unwrap();
    assert_eq!(out.ledger["a"], n("10.0.0.0/24"));
}
