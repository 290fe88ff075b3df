//! The free-space index: the canonical CIDR decomposition of the free space, kept as
//! one ordered set of block starts per prefix length.
//!
//! "Canonical" means the fewest aligned CIDR blocks that exactly cover the free space,
//! which is the same as the set of maximal aligned free blocks. Taking a block out of a
//! canonical block and keeping the buddies left over keeps the set canonical, so a
//! placement costs `O(W log n)` set operations (`W` = the family's bit width) and never
//! scans the allocations.

use std::collections::BTreeSet;

use super::{Count, Strategy};

/// Number of addresses in a block of prefix length `len` in a family of `bits` bits,
/// exact for every block, the whole IPv6 space (2^128) included.
pub(crate) fn block_count(bits: u8, len: u8) -> Count {
    Count::ONE << u32::from(bits.saturating_sub(len))
}

/// Number of addresses minus one: the offset of a block's last address from its start.
fn block_span(bits: u8, len: u8) -> u128 {
    block_last(bits, 0, len)
}

/// The last address of the aligned block starting at `start` with prefix `len`. Safe
/// for every block, the whole IPv6 space included: `start + size - 1` would overflow
/// `u128` there.
pub(crate) fn block_last(bits: u8, start: u128, len: u8) -> u128 {
    let host_bits = u32::from(bits.saturating_sub(len));
    start | u128::MAX.checked_shr(128 - host_bits).unwrap_or(0)
}

#[derive(Debug, Clone)]
pub(crate) struct FreeIndex {
    bits: u8,
    /// `levels[len]` holds the starts of the free blocks of prefix length `len`.
    levels: Vec<BTreeSet<u128>>,
    free: Count,
}

impl FreeIndex {
    /// Builds the index from sorted, disjoint, non-adjacent-or-adjacent inclusive
    /// intervals of free addresses.
    pub(crate) fn from_intervals(bits: u8, intervals: &[(u128, u128)]) -> Self {
        let mut index = FreeIndex {
            bits,
            levels: vec![BTreeSet::new(); bits as usize + 1],
            free: Count::ZERO,
        };
        // Merge adjacent intervals first so that blocks may span them.
        let mut merged: Vec<(u128, u128)> = Vec::with_capacity(intervals.len());
        for &(s, e) in intervals {
            match merged.last_mut() {
                Some(last) if last.1.checked_add(1) == Some(s) => last.1 = e,
                _ => merged.push((s, e)),
            }
        }
        for (s, e) in merged {
            for (start, len) in decompose(bits, s, e) {
                index.insert(start, len);
            }
        }
        index
    }

    fn insert(&mut self, start: u128, len: u8) {
        self.levels[len as usize].insert(start);
        self.free += block_count(self.bits, len);
    }

    fn remove(&mut self, start: u128, len: u8) {
        self.levels[len as usize].remove(&start);
        self.free -= block_count(self.bits, len);
    }

    /// Free addresses in the index.
    pub(crate) fn free_addresses(&self) -> Count {
        self.free
    }

    /// For each prefix length from the largest free block's to `longer` more (capped at
    /// the family's width): how many blocks of that length fit in the free space.
    pub(crate) fn capacity(&self, longer: u8) -> Vec<(u8, u128)> {
        let Some(largest) = self.largest_free() else {
            return Vec::new();
        };
        let last = largest.saturating_add(longer).min(self.bits);
        (largest..=last)
            .map(|len| {
                // A free block of length q holds 2^(len - q) blocks of length len;
                // len - q <= `longer`, so the sum stays far below u128::MAX.
                let fit = (largest..=len)
                    .map(|q| (self.levels[q as usize].len() as u128) << (len - q))
                    .sum();
                (len, fit)
            })
            .collect()
    }

    /// The shortest prefix length among free blocks (the largest free block).
    pub(crate) fn largest_free(&self) -> Option<u8> {
        self.levels
            .iter()
            .position(|l| !l.is_empty())
            .map(|p| p as u8)
    }

    /// Every free block, lowest address first.
    pub(crate) fn blocks(&self) -> Vec<(u128, u8)> {
        let mut all: Vec<(u128, u8)> = self
            .levels
            .iter()
            .enumerate()
            .flat_map(|(len, set)| set.iter().map(move |&s| (s, len as u8)))
            .collect();
        all.sort_unstable();
        all
    }

