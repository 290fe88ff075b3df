//! The allocator: deterministic, stable CIDR placement for IPv4 and IPv6.
//!
//! Pure Rust on [`ipnet`]; it knows nothing of Terraform. The provider layer turns
//! configuration and prior state into a [`Pool`], a prior ledger and a set of
//! [`Request`]s, calls [`Pool::allocate`], and turns the [`Outcome`] or the
//! [`AllocError`] into planned values or diagnostics.
//!
//! # Layout
//! - `mod.rs` (this file): the pool, the requests, the placement run, typed errors.
//! - `free.rs`: the free-space index (canonical CIDR decomposition, one ordered set
//!   per prefix length) that makes one placement `O(W log n)`.
//! - `facts.rs`: per-block facts (netmask, first/last address, address count).
//! - `algebra.rs`: union, difference, containment and overlap of CIDR lists, made of
//!   the same canonical decomposition as the free-space index.
//! - `cloud.rs`: what clouds reserve in a subnet, and GKE/EKS range sizing.
//!
//! # The contract (SPEC.md, "Placement rules")
//! 1. Deterministic: the outcome depends only on the inputs, never on their order.
//! 2. Stable: a prior allocation keeps its CIDR while its own request is unchanged and
//!    it is still valid; shrinking keeps the block's start; growing keeps it when the
//!    aligned larger block there is free. Room held for an allocation's `grow_to` and
//!    released blocks still on hold are taken from nobody else.
//! 3. Safe: no overlap, inside the pool, outside `reserved`, aligned.
//! 4. New and changed requests are placed largest first, then by name, by [`Strategy`].
//! 5. A request that cannot be met fails the whole run with [`AllocError::Exhausted`].
//!
//! ```
//! use ipam::alloc::{Pool, Prior, Request, Rules, Strategy};
//! use std::collections::BTreeMap;
//!
//! let pool = Pool::new(&["10.0.0.0/16".parse().unwrap()], &[], Rules::default(), Strategy::BestFit).unwrap();
//! let mut requests = BTreeMap::new();
//! requests.insert("pods".to_string(), Request::Size(Some(18)));
//! requests.insert("nodes".to_string(), Request::Size(Some(24)));
//! let out = pool.allocate(&Prior::default(), &requests).unwrap();
//! assert_eq!(out.ledger["pods"].to_string(), "10.0.0.0/18");
//! assert_eq!(out.ledger["nodes"].to_string(), "10.0.64.0/24");
//!
//! // A request that does not fit fails with the figures a user needs.
//! requests.insert("huge".to_string(), Request::Size(Some(16)));
//! let err = pool.allocate(&Prior::ledger(out.ledger), &requests).unwrap_err();
//! assert!(err.to_string().contains("\"huge\""));
//! ```

mod algebra;
#[cfg(test)]
mod algebra_proptests;
mod cloud;
mod facts;
mod free;
#[cfg(test)]
mod naive;
#[cfg(test)]
mod proptests;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use thiserror::Error;

pub use algebra::{contains, find_overlaps, merge, overlaps, subtract};
pub use cloud::{
    eks_max_pods, eks_prefix_reservation_length, gke_pod_prefix_per_node, gke_prefix_lengths,
    prefix_length_for, Cloud, GkePrefixLengths, SizingError, UsableRange,
};
pub use facts::Facts;
use free::{block_count, block_last, FreeIndex};

/// A number of addresses. Exact up to the whole IPv6 space, 2^128, which `u128` misses
/// by one.
pub type Count = ethnum::U256;

/// How many prefix lengths past the largest free block's [`Utilization::capacity`] covers.
pub const CAPACITY_LENGTHS: u8 = 8;

/// Where new blocks go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Strategy {
    /// The tightest free block that fits, lowest address among equals.
    #[default]
    BestFit,
    /// The lowest-addressed free block that fits.
    Lowest,
    /// The highest-addressed free block that fits, placing at its end.
    Highest,
}

