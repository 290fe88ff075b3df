//! CIDR algebra over lists of blocks: union, difference, containment and overlap.
//!
//! The results are canonical: the fewest aligned CIDR blocks that cover exactly the
//! addresses asked for, the same decomposition the free-space index keeps (and
//! `free_cidrs` shows), made by the same code ([`super::free::decompose`]). Lists come
//! back sorted by address, IPv4 before IPv6.

use ipnet::IpNet;

use super::free::decompose;
use super::{net_from, span, Family};

/// Inclusive address intervals, sorted, merged where they overlap or touch.
pub(crate) fn merge_intervals(mut v: Vec<(u128, u128)>) -> Vec<(u128, u128)> {
    v.sort_unstable();
    let mut out: Vec<(u128, u128)> = Vec::with_capacity(v.len());
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1.saturating_add(1) => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// The addresses of sorted, disjoint `space` that are in none of `taken` (which may be
/// unsorted and overlap), as sorted inclusive intervals.
pub(crate) fn subtract_intervals(
    space: &[(u128, u128)],
    mut taken: Vec<(u128, u128)>,
) -> Vec<(u128, u128)> {
    taken.sort_unstable();
    let mut free = Vec::new();
    let mut t = taken.iter().peekable();
    for &(ps, pe) in space {
        let mut cur = ps;
        // Skip taken intervals that end before this interval.
        while let Some(&&(_, te)) = t.peek() {
            if te < ps {
                t.next();
            } else {
                break;
            }
        }
        let mut done = false;
        while let Some(&&(ts, te)) = t.peek() {
            if ts > pe {
                break;
            }
            if ts > cur {
                free.push((cur, ts - 1));
            }
            if te >= pe {
                done = true;
                break;
            }
            cur = cur.max(te + 1);
            t.next();
        }
        if !done {
            free.push((cur, pe));
        }
    }
    free
}

/// The blocks of `nets` of one family, as inclusive intervals.
fn spans_of(nets: &[IpNet], family: Family) -> Vec<(u128, u128)> {
    nets.iter()
        .filter(|n| Family::of(n) == family)
        .map(span)
        .collect()
}

fn blocks(family: Family, intervals: &[(u128, u128)]) -> Vec<IpNet> {
    intervals
        .iter()
        .flat_map(|&(s, e)| decompose(family.bits(), s, e))
        .map(|(s, len)| net_from(family, s, len))
        .collect()
}

/// The fewest CIDR blocks covering exactly the union of `nets`.
///
/// ```
/// use ipam::alloc::merge;
/// let nets: Vec<ipnet::IpNet> = ["10.0.1.0/24", "10.0.0.0/24", "10.0.0.128/25", "fd00::/64"]
///     .iter().map(|s| s.parse().unwrap()).collect();
/// let merged: Vec<String> = merge(&nets).iter().map(|n| n.to_string()).collect();
/// assert_eq!(merged, ["10.0.0.0/23", "fd00::/64"]);
/// // Blocks that touch but cannot form one aligned block stay apart.
/// let apart: Vec<ipnet::IpNet> = vec!["10.0.1.0/24".parse().unwrap(), "10.0.2.0/24".parse().unwrap()];
/// assert_eq!(merge(&apart).len(), 2);
/// ```
pub fn merge(nets: &[IpNet]) -> Vec<IpNet> {
    let mut out = Vec::new();
    for family in [Family::V4, Family::V6] {
        out.extend(blocks(family, &merge_intervals(spans_of(nets, family))));
    }
    out
}

/// The fewest CIDR blocks covering exactly the addresses of `from` that are not in
/// `remove`.
///
/// ```
/// use ipam::alloc::subtract;
/// let from = vec!["10.0.0.0/22".parse().unwrap()];
/// let remove = vec!["10.0.1.0/24".parse().unwrap()];
/// let left: Vec<String> = subtract(&from, &remove).iter().map(|n| n.to_string()).collect();
/// assert_eq!(left, ["10.0.0.0/24", "10.0.2.0/23"]);
/// ```
pub fn subtract(from: &[IpNet], remove: &[IpNet]) -> Vec<IpNet> {
    let mut out = Vec::new();
    for family in [Family::V4, Family::V6] {
        let space = merge_intervals(spans_of(from, family));
        let left = subtract_intervals(&space, spans_of(remove, family));
        out.extend(blocks(family, &left));
    }
    out
}

/// True when every address of `member` is in `container`; false across families.
///
/// ```
/// use ipam::alloc::contains;
/// let p = |s: &str| s.parse::<ipnet::IpNet>().unwrap();
/// assert!(contains(&p("10.0.0.0/8"), &p("10.1.0.0/16")));
/// assert!(!contains(&p("10.1.0.0/16"), &p("10.0.0.0/8")));
/// assert!(!contains(&p("::/0"), &p("10.0.0.0/8")));
/// ```
pub fn contains(container: &IpNet, member: &IpNet) -> bool {
    if Family::of(container) != Family::of(member) {
        return false;
    }
    let (cs, ce) = span(container);
    let (ms, me) = span(member);
    cs <= ms && me <= ce
}

/// True when the two blocks share an address.
///
/// ```
/// use ipam::alloc::overlaps;
/// let p = |s: &str| s.parse::<ipnet::IpNet>().unwrap();
/// assert!(overlaps(&p("10.0.0.0/16"), &p("10.0.255.0/24")));
/// assert!(!overlaps(&p("10.0.0.0/24"), &p("10.0.1.0/24")));
/// ```
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    if Family::of(a) != Family::of(b) {
        return false;
    }
    let (as_, ae) = span(a);
    let (bs, be) = span(b);
    as_ <= be && bs <= ae
}

