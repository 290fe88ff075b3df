//! Typed errors of the allocator, and the drift a stored ledger can show. Each error
//! carries what a user-facing message needs; the provider maps them to diagnostics.

use ipnet::IpNet;
use thiserror::Error;

use super::{Count, Family};

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