impl Strategy {
    /// Parses `best_fit`, `lowest` or `highest`.
    pub fn parse(s: &str) -> Option<Strategy> {
        match s {
            "best_fit" => Some(Strategy::BestFit),
            "lowest" => Some(Strategy::Lowest),
            "highest" => Some(Strategy::Highest),
            _ => None,
        }
    }
}

/// Allocation rules, as AWS IPAM pools have them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rules {
    /// Shortest prefix length a request may ask for (largest block).
    pub min_prefix_length: Option<u8>,
    /// Longest prefix length a request may ask for (smallest block).
    pub max_prefix_length: Option<u8>,
    /// Prefix length of a request that names none.
    pub default_prefix_length: Option<u8>,
}

/// One allocation request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Request {
    /// A block of this prefix length, or of the pool's default when `None`.
    Size(Option<u8>),
    /// As `Size`, placed at the start of a free block of prefix length `grow_to` whose
    /// rest is held for this allocation alone, so that it can later grow in place.
    Growable { prefix: Option<u8>, grow_to: u8 },
    /// Exactly this block (brownfield).
    Pinned(IpNet),
}

/// What the previous run left: its ledger, the released blocks still held, its CIDRs.
#[derive(Debug, Clone, Default)]
pub struct Prior {
    /// Allocations by name.
    pub ledger: BTreeMap<String, IpNet>,
    /// Released blocks on hold, by the name that held them. A request of the same name
    /// gets its block back; nobody else gets it.
    pub held: BTreeMap<String, IpNet>,
    /// The pool's CIDRs, to name allocations stranded by a removed CIDR.
    pub cidrs: Vec<IpNet>,
}

impl Prior {
    /// A prior run of just this ledger.
    pub fn ledger(ledger: BTreeMap<String, IpNet>) -> Prior {
        Prior {
            ledger,
            ..Prior::default()
        }
    }
}

/// IP family of a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(net: &IpNet) -> Family {
        match net {
            IpNet::V4(_) => Family::V4,
            IpNet::V6(_) => Family::V6,
        }
    }
    /// Address width in bits.
    pub fn bits(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

/// Why a block of a stored ledger is invalid (drift).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Not a CIDR of the pool's family, or host bits set.
    Misaligned,
    /// Not inside the pool's CIDRs.
    OutsidePool,
    /// Touches a reserved range.
    InReserved(IpNet),
    /// Overlaps another entry (the one kept, earlier by name).
    Overlaps(String),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Misaligned => f.write_str("is not an aligned CIDR block of the pool's family"),
            Problem::OutsidePool => f.write_str("lies outside the pool's cidrs"),
            Problem::InReserved(r) => write!(f, "touches the reserved range {r}"),
            Problem::Overlaps(o) => write!(f, "overlaps allocation {o:?}"),
        }
    }
}

