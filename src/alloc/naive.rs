//! A deliberately naive oracle of the placement rules, for differential tests only:
//! a bitmap of one small IPv4 pool, linear scans, no index. It shares no placement
//! code with the real allocator.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::{IpNet, Ipv4Net};

use super::Strategy;

pub struct Naive {
    base: u32,
    plen: u8,
    used: Vec<bool>,
}

impl Naive {
    /// A pool of one IPv4 block with reserved ranges.
    pub fn new(pool: Ipv4Net, reserved: &[Ipv4Net]) -> Naive {
        let size = 1usize << (32 - pool.prefix_len());
        let mut n = Naive {
            base: u32::from(pool.network()),
            plen: pool.prefix_len(),
            used: vec![false; size],
        };
        for r in reserved {
            n.mark(*r);
        }
        n
    }

    fn range(&self, net: Ipv4Net) -> Option<std::ops::Range<usize>> {
        let s = u32::from(net.network()).checked_sub(self.base)? as usize;
        let len = 1usize << (32 - net.prefix_len());
        (s + len <= self.used.len()).then_some(s..s + len)
    }

    fn is_free(&self, net: Ipv4Net) -> bool {
        self.range(net)
            .is_some_and(|r| self.used[r].iter().all(|u| !u))
    }

    fn mark(&mut self, net: Ipv4Net) {
        if let Some(r) = self.range(net) {
            self.used[r].iter_mut().for_each(|u| *u = true);
        }
    }

    fn block(&self, offset: usize, len: u8) -> Ipv4Net {
        Ipv4Net::new(Ipv4Addr::from(self.base + offset as u32), len).unwrap()
    }

    /// Canonical free blocks: fully free aligned blocks whose parent is not fully free.
    fn canonical(&self) -> Vec<(usize, u8)> {
        // used-address prefix sums, so "is this block free" is one subtraction
        let mut ps = vec![0usize; self.used.len() + 1];
        for (i, &u) in self.used.iter().enumerate() {
            ps[i + 1] = ps[i] + u as usize;
        }
        let free = |off: usize, size: usize| ps[off + size] == ps[off];
        let mut out = Vec::new();
        for len in self.plen..=32 {
            let size = 1usize << (32 - len);
            for off in (0..self.used.len()).step_by(size) {
                let parent_free = len > self.plen && free(off / (size * 2) * (size * 2), size * 2);
                if free(off, size) && !parent_free {
                    out.push((off, len));
                }
            }
        }
        out
    }

    /// Runs the whole contract: keep prior entries of unchanged or shrunk size that are
    /// still valid (by name), grow in place where possible, then place the rest largest
    /// first, then by name.
    pub fn allocate(
        mut self,
        prior: &BTreeMap<String, IpNet>,
        requests: &BTreeMap<String, u8>,
        strategy: Strategy,
    ) -> Option<BTreeMap<String, IpNet>> {
        let mut ledger = BTreeMap::new();
        let mut todo = Vec::new();
        let mut grown = Vec::new();
        for (name, &p) in requests {
            let keep = match prior.get(name) {
                Some(IpNet::V4(old)) if old.prefix_len() <= p => {
                    let c = Ipv4Net::new(old.network(), p).unwrap();
                    (self.is_free(c)).then_some(c)
                }
                Some(IpNet::V4(old)) => {
                    grown.push((p, name.clone(), *old));
                    continue;
                }
                _ => None,
            };
            match keep {
                Some(c) => {
                    self.mark(c);
                    ledger.insert(name.clone(), IpNet::V4(c));
                }
                None => todo.push((p, name.clone())),
            }
        }
        // Grown requests, once everything kept is marked: the same start if the larger
        // block there is aligned and free; largest first, then by name.
        grown.sort();
        for (p, name, old) in grown {
            let c = Ipv4Net::new(old.network(), p).unwrap();
            if c.trunc() == c && self.is_free(c) {
                self.mark(c);
                ledger.insert(name, IpNet::V4(c));
            } else {
                todo.push((p, name));
            }
        }
        todo.sort();
        for (p, name) in todo {
            let fits: Vec<(usize, u8)> = self
                .canonical()
                .into_iter()
                .filter(|&(_, l)| l <= p)
                .collect();
            let (off, len) = match strategy {
                Strategy::BestFit => {
                    let tight = fits.iter().map(|&(_, l)| l).max()?;
                    *fits.iter().filter(|&&(_, l)| l == tight).min()?
                }
                Strategy::Lowest => *fits.iter().min()?,
                Strategy::Highest => *fits.iter().max()?,
            };
            let at = match strategy {
                Strategy::Highest => off + (1usize << (32 - len)) - (1usize << (32 - p)),
                _ => off,
            };
            let c = self.block(at, p);
            self.mark(c);
            ledger.insert(name, IpNet::V4(c));
        }
        Some(ledger)
    }
}
