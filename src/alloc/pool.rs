//! A validated pool: its address space as merged intervals, its reserved ranges, its
//! rules and strategy; the checks a ledger entry must pass, and one-at-a-time placing.

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::cidr::{addr_to_u128, check_net, net_from, span};
use super::free::{self, FreeIndex};
use super::occupied::{Holder, Occupied};
use super::{algebra, AllocError, Count, Family, Problem, Rules, Strategy};

/// A validated pool: its address space, reserved ranges, rules and strategy.
#[derive(Debug, Clone)]
pub struct Pool {
    pub(super) family: Family,
    pub(super) cidrs: Vec<IpNet>,
    /// Pool space as merged inclusive intervals.
    pub(super) space: Vec<(u128, u128)>,
    /// The largest aligned block inside the space.
    largest: IpNet,
    /// Reserved ranges, merged, with one original range each for messages.
    pub(super) reserved: Occupied<IpNet>,
    rules: Rules,
    pub(super) strategy: Strategy,
}

impl Pool {
    /// Validates and builds a pool.
    ///
    /// ```
    /// use ipam::alloc::{Pool, Rules, Strategy, AllocError};
    /// let a = "10.0.0.0/16".parse().unwrap();
    /// let b = "10.0.128.0/17".parse().unwrap();
    /// let err = Pool::new(&[a, b], &[], Rules::default(), Strategy::BestFit).unwrap_err();
    /// assert!(matches!(err, AllocError::PoolOverlap { .. }));
    /// ```
    pub fn new(
        cidrs: &[IpNet],
        reserved: &[IpNet],
        rules: Rules,
        strategy: Strategy,
    ) -> Result<Pool, AllocError> {
        let first = cidrs.first().ok_or(AllocError::EmptyPool)?;
        let family = Family::of(first);
        let mut spans = Vec::with_capacity(cidrs.len());
        for c in cidrs {
            check_net(family, c)?;
            spans.push((span(c), *c));
        }
        spans.sort_by_key(|(s, _)| *s);
        for w in spans.windows(2) {
            if w[1].0 .0 <= w[0].0 .1 {
                return Err(AllocError::PoolOverlap {
                    a: w[0].1,
                    b: w[1].1,
                });
            }
        }
        let mut space: Vec<(u128, u128)> = Vec::new();
        for ((s, e), _) in &spans {
            match space.last_mut() {
                Some(last) if last.1.checked_add(1) == Some(*s) => last.1 = *e,
                _ => space.push((*s, *e)),
            }
        }
        let bits = family.bits();
        // The largest aligned block of the space (adjacent CIDRs may form a larger one).
        let (start, len) = space
            .iter()
            .flat_map(|&(s, e)| free::decompose(bits, s, e))
            .min_by_key(|&(s, len)| (len, s))
            .unwrap_or((0, bits)); // `space` is never empty: cidrs is not
        let largest = net_from(family, start, len);
        let check_rule = |what: &'static str, v: Option<u8>| -> Result<(), AllocError> {
            match v {
                Some(v) if v > bits => Err(AllocError::InvalidRules {
                    rule: what,
                    reason: format!("{what} /{v} is longer than {family} allows (/{bits})"),
                }),
                _ => Ok(()),
            }
        };
        check_rule("min_prefix_length", rules.min_prefix_length)?;
        check_rule("max_prefix_length", rules.max_prefix_length)?;
        check_rule("default_prefix_length", rules.default_prefix_length)?;
        let (min, max) = (
            rules.min_prefix_length.unwrap_or(0),
            rules.max_prefix_length.unwrap_or(bits),
        );
        if min > max {
            return Err(AllocError::InvalidRules {
                rule: "min_prefix_length",
                reason: format!("min_prefix_length /{min} is longer than max_prefix_length /{max}"),
            });
        }
        if let Some(d) = rules.default_prefix_length {
            if d < min || d > max {
                return Err(AllocError::InvalidRules {
                    rule: "default_prefix_length",
                    reason: format!("default_prefix_length /{d} is outside /{min} to /{max}"),
                });
            }
        }
        let mut pool = Pool {
            family,
            cidrs: cidrs.to_vec(),
            space,
            largest,
            reserved: Occupied::default(),
            rules,
            strategy,
        };
        let mut res: Vec<(u128, u128, IpNet)> = Vec::with_capacity(reserved.len());
        for r in reserved {
            check_net(family, r)?;
            let (s, e) = span(r);
            if !pool.inside(s, e) {
                return Err(AllocError::ReservedOutsidePool { reserved: *r });
            }
            res.push((s, e, *r));
        }
        res.sort_by_key(|&(s, e, _)| (s, e));
        let mut merged: Vec<(u128, u128, IpNet)> = Vec::new();
        for (s, e, r) in res {
            match merged.last_mut() {
                Some(last) if s <= last.1.saturating_add(1) => last.1 = last.1.max(e),
                _ => merged.push((s, e, r)),
            }
        }
        for (s, e, r) in merged {
            pool.reserved.insert(s, e, r);
        }
        Ok(pool)
    }

    pub fn family(&self) -> Family {
        self.family
    }

    pub fn cidrs(&self) -> &[IpNet] {
        &self.cidrs
    }

    /// True when `[s, e]` lies inside one merged interval of the pool.
    pub(super) fn inside(&self, s: u128, e: u128) -> bool {
        let i = self.space.partition_point(|&(ps, _)| ps <= s);
        i > 0 && self.space[i - 1].1 >= e
    }

    /// The largest aligned block of the pool's address space.
    pub fn largest_block(&self) -> IpNet {
        self.largest
    }

    /// The prefix length a size request stands for, checked against the rules, against
    /// its `grow_to` and against the largest block the pool could ever hold.
    pub(super) fn effective_prefix(
        &self,
        name: &str,
        req: Option<u8>,
        grow_to: Option<u8>,
    ) -> Result<u8, AllocError> {
        let p = req
            .or(self.rules.default_prefix_length)
            .ok_or_else(|| AllocError::NoPrefix {
                name: name.to_string(),
            })?;
        let bits = self.family.bits();
        let min = self.rules.min_prefix_length.unwrap_or(0);
        let max = self.rules.max_prefix_length.unwrap_or(bits).min(bits);
        if p < min || p > max {
            return Err(AllocError::PrefixOutOfRules {
                name: name.to_string(),
                prefix: p,
                min,
                max,
            });
        }
        if let Some(g) = grow_to.filter(|g| *g > p) {
            return Err(AllocError::GrowToBelowPrefix {
                name: name.to_string(),
                prefix: p,
                grow_to: g,
            });
        }
        for (need, growth) in [(p, false), (grow_to.unwrap_or(p), true)] {
            if need < self.largest.prefix_len() {
                return Err(AllocError::LargerThanPool {
                    name: name.to_string(),
                    prefix: need,
                    largest: self.largest,
                    growth,
                });
            }
        }
        Ok(p)
    }

    /// True when `[s, e]` is inside the pool, clear of reserved ranges and of `taken`.
    pub(super) fn is_free(&self, s: u128, e: u128, taken: &Occupied<Holder>) -> bool {
        self.inside(s, e) && self.reserved.overlap(s, e).is_none() && taken.overlap(s, e).is_none()
    }

    /// Claims the growth room of an allocation `net` that may grow to `/grow_to`: the
    /// aligned `/grow_to` block that `net` starts. Returns the room, or `None` (nothing
    /// claimed) when `net` does not start it or the rest of it is not free.
    pub(super) fn claim_room<'a>(
        &self,
        name: &'a str,
        net: IpNet,
        grow_to: u8,
        taken: &mut Occupied<Holder<'a>>,
    ) -> Option<IpNet> {
        let start = addr_to_u128(net.network());
        let room = net_from(self.family, start, grow_to.min(net.prefix_len()));
        if room.trunc() != room {
            return None;
        }
        let (_, e) = span(&net);
        let (_, room_e) = span(&room);
        if room_e > e {
            if !self.is_free(e + 1, room_e, taken) {
                return None;
            }
            taken.insert(e + 1, room_e, (name, room));
        }
        Some(room)
    }

    /// Checks a stored ledger against the rules without placing anything: the entries
    /// a placement run would repair, and why. Entries are checked in name order, so of
    /// two overlapping entries the later name is the one reported.
    pub fn check_ledger(&self, ledger: &BTreeMap<String, IpNet>) -> Vec<(String, Problem)> {
        let mut occupied: Occupied<Holder> = Occupied::default();
        let mut problems = Vec::new();
        for (name, net) in ledger {
            match self.validity(net, &occupied) {
                Ok((s, e)) => occupied.insert(s, e, (name.as_str(), *net)),
                Err(p) => problems.push((name.clone(), p)),
            }
        }
        problems
    }

    /// Whether `net` can stand in the ledger given what is already kept.
    pub(super) fn validity(
        &self,
        net: &IpNet,
        kept: &Occupied<Holder>,
    ) -> Result<(u128, u128), Problem> {
        if Family::of(net) != self.family || net.trunc() != *net {
            return Err(Problem::Misaligned);
        }
        let (s, e) = span(net);
        if !self.inside(s, e) {
            return Err(Problem::OutsidePool);
        }
        if let Some((_, _, r)) = self.reserved.overlap(s, e) {
            return Err(Problem::InReserved(r));
        }
        if let Some((_, _, (other, _))) = kept.overlap(s, e) {
            return Err(Problem::Overlaps(other.to_string()));
        }
        Ok((s, e))
    }

    /// A placer over `ledger` (assumed valid, e.g. an [`Outcome`](super::Outcome)'s):
    /// places further blocks one at a time by the pool's strategy, each in `O(W log n)`,
    /// without re-reading the ledger. Entries that are not valid are left out of the index.
    ///
    /// ```
    /// use ipam::alloc::{Pool, Rules, Strategy};
    /// use std::collections::BTreeMap;
    /// let pool = Pool::new(&["10.0.0.0/30".parse().unwrap()], &[], Rules::default(), Strategy::BestFit).unwrap();
    /// let mut placer = pool.placer(&BTreeMap::new());
    /// assert_eq!(placer.place(31).unwrap().to_string(), "10.0.0.0/31");
    /// assert_eq!(placer.place(31).unwrap().to_string(), "10.0.0.2/31");
    /// assert_eq!(placer.place(32), None); // full
    /// ```
    pub fn placer(&self, ledger: &BTreeMap<String, IpNet>) -> Placer {
        let mut used: Occupied<Holder> = Occupied::default();
        for (name, net) in ledger {
            if let Ok((s, e)) = self.validity(net, &used) {
                used.insert(s, e, (name.as_str(), *net));
            }
        }
        Placer {
            family: self.family,
            strategy: self.strategy,
            free: self.free_index(&used),
        }
    }

    /// The free-space index of the pool minus reserved ranges minus `used`.
    pub(super) fn free_index(&self, used: &Occupied<Holder>) -> FreeIndex {
        let taken: Vec<(u128, u128)> = self.reserved.intervals().chain(used.intervals()).collect();
        let free = algebra::subtract_intervals(&self.space, taken);
        FreeIndex::from_intervals(self.family.bits(), &free)
    }
}

/// Places blocks one at a time against a fixed ledger; see [`Pool::placer`].
#[derive(Debug, Clone)]
pub struct Placer {
    family: Family,
    strategy: Strategy,
    free: FreeIndex,
}

impl Placer {
    /// Places one block of prefix length `len`; `None` when no free block is large enough.
    pub fn place(&mut self, len: u8) -> Option<IpNet> {
        self.free
            .place(len, self.strategy)
            .map(|s| net_from(self.family, s, len))
    }
    /// Free addresses left.
    pub fn free_addresses(&self) -> Count {
        self.free.free_addresses()
    }
}