/// Typed errors; each carries what a user-facing message needs.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AllocError {
    #[error("{input:?} is not a valid CIDR block (expected an address and a prefix length, such as 10.0.0.0/16 or fd00::/48)")]
    Malformed { input: String },
    #[error("{input:?} has host bits set; did you mean {suggested}")]
    HostBitsSet { input: String, suggested: IpNet },
    #[error("{other} is {other_family} but the pool is {family}: one pool holds one IP family")]
    MixedFamilies {
        family: Family,
        other: IpNet,
        other_family: Family,
    },
    #[error("the pool has no CIDR blocks: give at least one in cidrs")]
    EmptyPool,
    #[error("pool CIDRs {a} and {b} overlap: list each address range once")]
    PoolOverlap { a: IpNet, b: IpNet },
    #[error("reserved range {reserved} is not inside the pool's cidrs")]
    ReservedOutsidePool { reserved: IpNet },
    #[error("invalid allocation rules: {reason}")]
    InvalidRules { rule: &'static str, reason: String },
    #[error("allocation {name:?} asks for a /{prefix}, outside the allowed prefix lengths /{min} to /{max}")]
    PrefixOutOfRules {
        name: String,
        prefix: u8,
        min: u8,
        max: u8,
    },
    #[error("allocation {name:?} {} a /{prefix}, larger than the largest block of the pool's cidrs ({largest}): it can never fit", if *growth { "may grow to" } else { "asks for" })]
    LargerThanPool {
        name: String,
        prefix: u8,
        largest: IpNet,
        growth: bool,
    },
    #[error("allocation {name:?} asks for a /{prefix} but may grow only to /{grow_to}, which is smaller")]
    GrowToBelowPrefix {
        name: String,
        prefix: u8,
        grow_to: u8,
    },
    #[error("allocation {name:?} gives no prefix_length or cidr and the pool has no default_prefix_length")]
    NoPrefix { name: String },
    #[error("allocation {name:?} pins {cidr}, which is not inside the pool's cidrs")]
    PinOutsidePool { name: String, cidr: IpNet },
    #[error("allocation {name:?} pins {cidr}, which touches the reserved range {reserved}")]
    PinInReserved {
        name: String,
        cidr: IpNet,
        reserved: IpNet,
    },
    #[error("allocation {name:?} pins {cidr}, which overlaps allocation {other:?} ({other_cidr})")]
    PinOverlap {
        name: String,
        cidr: IpNet,
        other: String,
        other_cidr: IpNet,
    },
    #[error("allocation {name:?} needs a /{prefix} but no free block is that large: the pool has {free} free addresses, largest free block {}", largest_free.map(|l| format!("/{l}")).unwrap_or_else(|| "none".into()))]
    Exhausted {
        name: String,
        prefix: u8,
        free: Count,
        largest_free: Option<u8>,
    },
    #[error("pool CIDR {cidr} cannot be removed while it holds allocations: {}", names.join(", "))]
    CidrRemovedInUse { cidr: IpNet, names: Vec<String> },
}

/// Parses a CIDR block strictly: no host bits, with a suggestion when there are.
///
/// ```
/// use ipam::alloc::{parse_cidr, AllocError};
/// assert_eq!(parse_cidr("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
/// match parse_cidr("10.0.0.1/8") {
///     Err(AllocError::HostBitsSet { suggested, .. }) => assert_eq!(suggested.to_string(), "10.0.0.0/8"),
///     other => panic!("{other:?}"),
/// }
/// assert!(matches!(parse_cidr("10.0.0.0"), Err(AllocError::Malformed { .. })));
/// ```
pub fn parse_cidr(input: &str) -> Result<IpNet, AllocError> {
    let net: IpNet = input.trim().parse().map_err(|_| AllocError::Malformed {
        input: input.to_string(),
    })?;
    if net.trunc() != net {
        return Err(AllocError::HostBitsSet {
            input: input.to_string(),
            suggested: net.trunc(),
        });
    }
    Ok(net)
}

/// Parses a reserved range: a CIDR block, or a single address (a /32 or /128).
pub fn parse_range(input: &str) -> Result<IpNet, AllocError> {
    if let Ok(ip) = input.trim().parse::<IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    parse_cidr(input)
}

pub(crate) fn addr_to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

pub(crate) fn net_from(family: Family, start: u128, len: u8) -> IpNet {
    // `start` always fits the family and `len` never exceeds its width here.
    match family {
        Family::V4 => IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::from(start as u32), len)),
        Family::V6 => IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::from(start), len)),
    }
}

pub(crate) fn span(net: &IpNet) -> (u128, u128) {
    let bits = Family::of(net).bits();
    let s = addr_to_u128(net.network());
    (s, block_last(bits, s, net.prefix_len()))
}

/// The owner of a kept block: its name and CIDR.
type Owner<'a> = (&'a str, IpNet);