/// Every pair of named blocks that share an address, as `(a, b)` with `a < b`, sorted.
/// One sweep in address order: `O(n log n + pairs)`.
///
/// ```
/// use ipam::alloc::find_overlaps;
/// let named = vec![
///     ("vpc-b".to_string(), "10.0.0.0/16".parse().unwrap()),
///     ("vpc-a".to_string(), "10.0.128.0/17".parse().unwrap()),
///     ("vpc-c".to_string(), "10.1.0.0/16".parse().unwrap()),
/// ];
/// assert_eq!(find_overlaps(&named), vec![("vpc-a".to_string(), "vpc-b".to_string())]);
/// ```
pub fn find_overlaps(named: &[(String, IpNet)]) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for family in [Family::V4, Family::V6] {
        let mut items: Vec<((u128, u128), &str)> = named
            .iter()
            .filter(|(_, n)| Family::of(n) == family)
            .map(|(name, n)| (span(n), name.as_str()))
            .collect();
        items.sort_unstable();
        // Blocks seen so far whose end may still reach later starts.
        let mut active: Vec<((u128, u128), &str)> = Vec::new();
        for (iv, name) in items {
            active.retain(|((_, e), _)| *e >= iv.0);
            for (_, other) in &active {
                let (a, b) = if *other < name {
                    (*other, name)
                } else {
                    (name, *other)
                };
                pairs.push((a.to_string(), b.to_string()));
            }
            active.push((iv, name));
        }
    }
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(v: &[&str]) -> Vec<IpNet> {
        v.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn show(v: &[IpNet]) -> Vec<String> {
        v.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn merge_sorts_ipv4_before_ipv6_and_drops_duplicates() {
        let m = merge(&nets(&[
            "fd00::/8",
            "10.0.0.0/8",
            "10.0.0.0/8",
            "0.0.0.0/0",
        ]));
        assert_eq!(show(&m), ["0.0.0.0/0", "fd00::/8"]);
    }

    #[test]
    fn whole_spaces_do_not_overflow() {
        assert_eq!(show(&merge(&nets(&["::/1", "8000::/1"]))), ["::/0"]);
        assert!(subtract(&nets(&["::/0"]), &nets(&["::/0"])).is_empty());
        assert_eq!(
            show(&subtract(&nets(&["0.0.0.0/0"]), &nets(&["0.0.0.0/1"]))),
            ["128.0.0.0/1"]
        );
        assert!(contains(&nets(&["::/0"])[0], &nets(&["ffff::/16"])[0]));
    }

    #[test]
    fn subtract_ignores_other_families_and_outside_blocks() {
        let left = subtract(
            &nets(&["10.0.0.0/24"]),
            &nets(&["fd00::/8", "192.168.0.0/16"]),
        );
        assert_eq!(show(&left), ["10.0.0.0/24"]);
    }

    #[test]
    fn find_overlaps_reports_each_pair_once_in_order() {
        let named: Vec<(String, IpNet)> = [
            ("c", "10.0.0.0/8"),
            ("a", "10.1.0.0/16"),
            ("b", "10.1.2.0/24"),
            ("d", "11.0.0.0/8"),
            ("e", "fd00::/8"),
            ("f", "fd00::/16"),
        ]
        .iter()
        .map(|(n, c)| (n.to_string(), c.parse().unwrap()))
        .collect();
        let got = find_overlaps(&named);
        let want: Vec<(String, String)> = [("a", "b"), ("a", "c"), ("b", "c"), ("e", "f")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(got, want);
    }
}
