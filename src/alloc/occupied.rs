//! Disjoint address intervals, each tagged with what holds it: the allocator's record
//! of what a run has claimed so far, and of the pool's reserved ranges.

use std::collections::BTreeMap;

use ipnet::IpNet;

/// What holds a claimed interval: the allocation's name and the block it stands for
/// (for an allocation's growth room, the whole room).
pub(super) type Holder<'a> = (&'a str, IpNet);

/// Disjoint inclusive intervals, each tagged with its holder, kept in address order.
#[derive(Debug, Clone)]
pub(super) struct Occupied<T> {
    by_start: BTreeMap<u128, (u128, T)>,
}

impl<T> Default for Occupied<T> {
    fn default() -> Self {
        Occupied {
            by_start: BTreeMap::new(),
        }
    }
}

impl<T: Clone> Occupied<T> {
    /// The stored interval overlapping `[s, e]`, if any (the stored ones are disjoint).
    pub(super) fn overlap(&self, s: u128, e: u128) -> Option<(u128, u128, T)> {
        if let Some((&ps, (pe, t))) = self.by_start.range(..=e).next_back() {
            if *pe >= s {
                return Some((ps, *pe, t.clone()));
            }
        }
        None
    }

    /// Records `[s, e]`; the caller has checked that it overlaps nothing stored.
    pub(super) fn insert(&mut self, s: u128, e: u128, t: T) {
        self.by_start.insert(s, (e, t));
    }

    /// The stored intervals, lowest address first.
    pub(super) fn intervals(&self) -> impl Iterator<Item = (u128, u128)> + '_ {
        self.by_start.iter().map(|(&s, (e, _))| (s, *e))
    }
}