    /// Places one block of prefix length `len` by `strategy`; returns its start.
    pub(crate) fn place(&mut self, len: u8, strategy: Strategy) -> Option<u128> {
        if len > self.bits {
            return None;
        }
        let fits = 0..=len as usize;
        let (start, q) = match strategy {
            Strategy::BestFit => fits
                .rev()
                .find_map(|q| self.levels[q].first().map(|&s| (s, q as u8)))?,
            Strategy::Lowest => fits
                .filter_map(|q| self.levels[q].first().map(|&s| (s, q as u8)))
                .min()?,
            Strategy::Highest => fits
                .filter_map(|q| self.levels[q].last().map(|&s| (s, q as u8)))
                .max()?,
        };
        let at = match strategy {
            Strategy::Highest => start + (block_span(self.bits, q) - block_span(self.bits, len)),
            _ => start,
        };
        self.remove(start, q);
        self.split_around(start, q, at, len);
        Some(at)
    }

    /// Block `(start, q)` has been removed; gives back its parts that are not the
    /// block `(at, len)` inside it: one buddy per level from `q + 1` to `len`.
    fn split_around(&mut self, start: u128, q: u8, at: u128, len: u8) {
        let mut cur = start;
        for level in q + 1..=len {
            // level >= 1, so a half block has at most 2^127 addresses.
            let half = block_span(self.bits, level) + 1;
            if at >= cur + half {
                self.insert(cur, level);
                cur += half;
            } else {
                self.insert(cur + half, level);
            }
        }
    }
}

/// Splits the inclusive interval `[s, e]` into its maximal aligned blocks.
pub(crate) fn decompose(bits: u8, mut s: u128, e: u128) -> Vec<(u128, u8)> {
    let mut out = Vec::new();
    loop {
        // Host bits available at `s` by alignment, capped by the family width.
        let align = if s == 0 {
            bits as u32
        } else {
            s.trailing_zeros().min(bits as u32)
        };
        // Host bits that still fit in the remaining length (e - s + 1), without overflow.
        let span = e - s; // remaining length minus one
        let fit = if span == u128::MAX {
            128
        } else {
            127 - (span + 1).leading_zeros()
        };
        let k = align.min(fit).min(bits as u32);
        let len = bits - k as u8;
        out.push((s, len));
        let last = block_last(bits, s, len);
        if last >= e {
            break;
        }
        s = last + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decompose_covers_exactly() {
        // 10.0.0.1 .. 10.0.0.10 in a 32-bit space
        let blocks = decompose(32, 1, 10);
        assert_eq!(blocks, vec![(1, 32), (2, 31), (4, 30), (8, 31), (10, 32)]);
    }

    #[test]
    fn best_fit_prefers_tightest_block() {
        // free: a /30 at 0 and a /31 at 8 (32-bit family)
        let mut idx = FreeIndex::from_intervals(32, &[(0, 3), (8, 9)]);
        assert_eq!(idx.place(32, Strategy::BestFit), Some(8));
        assert_eq!(idx.place(31, Strategy::BestFit), Some(0));
        assert_eq!(idx.free_addresses(), Count::from(3u8));
    }

    #[test]
    fn highest_places_at_end() {
        let mut idx = FreeIndex::from_intervals(32, &[(0, 255)]);
        assert_eq!(idx.place(30, Strategy::Highest), Some(252));
        assert_eq!(idx.place(30, Strategy::Lowest), Some(0));
        assert_eq!(idx.largest_free(), Some(26));
    }

    #[test]
    fn whole_ipv6_space_is_one_block() {
        assert_eq!(decompose(128, 0, u128::MAX), vec![(0, 0)]);
        let mut idx = FreeIndex::from_intervals(128, &[(0, u128::MAX)]);
        assert_eq!(idx.free_addresses(), Count::ONE << 128u32);
        assert_eq!(idx.capacity(2), vec![(0, 1), (1, 2), (2, 4)]);
        assert_eq!(idx.place(1, Strategy::Highest), Some(1u128 << 127));
        assert_eq!(idx.place(0, Strategy::BestFit), None);
        assert_eq!(idx.free_addresses(), Count::ONE << 127u32);
    }

    #[test]
    fn capacity_counts_blocks_of_each_length() {
        // free: a /30 at 0 and a /31 at 8 (32-bit family)
        let idx = FreeIndex::from_intervals(32, &[(0, 3), (8, 9)]);
        assert_eq!(idx.capacity(8), vec![(30, 1), (31, 3), (32, 6)]);
    }
}
