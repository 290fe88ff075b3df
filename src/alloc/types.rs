//! The allocator's vocabulary: what a run is given (pool rules, strategy, requests,
//! the prior run) and the units it counts in.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use ipnet::IpNet;

/// A number of addresses. Exact up to the whole IPv6 space, 2^128, which `u128` misses
/// by one.
pub type Count = ethnum::U256;

/// How many prefix lengths past the largest free block's [`Utilization::capacity`](super::Utilization::capacity) covers.
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
    /// Every strategy, as configuration names them.
    pub const ALL: [Strategy; 3] = [Strategy::BestFit, Strategy::Lowest, Strategy::Highest];

    /// The name configuration uses: `best_fit`, `lowest` or `highest`.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::BestFit => "best_fit",
            Strategy::Lowest => "lowest",
            Strategy::Highest => "highest",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown strategy name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a strategy: use best_fit, lowest or highest")]
pub struct UnknownStrategy(pub String);

/// Parses the names [`Strategy::name`] gives.
///
/// ```
/// use ipam::alloc::Strategy;
/// assert_eq!("lowest".parse::<Strategy>(), Ok(Strategy::Lowest));
/// assert_eq!(Strategy::Highest.to_string(), "highest");
/// assert!("random".parse::<Strategy>().is_err());
/// ```
impl FromStr for Strategy {
    type Err = UnknownStrategy;
    fn from_str(s: &str) -> Result<Strategy, UnknownStrategy> {
        Strategy::ALL
            .into_iter()
            .find(|st| st.name() == s)
            .ok_or_else(|| UnknownStrategy(s.to_string()))
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

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}