/// Disjoint inclusive intervals, each tagged with an owner, kept in address order.
#[derive(Debug, Default, Clone)]
struct Occupied<T> {
    by_start: BTreeMap<u128, (u128, T)>,
}

impl<T: Clone> Occupied<T> {
    /// The stored interval overlapping `[s, e]`, if any (the stored ones are disjoint).
    fn overlap(&self, s: u128, e: u128) -> Option<(u128, u128, T)> {
        if let Some((&ps, (pe, t))) = self.by_start.range(..=e).next_back() {
            if *pe >= s {
                return Some((ps, *pe, t.clone()));
            }
        }
        None
    }
    fn insert(&mut self, s: u128, e: u128, t: T) {
        self.by_start.insert(s, (e, t));
    }
}

/// A validated pool: its address space, reserved ranges, rules and strategy.
#[derive(Debug, Clone)]
pub struct Pool {
    family: Family,
    cidrs: Vec<IpNet>,
    /// Pool space as merged inclusive intervals.
    space: Vec<(u128, u128)>,
    /// The largest aligned block inside the space.
    largest: IpNet,
    /// Reserved ranges, merged, with one original range each for messages.
    reserved: Occupied<IpNet>,
    rules: Rules,
    strategy: Strategy,
}

/// Pool utilization figures. `total = allocated + held + free`.
#[derive(Debug, Clone, PartialEq)]
pub struct Utilization {
    /// Addresses in `cidrs` minus those in `reserved`: the allocatable space.
    pub total: Count,
    pub allocated: Count,
    /// Neither allocated nor free: growth room and released blocks on hold.
    pub held: Count,
    pub free: Count,
    /// Prefix length of the largest free block, `None` when full.
    pub largest_free_prefix_length: Option<u8>,
    /// The canonical free blocks, lowest address first.
    pub free_cidrs: Vec<IpNet>,
    /// For each prefix length from the largest free block's to [`CAPACITY_LENGTHS`]
    /// longer (capped at the family's width), how many more blocks of it fit.
    pub capacity: Vec<(u8, u128)>,
}

impl Utilization {
    /// `allocated / total` as decimal text rounded half up to 6 places, trailing zeros
    /// dropped (`"0"` for a pool with no allocatable space). Integer arithmetic, so the
    /// text is the same on every machine.
    ///
    /// ```
    /// use ipam::alloc::{Count, Utilization};
    /// let u = |a: u32, t: u32| Utilization {
    ///     total: Count::from(t), allocated: Count::from(a), held: Count::ZERO, free: Count::from(t - a),
    ///     largest_free_prefix_length: None, free_cidrs: vec![], capacity: vec![],
    /// };
    /// assert_eq!(u(8352, 65280).ratio_text(), "0.127941");
    /// assert_eq!(u(1, 2).ratio_text(), "0.5");
    /// assert_eq!(u(0, 256).ratio_text(), "0");
    /// assert_eq!(u(256, 256).ratio_text(), "1");
    /// assert_eq!(u(0, 0).ratio_text(), "0");
    /// ```
    pub fn ratio_text(&self) -> String {
        const SCALE: u32 = 1_000_000;
        if self.total == Count::ZERO {
            return "0".into();
        }
        let two = Count::from(2u8);
        let millionths =
            (self.allocated * Count::from(SCALE) * two + self.total) / (self.total * two);
        let m = millionths.as_u32();
        if m >= SCALE {
            return "1".into();
        }
        if m == 0 {
            return "0".into();
        }
        let frac = format!("{m:06}");
        format!("0.{}", frac.trim_end_matches('0'))
    }
}

