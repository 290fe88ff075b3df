//! Where an owner's plan starts from in a shared pool: a pure merge of what the owner
//! already holds (the state, the last applied ledger in private state, its rows in the
//! database, and its plan reservations) with every other owner's blocks, before the
//! allocator runs. The shared ledger's correctness lives here, so it needs no database
//! to test.
//!
//! # The contract
//! For each requested name, the block it starts from is, in order:
//! 1. its **applied block**, when that block still satisfies the request (the request
//!    is unchanged): no reservation moves it, whatever unapplied plan made it. The
//!    applied block is the last applied ledger's (private state), else the database
//!    row's, else the state's: rows changed or deleted out of band come back where
//!    they were.
//! 2. else a reservation of this owner **for the same name and the same request**
//!    (its [`request_key`]) that overlaps no block kept in step 1: the plan Terraform
//!    makes again in the apply walk, or a later plan of the same pull request, gets
//!    the block the first plan showed.
//! 3. else the applied block (the request changed: the allocator grows it in place or
//!    moves it).
//!
//! Taken: every other owner's blocks and live reservations (growth room included, and
//! the blocks it released at its last apply, held for it), and this owner's live
//! reservations of other requests that overlap no block kept here: those of other
//! open plans, which hold their blocks side by side with this one until they expire.
//! The owner's own released blocks are free to itself.

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::ledger::Requests;
use crate::alloc::Request;
use crate::store::{Block, Snapshot};

/// The request as one string, with the pool's default prefix length resolved: a
/// reservation counts only for the same name with the same key.
///
/// ```
/// use ipam::alloc::Request;
/// use ipam::provider::placement::request_key;
/// assert_eq!(request_key(&Request::Size(None), Some(24)), "/24");
/// assert_eq!(request_key(&Request::Growable { prefix: Some(24), grow_to: 22 }, None), "/24 grow_to /22");
/// assert_ne!(request_key(&Request::Size(Some(23)), None), request_key(&Request::Size(Some(24)), None));
/// ```
pub fn request_key(r: &Request, default_prefix: Option<u8>) -> String {
    let len = |p: Option<u8>| match p.or(default_prefix) {
        Some(p) => format!("/{p}"),
        None => "default".to_string(),
    };
    match r {
        Request::Size(p) => len(*p),
        Request::Growable { prefix, grow_to } => format!("{} grow_to /{grow_to}", len(*prefix)),
        Request::Pinned(net) => format!("pin {net}"),
    }
}

/// Whether a held block (and its growth room `span`) still answers `r`.
fn satisfies(r: &Request, cidr: IpNet, span: IpNet, default_prefix: Option<u8>) -> bool {
    let len_ok = |p: Option<u8>| p.or(default_prefix) == Some(cidr.prefix_len());
    match r {
        Request::Pinned(net) => *net == cidr,
        Request::Size(p) => len_ok(*p) && span == cidr,
        Request::Growable { prefix, grow_to } => {
            len_ok(*prefix) && (span == cidr || span.prefix_len() == *grow_to)
        }
    }
}

/// What the owner holds that the plan must know.
#[derive(Debug, Default, Clone)]
pub struct Held<'a> {
    /// The prior state's ledger.
    pub state: BTreeMap<String, IpNet>,
    /// The last applied ledger (private state).
    pub last_applied: BTreeMap<String, IpNet>,
    pub owner: &'a str,
}

/// Why a plan cannot go on.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// A block the owner held (in memory, missing from the database) is now another
    /// owner's.
    Lost {
        name: String,
        net: IpNet,
        other: Block,
    },
    /// A pinned block overlaps another owner's block or reservation.
    PinTaken {
        name: String,
        net: IpNet,
        other: Block,
    },
}

