//! The allocator: deterministic, stable CIDR placement for IPv4 and IPv6.
//!
//! Pure Rust on [`ipnet`]; it knows nothing of Terraform. The provider layer turns
//! configuration and prior state into a [`Pool`], a prior ledger and a set of
//! [`Request`]s, calls [`Pool::allocate`], and turns the [`Outcome`] or the
//! [`AllocError`] into planned values or diagnostics.
//!
//! # Layout
//! - `mod.rs` (this file): the contract and the re-exports.
//! - `types.rs`: what a run is given: [`Rules`], [`Strategy`], [`Request`], [`Prior`],
//!   [`Family`], and [`Count`], the unit addresses are counted in.
//! - `error.rs`: [`AllocError`], and [`Problem`], the drift a stored entry can show.
//! - `cidr.rs`: strict CIDR parsing, and blocks as inclusive address intervals.
//! - `occupied.rs`: the disjoint intervals a run has claimed, each with its holder.
//! - `pool.rs`: [`Pool`], a validated pool (space, reserved ranges, rules), the checks
//!   an entry must pass, and [`Placer`], one block at a time.
//! - `allocate.rs`: [`Pool::allocate`], one method per step of the contract below.
//! - `utilization.rs`: [`Utilization`], the pool's figures after a run.
//! - `free.rs`: the free-space index (canonical CIDR decomposition, one ordered set
//!   per prefix length) that makes one placement `O(W log n)`.
//! - `facts.rs`: per-block facts (netmask, first/last address, address count).
//! - `algebra.rs`: union, difference, containment and overlap of CIDR lists, made of
//!   the same canonical decomposition as the free-space index.
//! - `cloud.rs`: what clouds reserve in a subnet, and GKE/EKS range sizing.
//! - Tests: `tests.rs` (examples of each rule), `proptests.rs` (the contract against
//!   `naive.rs`, an oracle that shares no code with the allocator),
//!   `algebra_proptests.rs`.
//!
//! # The contract (users read it in `docs/index.md`; `proptests.rs` checks it)
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
mod allocate;
mod cidr;
mod cloud;
mod error;
mod facts;
mod free;
#[cfg(test)]
mod naive;
mod occupied;
mod pool;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
mod types;
mod utilization;

pub use algebra::{contains, find_overlaps, merge, overlaps, subtract};
pub use allocate::Outcome;
pub(crate) use cidr::{addr_to_u128, net_from, span};
pub use cidr::{parse_cidr, parse_range};
pub use cloud::{
    eks_max_pods, eks_prefix_reservation_length, gke_pod_prefix_per_node, gke_prefix_lengths,
    prefix_length_for, Cloud, GkePrefixLengths, SizingError, UsableRange,
};
pub use error::{AllocError, Problem};
pub use facts::Facts;
pub use pool::{Placer, Pool};
pub use types::{
    Count, Family, Prior, Request, Rules, Strategy, UnknownStrategy, CAPACITY_LENGTHS,
};
pub use utilization::Utilization;