/// The result of a placement run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Every requested allocation, by name.
    pub ledger: BTreeMap<String, IpNet>,
    /// For each growable allocation with room held: the block it may grow to.
    pub growth: BTreeMap<String, IpNet>,
    /// Released blocks still on hold after this run.
    pub held: BTreeMap<String, IpNet>,
    /// Prior entries that were invalid and were placed anew, with the reason.
    pub repaired: Vec<(String, Problem)>,
    /// Growable allocations kept where they are with no room held: the block of their
    /// `grow_to` around them is not free (or they do not start it).
    pub no_room: Vec<String>,
    pub utilization: Utilization,
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
    fn inside(&self, s: u128, e: u128) -> bool {
        let i = self.space.partition_point(|&(ps, _)| ps <= s);
        i > 0 && self.space[i - 1].1 >= e
    }

    /// The largest aligned block of the pool's address space.
    pub fn largest_block(&self) -> IpNet {
        self.largest
    }

    /// The prefix length a size request stands for, checked against the rules, against
    /// its `grow_to` and against the largest block the pool could ever hold.
    fn effective_prefix(
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
    fn is_free(&self, s: u128, e: u128, taken: &Occupied<Owner>) -> bool {
        self.inside(s, e) && self.reserved.overlap(s, e).is_none() && taken.overlap(s, e).is_none()
    }

    /// Claims the growth room of an allocation `net` that may grow to `/grow_to`: the
    /// aligned `/grow_to` block that `net` starts. Returns the room, or `None` (nothing
    /// claimed) when `net` does not start it or the rest of it is not free.
    fn claim_room<'a>(
        &self,
        name: &'a str,
        net: IpNet,
        grow_to: u8,
        taken: &mut Occupied<Owner<'a>>,
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
        let mut occupied: Occupied<Owner> = Occupied::default();
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
    fn validity(&self, net: &IpNet, kept: &Occupied<Owner>) -> Result<(u128, u128), Problem> {
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

    /// Places every request: pins as given; prior allocations kept where their request
    /// is unchanged or shrunk (at the same start) and still valid; growth room claimed
    /// for kept growable allocations; released blocks held; grown requests kept at their
    /// start where the larger aligned block is free; the rest placed largest first, then
    /// by name. A request whose name holds a released block gets that block back.
    ///
    /// On error nothing is returned: a run never yields a partial ledger.
    ///
    /// ```
    /// use ipam::alloc::{Pool, Prior, Request, Rules, Strategy};
    /// use std::collections::BTreeMap;
    /// let pool = Pool::new(&["10.0.0.0/16".parse().unwrap()], &[], Rules::default(), Strategy::BestFit).unwrap();
    /// let req = |r| BTreeMap::from([("nodes".to_string(), r)]);
    /// // Room to grow to a /22 is held beside the /24.
    /// let out = pool.allocate(&Prior::default(), &req(Request::Growable { prefix: Some(24), grow_to: 22 })).unwrap();
    /// assert_eq!(out.ledger["nodes"].to_string(), "10.0.0.0/24");
    /// assert_eq!(out.growth["nodes"].to_string(), "10.0.0.0/22");
    /// // Growing within the room keeps the start.
    /// let grown = pool.allocate(&Prior::ledger(out.ledger), &req(Request::Growable { prefix: Some(23), grow_to: 22 })).unwrap();
    /// assert_eq!(grown.ledger["nodes"].to_string(), "10.0.0.0/23");
    /// // A room larger than the request is an error, not a guess.
    /// assert!(pool.allocate(&Prior::default(), &req(Request::Growable { prefix: Some(22), grow_to: 24 })).is_err());
    /// ```
    pub fn allocate(
        &self,
        prior: &Prior,
        requests: &BTreeMap<String, Request>,
    ) -> Result<Outcome, AllocError> {
        // The ledger is collected unordered and sorted once at the end.
        let mut ledger: Vec<(&str, IpNet)> = Vec::with_capacity(requests.len());
        // Everything claimed so far: allocations, growth room, held blocks.
        let mut taken: Occupied<Owner> = Occupied::default();
        let mut growth: BTreeMap<String, IpNet> = BTreeMap::new();
        let mut no_room: Vec<String> = Vec::new();

        // 1. Pins: inside the pool, clear of reserved ranges and of each other.
        let mut sizes: Vec<(u8, Option<u8>, &str)> = Vec::new();
        let mut pins: BTreeMap<&str, IpNet> = BTreeMap::new();
        for (name, req) in requests {
            match req {
                Request::Pinned(net) => {
                    check_net(self.family, net)?;
                    let (s, e) = span(net);
                    if !self.inside(s, e) {
                        return Err(AllocError::PinOutsidePool {
                            name: name.clone(),
                            cidr: *net,
                        });
                    }
                    if let Some((_, _, r)) = self.reserved.overlap(s, e) {
                        return Err(AllocError::PinInReserved {
                            name: name.clone(),
                            cidr: *net,
                            reserved: r,
                        });
                    }
                    if let Some((_, _, (other, other_cidr))) = taken.overlap(s, e) {
                        return Err(AllocError::PinOverlap {
                            name: name.clone(),
                            cidr: *net,
                            other: other.to_string(),
                            other_cidr,
                        });
                    }
                    taken.insert(s, e, (name.as_str(), *net));
                    pins.insert(name.as_str(), *net);
                    ledger.push((name.as_str(), *net));
                }
                Request::Size(p) => {
                    sizes.push((self.effective_prefix(name, *p, None)?, None, name.as_str()))
                }
                Request::Growable { prefix, grow_to } => sizes.push((
                    self.effective_prefix(name, *prefix, Some(*grow_to))?,
                    Some(*grow_to),
                    name.as_str(),
                )),
            }
        }

        // 2. Prior allocations (or held blocks of the same name) of unchanged or shrunk
        //    requests, in name order. Grown ones wait until everything kept is claimed.
        let mut repaired = Vec::new();
        let mut stranded: BTreeMap<IpNet, Vec<String>> = BTreeMap::new();
        let mut to_place: Vec<(u8, &str, u8, Option<u8>)> = Vec::new();
        let mut growers: Vec<(u8, &str, Option<u8>, IpNet)> = Vec::new();
        let mut kept_growable: Vec<(&str, IpNet, u8)> = Vec::new();
        for (p, g, name) in sizes {
            let Some(old) = prior.ledger.get(name).or_else(|| prior.held.get(name)) else {
                to_place.push((g.unwrap_or(p), name, p, g));
                continue;
            };
            let aligned = Family::of(old) == self.family && old.trunc() == *old;
            if aligned && old.prefix_len() > p {
                growers.push((p, name, g, *old));
                continue;
            }
            // Same size, or shrunk: keep the start.
            let candidate = if aligned {
                net_from(self.family, addr_to_u128(old.network()), p)
            } else {
                *old
            };
            match self.validity(&candidate, &taken) {
                Ok((s, e)) => {
                    taken.insert(s, e, (name, candidate));
                    ledger.push((name, candidate));
                    if let Some(g) = g {
                        kept_growable.push((name, candidate, g));
                    }
                }
                Err(Problem::Overlaps(other)) if pins.contains_key(other.as_str()) => {
                    // A new pin over a live allocation would move it: refuse, naming both.
                    return Err(AllocError::PinOverlap {
                        cidr: pins[other.as_str()],
                        name: other,
                        other: name.to_string(),
                        other_cidr: candidate,
                    });
                }
                Err(problem) => {
                    if problem == Problem::OutsidePool {
                        let gone = prior
                            .cidrs
                            .iter()
                            .find(|c| c.contains(&candidate) && !self.cidrs.contains(c));
                        if let Some(gone) = gone {
                            stranded.entry(*gone).or_default().push(name.to_string());
                            continue;
                        }
                    }
                    repaired.push((name.to_string(), problem));
                    to_place.push((g.unwrap_or(p), name, p, g));
                }
            }
        }
        if let Some((cidr, names)) = stranded.into_iter().next() {
            return Err(AllocError::CidrRemovedInUse { cidr, names });
        }

        // 3. Growth room of kept allocations, in name order.
        for (name, net, g) in kept_growable {
            match self.claim_room(name, net, g, &mut taken) {
                Some(room) => {
                    growth.insert(name.to_string(), room);
                }
                None => no_room.push(name.to_string()),
            }
        }

        // 4. Released blocks on hold, unless re-requested (step 2 gave them back), or
        //    taken by a pin or no longer valid (the hold ends).
        let mut held: BTreeMap<String, IpNet> = BTreeMap::new();
        for (name, net) in &prior.held {
            if requests.contains_key(name) {
                continue;
            }
            if let Ok((s, e)) = self.validity(net, &taken) {
                taken.insert(s, e, (name.as_str(), *net));
                held.insert(name.clone(), *net);
            }
        }

        // 5. Grown requests keep their start where the larger aligned block is free (the
        //    only growth GCP accepts), largest first, then by name; a growable one with
        //    its whole room there if that is free too.
        growers.sort_unstable();
        for (p, name, g, old) in growers {
            let start = addr_to_u128(old.network());
            let grown = net_from(self.family, start, p);
            let (s, e) = span(&grown);
            if grown.trunc() != grown || !self.is_free(s, e, &taken) {
                to_place.push((g.unwrap_or(p), name, p, g));
                continue;
            }
            taken.insert(s, e, (name, grown));
            ledger.push((name, grown));
            if let Some(g) = g {
                match self.claim_room(name, grown, g, &mut taken) {
                    Some(room) => {
                        growth.insert(name.to_string(), room);
                    }
                    None => no_room.push(name.to_string()),
                }
            }
        }

        // 6. Everything else: largest footprint (a growable one's room) first, then by
        //    name; a growable allocation starts its room.
        let mut free = self.free_index(&taken);
        to_place.sort_unstable();
        for (len, name, p, g) in to_place {
            match free.place(len, self.strategy) {
                Some(start) => {
                    ledger.push((name, net_from(self.family, start, p)));
                    if g.is_some() {
                        growth.insert(name.to_string(), net_from(self.family, start, len));
                    }
                }
                None => {
                    return Err(AllocError::Exhausted {
                        name: name.to_string(),
                        prefix: len,
                        free: free.free_addresses(),
                        largest_free: free.largest_free(),
                    })
                }
            }
        }
        ledger.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let ledger: BTreeMap<String, IpNet> = ledger
            .into_iter()
            .map(|(n, c)| (n.to_string(), c))
            .collect();
        no_room.sort_unstable();
        // Held: the rest of each growth room, and every block on hold.
        let bits = self.family.bits();
        let rooms: Count = growth
            .iter()
            .filter_map(|(name, room)| {
                Some(
                    block_count(bits, room.prefix_len())
                        - block_count(bits, ledger.get(name)?.prefix_len()),
                )
            })
            .sum();
        let holds: Count = held
            .values()
            .map(|net| block_count(bits, net.prefix_len()))
            .sum();
        let utilization = self.utilization_of(&free, rooms + holds);
        Ok(Outcome {
            ledger,
            growth,
            held,
            repaired,
            no_room,
            utilization,
        })
    }

    /// A placer over `ledger` (assumed valid, e.g. an [`Outcome`]'s): places further
    /// blocks one at a time by the pool's strategy, each in `O(W log n)`, without
    /// re-reading the ledger. Entries that are not valid are left out of the index.
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
        let mut used: Occupied<Owner> = Occupied::default();
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
    fn free_index(&self, used: &Occupied<Owner>) -> FreeIndex {
        let taken: Vec<(u128, u128)> = self
            .reserved
            .by_start
            .iter()
            .map(|(&s, (e, _))| (s, *e))
            .chain(used.by_start.iter().map(|(&s, (e, _))| (s, *e)))
            .collect();
        let free = algebra::subtract_intervals(&self.space, taken);
        FreeIndex::from_intervals(self.family.bits(), &free)
    }

    fn utilization_of(&self, free: &FreeIndex, held: Count) -> Utilization {
        let addresses = |s: u128, e: u128| Count::from(e - s) + Count::ONE;
        let pool_total: Count = self.space.iter().map(|&(s, e)| addresses(s, e)).sum();
        let reserved: Count = self
            .reserved
            .by_start
            .iter()
            .map(|(&s, (e, _))| addresses(s, *e))
            .sum();
        let total = pool_total - reserved;
        let free_addrs = free.free_addresses();
        Utilization {
            total,
            allocated: total - free_addrs - held,
            held,
            free: free_addrs,
            largest_free_prefix_length: free.largest_free(),
            free_cidrs: free
                .blocks()
                .into_iter()
                .map(|(s, l)| net_from(self.family, s, l))
                .collect(),
            capacity: free.capacity(CAPACITY_LENGTHS),
        }
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

fn check_net(family: Family, net: &IpNet) -> Result<(), AllocError> {
    if Family::of(net) != family {
        return Err(AllocError::MixedFamilies {
            family,
            other: *net,
            other_family: Family::of(net),
        });
    }
    if net.trunc() != *net {
        return Err(AllocError::HostBitsSet {
            input: net.to_string(),
            suggested: net.trunc(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn sizes(list: &[(&str, u8)]) -> BTreeMap<String, Request> {
        list.iter()
            .map(|(k, p)| (k.to_string(), Request::Size(Some(*p))))
            .collect()
    }

    #[test]
    fn largest_first_then_by_name() {
        let pool = Pool::new(
            &[n("10.0.0.0/16")],
            &[],
            Rules::default(),
            Strategy::BestFit,
        )
        .unwrap();
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
        let pool = Pool::new(
            &[n("10.0.0.0/16")],
            &[],
            Rules::default(),
            Strategy::BestFit,
        )
        .unwrap();
        let prior: BTreeMap<String, IpNet> = [("x".to_string(), n("10.0.4.0/22"))].into();
        let out = pool
            .allocate(&Prior::ledger(prior.clone()), &sizes(&[("x", 24)]))
            .unwrap();
        assert_eq!(out.ledger["x"], n("10.0.4.0/24"));
    }

    #[test]
    fn removed_cidr_in_use_names_allocations() {
        let pool = Pool::new(
            &[n("10.0.0.0/24")],
            &[],
            Rules::default(),
            Strategy::BestFit,
        )
        .unwrap();
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
        let pool = Pool::new(
            &[n("10.0.0.0/24")],
            &[],
            Rules::default(),
            Strategy::BestFit,
        )
        .unwrap();
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
        let pool = Pool::new(
            &[n("10.0.0.0/24")],
            &[],
            Rules::default(),
            Strategy::BestFit,
        )
        .unwrap();
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
        let pool = Pool::new(
            &[n("fd00:1::/48")],
            &[],
            Rules::default(),
            Strategy::BestFit,
        )
        .unwrap();
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
        let pool = Pool::new(&[n("fd00::/48")], &[], Rules::default(), Strategy::BestFit).unwrap();
        let req: BTreeMap<String, Request> =
            [("all".to_string(), Request::Pinned(n("::/0")))].into();
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
        let v6 = Pool::new(&[n("::/0")], &[], Rules::default(), Strategy::BestFit).unwrap();
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
        let v4 = Pool::new(&[n("0.0.0.0/0")], &[], Rules::default(), Strategy::BestFit).unwrap();
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
        let pool = Pool::new(&[n("10.0.0.0/16")], &[], Rules::default(), Strategy::Lowest).unwrap();
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
        let pool = Pool::new(&[n("10.0.0.0/24")], &[], Rules::default(), Strategy::Lowest).unwrap();
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
        let pool = Pool::new(&[n("10.0.0.0/24")], &[], Rules::default(), Strategy::Lowest).unwrap();
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
}