/// The allocator's starting point.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Merged {
    /// The block each requested name starts from.
    pub prior: BTreeMap<String, IpNet>,
    /// Blocks nobody in this plan may take.
    pub taken: Vec<IpNet>,
    /// Names whose applied block had growth room, with that room.
    pub had_room: BTreeMap<String, IpNet>,
    pub refusals: Vec<Refusal>,
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The merge (see the module's contract).
pub fn merge(
    held: &Held,
    requests: &Requests,
    snap: &Snapshot,
    default_prefix: Option<u8>,
) -> Merged {
    let owner = held.owner;
    let others: Vec<&Block> = snap
        .allocations
        .iter()
        .filter(|b| b.owner != owner)
        .chain(
            snap.reservations
                .iter()
                .filter(|r| r.block.owner != owner && r.live)
                .map(|r| &r.block),
        )
        .collect();
    let rows: BTreeMap<&str, &Block> = snap
        .allocations
        .iter()
        .filter(|b| b.owner == owner)
        .map(|b| (b.name.as_str(), b))
        .collect();
    let mine: Vec<&crate::store::Reservation> = snap
        .reservations
        .iter()
        .filter(|r| r.block.owner == owner)
        .collect();
    let mut out = Merged::default();
    let mut used: Vec<&crate::store::Reservation> = Vec::new();
    // (block, growth room, whether the database has it there) of each requested name.
    let applied: BTreeMap<&String, (IpNet, IpNet, bool)> = requests
        .keys()
        .filter_map(|name| {
            let a = match (held.last_applied.get(name), rows.get(name.as_str())) {
                (Some(net), Some(r)) if r.cidr == *net => (*net, r.span, true),
                (Some(net), _) => (*net, *net, false),
                (None, Some(r)) => (r.cidr, r.span, true),
                (None, None) => {
                    let n = held.state.get(name)?;
                    (*n, *n, false)
                }
            };
            Some((name, a))
        })
        .collect();
    // 1. Applied blocks that still answer their request, before any reservation: a
    //    reservation made for another name (a pull request that removed this one and
    //    reused its block) must not land on them (schedule seed 303).
    //    When the remembered block no longer answers but the database row does (an
    //    apply committed whose result Terraform never recorded), the row is kept
    //    (schedule seed 239).
    let kept: BTreeMap<&String, IpNet> = requests
        .iter()
        .filter_map(|(name, req)| {
            let row = rows.get(name.as_str()).map(|r| (r.cidr, r.span));
            let mem = applied.get(name).map(|(c, s, _)| (*c, *s));
            [mem, row]
                .into_iter()
                .flatten()
                .find(|(cidr, span)| satisfies(req, *cidr, *span, default_prefix))
                .map(|(cidr, _)| (name, cidr))
        })
        .collect();
    for (name, req) in requests {
        let applied = applied.get(name).copied();
        if let Some((cidr, span, _)) = applied {
            if span != cidr {
                out.had_room.insert(name.clone(), span);
            }
        }
        let key = request_key(req, default_prefix);
        let reserved = mine.iter().find(|r| {
            r.block.name == *name
                && r.block.key == key
                && !others.iter().any(|o| overlaps(&o.span, &r.block.span))
                && !kept.values().any(|k| overlaps(k, &r.block.span))
        });
        let start = match (kept.get(name), reserved, applied) {
            (Some(cidr), _, _) => Some(*cidr),
            // 2. A reservation made for this name and request.
            (None, Some(r), _) => {
                used.push(r);
                Some(r.block.cidr)
            }
            // 3. The applied block of a changed request: the allocator grows or moves it.
            // A remembered block (not in the database) that another owner has now is no
            // starting point for a request that changed anyway: it is placed anew.
            (None, None, Some((cidr, _, in_db)))
                if !in_db && others.iter().any(|o| overlaps(&o.span, &cidr)) =>
            {
                None
            }
            (None, None, Some((cidr, _, _))) => Some(cidr),
            (None, None, None) => None,
        };
        if let (Some(net), Some((cidr, _, in_db))) = (start, applied) {
            if net == cidr && !in_db {
                if let Some(o) = others.iter().find(|o| overlaps(&o.span, &net)) {
                    out.refusals.push(Refusal::Lost {
                        name: name.clone(),
                        net,
                        other: (*o).clone(),
                    });
                }
            }
        }
        if let Request::Pinned(net) = req {
            if let Some(o) = others.iter().find(|o| overlaps(&o.span, net)) {
                out.refusals.push(Refusal::PinTaken {
                    name: name.clone(),
                    net: *net,
                    other: (*o).clone(),
                });
            }
        }
        if let Some(net) = start {
            out.prior.insert(name.clone(), net);
        }
    }
    out.taken = others.iter().map(|b| b.span).collect();
    for r in &mine {
        let is_used = used.iter().any(|u| std::ptr::eq(*u, *r));
        // A reservation of this very request is this plan's own, even when the applied
        // block outranked it: a block the allocator repairs goes where the first plan put
        // it, and the apply walk's second plan must not find it taken (schedule seed 114).
        let own = r.block.key == crate::store::RELEASED
            || requests
                .get(&r.block.name)
                .is_some_and(|req| request_key(req, default_prefix) == r.block.key);
        if r.live && !is_used && !own && !out.prior.values().any(|p| overlaps(p, &r.block.span)) {
            out.taken.push(r.block.span);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Reservation;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn block(owner: &str, name: &str, cidr: &str, key: &str) -> Block {
        Block {
            owner: owner.into(),
            name: name.into(),
            cidr: net(cidr),
            span: net(cidr),
            description: None,
            request: serde_json::Value::Null,
            key: key.into(),
        }
    }

    fn res(owner: &str, name: &str, cidr: &str, key: &str, live: bool) -> Reservation {
        Reservation {
            block: block(owner, name, cidr, key),
            expires_at: "2026-12-02T00:00:00Z".into(),
            live,
        }
    }

    fn size(p: u8) -> Request {
        Request::Size(Some(p))
    }

    fn reqs(v: &[(&str, Request)]) -> Requests {
        v.iter().map(|(n, r)| (n.to_string(), *r)).collect()
    }

    fn held(owner: &str, state: &[(&str, &str)]) -> Held<'static> {
        let ledger: BTreeMap<String, IpNet> =
            state.iter().map(|(n, c)| (n.to_string(), net(c))).collect();
        Held {
            state: ledger.clone(),
            last_applied: ledger,
            owner: Box::leak(owner.to_string().into_boxed_str()),
        }
    }

    /// Issue 16, case 1: a pull request's plan (a -> /23) was never applied; main's
    /// unchanged configuration keeps a where it is.
    #[test]
    fn abandoned_plan_does_not_renumber_an_applied_block() {
        let snap = Snapshot {
            allocations: vec![
                block("team-a", "a", "10.0.0.0/24", "/24"),
                block("team-a", "b", "10.0.1.0/24", "/24"),
            ],
            reservations: vec![res("team-a", "a", "10.0.2.0/23", "/23", true)],
            ..Default::default()
        };
        let h = held("team-a", &[("a", "10.0.0.0/24"), ("b", "10.0.1.0/24")]);
        let m = merge(&h, &reqs(&[("a", size(24)), ("b", size(24))]), &snap, None);
        assert_eq!(m.prior["a"], net("10.0.0.0/24"));
        assert_eq!(m.prior["b"], net("10.0.1.0/24"));
        // The pull request's block stays held for it (side by side), not reused.
        assert!(m.taken.contains(&net("10.0.2.0/23")));
        assert!(m.refusals.is_empty());
    }

    /// The pull request's own plan (and Terraform's second plan in its apply walk)
    /// finds the reservation made for the same request.
    #[test]
    fn the_same_request_gets_its_reservation_back() {
        let snap = Snapshot {
            allocations: vec![block("team-a", "a", "10.0.0.0/24", "/24")],
            reservations: vec![
                res("team-a", "a", "10.0.2.0/23", "/23", true),
                res("team-a", "a", "10.0.8.0/22", "/22", true),
            ],
            ..Default::default()
        };
        let h = held("team-a", &[("a", "10.0.0.0/24")]);
        let m = merge(&h, &reqs(&[("a", size(23))]), &snap, None);
        assert_eq!(m.prior["a"], net("10.0.2.0/23"));
        // The other pull request's reservation (a as /22) is held for it.
        assert!(m.taken.contains(&net("10.0.8.0/22")));
        assert!(!m.taken.contains(&net("10.0.2.0/23")));
        // A third request matches neither: it starts from the applied block.
        let m = merge(&h, &reqs(&[("a", size(21))]), &snap, None);
        assert_eq!(m.prior["a"], net("10.0.0.0/24"));
    }

    /// Even an expired reservation of the same request gives the block back (a saved
    /// plan applied late) unless another owner took it; it never counts as taken.
    #[test]
    fn an_expired_reservation_counts_only_for_its_own_request_and_only_while_free() {
        let mut snap = Snapshot {
            reservations: vec![res("team-a", "c", "10.0.4.0/24", "/24", false)],
            ..Default::default()
        };
        let h = held("team-a", &[]);
        let m = merge(&h, &reqs(&[("c", size(24))]), &snap, None);
        assert_eq!(m.prior["c"], net("10.0.4.0/24"));
        let m = merge(&h, &reqs(&[("d", size(24))]), &snap, None);
        assert!(m.taken.is_empty());
        snap.allocations
            .push(block("team-b", "x", "10.0.4.0/24", "/24"));
        let m = merge(&h, &reqs(&[("c", size(24))]), &snap, None);
        assert!(!m.prior.contains_key("c"));
    }

    #[test]
    fn a_row_deleted_out_of_band_comes_back_unless_another_owner_took_it() {
        let h = held("team-a", &[("a", "10.0.0.0/24")]);
        let empty = Snapshot::default();
        let m = merge(&h, &reqs(&[("a", size(24))]), &empty, None);
        assert_eq!(m.prior["a"], net("10.0.0.0/24"));
        assert!(m.refusals.is_empty());
        let taken = Snapshot {
            allocations: vec![block("team-b", "x", "10.0.0.0/23", "/23")],
            ..Default::default()
        };
        let m = merge(&h, &reqs(&[("a", size(24))]), &taken, None);
        assert!(matches!(&m.refusals[..], [Refusal::Lost { name, .. }] if name == "a"));
    }

    #[test]
    fn other_owners_blocks_and_live_reservations_are_taken_with_their_growth_room() {
        let mut grown = block("team-b", "x", "10.0.0.0/24", "/24 grow_to /22");
        grown.span = net("10.0.0.0/22");
        let snap = Snapshot {
            allocations: vec![grown],
            reservations: vec![
                res("team-c", "y", "10.0.8.0/24", "/24", true),
                res("team-c", "z", "10.0.9.0/24", "/24", false),
            ],
            ..Default::default()
        };
        let m = merge(
            &held("team-a", &[]),
            &reqs(&[("p", Request::Pinned(net("10.0.2.0/24")))]),
            &snap,
            None,
        );
        assert_eq!(m.taken, vec![net("10.0.0.0/22"), net("10.0.8.0/24")]);
        assert!(
            matches!(&m.refusals[..], [Refusal::PinTaken { other, .. }] if other.owner == "team-b")
        );
    }

    /// Schedule seed 114 (tests/schedules.rs): two states holding one owner's claim (a
    /// copied state) left a row of b over the block c remembers. The first plan repaired
    /// c to a new block and reserved it; the apply walk's second plan kept the applied
    /// block first, counted that reservation as taken, and repaired c elsewhere:
    /// Terraform's "inconsistent final plan". The reservation of the same request is
    /// never taken from its own name.
    #[test]
    fn a_reservation_is_never_taken_from_its_own_request() {
        let snap = Snapshot {
            allocations: vec![block("o2", "b", "10.0.0.0/26", "/26")],
            reservations: vec![res("o2", "c", "10.0.1.0/24", "/24", true)],
            ..Default::default()
        };
        let h = held("o2", &[("c", "10.0.0.0/24")]);
        let m = merge(&h, &reqs(&[("b", size(27)), ("c", size(24))]), &snap, None);
        assert_eq!(m.prior["c"], net("10.0.0.0/24"));
        assert!(!m.taken.contains(&net("10.0.1.0/24")), "{:?}", m.taken);
    }

    /// Schedule seed 303 (tests/schedules.rs): a pull request removed d and added c,
    /// whose reservation took d's block; main then added c and kept d. c's reservation
    /// outranked nothing by name, but landed on d, and the allocator moved d. Applied
    /// blocks are kept first; a reservation over one of them is not used.
    #[test]
    fn a_reservation_of_another_name_never_lands_on_a_kept_block() {
        let snap = Snapshot {
            allocations: vec![block("o0", "d", "10.0.2.128/26", "/26")],
            reservations: vec![res("o0", "c", "10.0.2.128/25", "/25", true)],
            ..Default::default()
        };
        let h = held("o0", &[("d", "10.0.2.128/26")]);
        let m = merge(&h, &reqs(&[("c", size(25)), ("d", size(26))]), &snap, None);
        assert_eq!(m.prior["d"], net("10.0.2.128/26"));
        assert!(!m.prior.contains_key("c"), "{:?}", m.prior);
    }

    /// Schedule seed 239: a remembered block another owner got is refused only for a
    /// request that keeps it; a changed request is placed anew.
    #[test]
    fn a_lost_block_is_refused_only_when_the_request_would_keep_it() {
        let h = held("o0", &[("a", "10.0.0.0/26")]);
        let snap = Snapshot {
            allocations: vec![block("o2", "a", "10.0.0.0/26", "/26")],
            ..Default::default()
        };
        let kept = merge(&h, &reqs(&[("a", size(26))]), &snap, None);
        assert!(matches!(&kept.refusals[..], [Refusal::Lost { .. }]));
        let changed = merge(&h, &reqs(&[("a", size(24))]), &snap, None);
        assert!(changed.refusals.is_empty(), "{:?}", changed.refusals);
        assert!(!changed.prior.contains_key("a"));
    }

    /// Schedule seed 239: an apply committed a resized block whose result Terraform never
    /// recorded; the next plan of the same request keeps the database's row rather than
    /// growing the remembered block to another place.
    #[test]
    fn a_committed_row_that_answers_the_request_outranks_a_stale_memory() {
        let h = held("o0", &[("a", "10.0.0.0/26")]);
        let snap = Snapshot {
            allocations: vec![block("o0", "a", "10.0.4.0/24", "/24")],
            ..Default::default()
        };
        let m = merge(&h, &reqs(&[("a", size(24))]), &snap, None);
        assert_eq!(m.prior["a"], net("10.0.4.0/24"));
    }

    #[test]
    fn growth_room_and_default_lengths_are_part_of_the_request() {
        let mut a = block("team-a", "a", "10.0.0.0/24", "/24 grow_to /22");
        a.span = net("10.0.0.0/22");
        let snap = Snapshot {
            allocations: vec![a],
            ..Default::default()
        };
        let h = held("team-a", &[("a", "10.0.0.0/24")]);
        let grow = Request::Growable {
            prefix: Some(24),
            grow_to: 22,
        };
        let m = merge(&h, &reqs(&[("a", grow)]), &snap, None);
        assert_eq!(m.prior["a"], net("10.0.0.0/24"));
        assert_eq!(m.had_room["a"], net("10.0.0.0/22"));
        assert_eq!(
            request_key(&Request::Size(None), Some(24)),
            request_key(&size(24), None)
        );
        assert!(satisfies(
            &Request::Size(None),
            net("10.0.0.0/24"),
            net("10.0.0.0/24"),
            Some(24)
        ));
        assert!(!satisfies(
            &Request::Size(None),
            net("10.0.0.0/24"),
            net("10.0.0.0/24"),
            Some(23)
        ));
    }
}
