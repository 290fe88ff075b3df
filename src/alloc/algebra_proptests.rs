//! Property tests of the CIDR algebra against a naive oracle: every block of a small
//! IPv4 /24 or IPv6 /120 as a set of addresses, checked address by address. The oracle
//! shares no code with `algebra.rs`: it walks a bitmap and greedily takes the largest
//! aligned block that fits, which is the unique fewest-blocks cover.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use proptest::prelude::{prop, prop_assert_eq, proptest, ProptestConfig};
use proptest::strategy::Strategy as _;

use super::{contains, find_overlaps, merge, overlaps, subtract};

/// The two small spaces: 10.9.8.0/24 and fd00::100/120, 256 addresses each.
const V4_BASE: u32 = 0x0a09_0800;
const V6_BASE: u128 = 0xfd00_0000_0000_0000_0000_0000_0000_0100;

/// A block in one of the two spaces: (is_v6, offset, prefix length within /24..=/32).
fn block() -> impl proptest::strategy::Strategy<Value = IpNet> {
    (proptest::bool::ANY, 0u32..256, 0u8..=8).prop_map(|(v6, off, host_bits_kept)| {
        // host bits of the block: 8 - host_bits_kept .. ; align the offset to them
        let host = 8 - host_bits_kept;
        let off = off & !((1u32 << host) - 1);
        if v6 {
            let addr = Ipv6Addr::from(V6_BASE + off as u128);
            IpNet::new(IpAddr::V6(addr), 128 - host).unwrap()
        } else {
            let addr = Ipv4Addr::from(V4_BASE + off);
            IpNet::new(IpAddr::V4(addr), 32 - host).unwrap()
        }
    })
}

fn blocks(max: usize) -> impl proptest::strategy::Strategy<Value = Vec<IpNet>> {
    prop::collection::vec(block(), 0..max)
}

/// An address of a block as (is_v6, offset in its small space).
fn addresses(n: &IpNet) -> BTreeSet<(bool, u32)> {
    match n {
        IpNet::V4(v) => {
            let s = u32::from(v.network()) - V4_BASE;
            let size = 1u32 << (32 - v.prefix_len());
            (s..s + size).map(|a| (false, a)).collect()
        }
        IpNet::V6(v) => {
            let s = (u128::from(v.network()) - V6_BASE) as u32;
            let size = 1u32 << (128 - v.prefix_len());
            (s..s + size).map(|a| (true, a)).collect()
        }
    }
}

fn set_of(nets: &[IpNet]) -> BTreeSet<(bool, u32)> {
    nets.iter().flat_map(addresses).collect()
}

/// The naive cover: from the lowest address up, the largest aligned block inside the set.
fn naive_cover(set: &BTreeSet<(bool, u32)>) -> Vec<IpNet> {
    let mut out = Vec::new();
    for v6 in [false, true] {
        let mut a = 0u32;
        while a < 256 {
            if !set.contains(&(v6, a)) {
                a += 1;
                continue;
            }
            let mut host = 8;
            loop {
                let size = 1u32 << host;
                if a % size == 0 && (a..a + size).all(|x| set.contains(&(v6, x))) {
                    break;
                }
                host -= 1;
            }
            out.push(if v6 {
                IpNet::new(IpAddr::V6(Ipv6Addr::from(V6_BASE + a as u128)), 128 - host).unwrap()
            } else {
                IpNet::new(IpAddr::V4(Ipv4Addr::from(V4_BASE + a)), 32 - host).unwrap()
            });
            a += 1 << host;
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn merge_is_the_fewest_blocks_covering_the_union(nets in blocks(12)) {
        let got = merge(&nets);
        prop_assert_eq!(set_of(&got), set_of(&nets));
        prop_assert_eq!(got, naive_cover(&set_of(&nets)));
    }

    #[test]
    fn subtract_is_the_fewest_blocks_covering_the_difference(from in blocks(8), remove in blocks(8)) {
        let got = subtract(&from, &remove);
        let want: BTreeSet<_> = set_of(&from).difference(&set_of(&remove)).copied().collect();
        prop_assert_eq!(set_of(&got), want.clone());
        prop_assert_eq!(got, naive_cover(&want));
    }

    #[test]
    fn contains_and_overlaps_agree_with_address_sets(a in block(), b in block()) {
        let (sa, sb) = (addresses(&a), addresses(&b));
        prop_assert_eq!(contains(&a, &b), sb.is_subset(&sa));
        prop_assert_eq!(overlaps(&a, &b), !sa.is_disjoint(&sb));
        prop_assert_eq!(overlaps(&a, &b), overlaps(&b, &a));
    }

    #[test]
    fn find_overlaps_finds_exactly_the_pairs_that_share_an_address(nets in blocks(10)) {
        let named: Vec<(String, IpNet)> = nets.iter().enumerate().map(|(i, n)| (format!("n{i:02}"), *n)).collect();
        let mut want = Vec::new();
        for (i, (x, nx)) in named.iter().enumerate() {
            for (y, ny) in &named[i + 1..] {
                if !addresses(nx).is_disjoint(&addresses(ny)) {
                    want.push((x.clone(), y.clone()));
                }
            }
        }
        prop_assert_eq!(find_overlaps(&named), want);
    }
}
