//! Pool utilization: how much of the allocatable space is allocated, held and free,
//! and how many more blocks of each size fit.

use ipnet::IpNet;

use super::cidr::net_from;
use super::free::FreeIndex;
use super::{Count, Pool, CAPACITY_LENGTHS};

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

impl Pool {
    pub(super) fn utilization_of(&self, free: &FreeIndex, held: Count) -> Utilization {
        let addresses = |s: u128, e: u128| Count::from(e - s) + Count::ONE;
        let pool_total: Count = self.space.iter().map(|&(s, e)| addresses(s, e)).sum();
        let reserved: Count = self
            .reserved
            .intervals()
            .map(|(s, e)| addresses(s, e))
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
