//! Ranges nested by containment into pools, and the conflicts that keep ranges out.
//!
//! Two CIDR blocks either are disjoint or one holds the other, so the ranges form a
//! forest. A range inside another becomes an entry of that range's pool; the outermost
//! ranges are entries of the `--pool-cidr` they fall in (without `--pool-cidr`, an
//! outermost range that holds others is a pool of its own). The same CIDR twice in one
//! state is one range (a GKE cluster's Pod range is its subnetwork's secondary range);
//! the same CIDR in two states is a conflict, unless this provider already holds it
//! (then it is adopted already, and left alone). A range nested inside another state's
//! range is not a conflict: a VPC and its subnets often live in different states.

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::Range;

/// One distinct range: a CIDR in one state, with every place that state holds it.
#[derive(Debug, Clone)]
pub struct Found {
    pub cidr: IpNet,
    pub state: String,
    /// (resource address, attribute), in the order found.
    pub places: Vec<(String, String)>,
    /// The address of this provider's entry that holds the range, when one does.
    pub managed: Option<String>,
    pub fate: Fate,
}

/// What becomes of a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// An entry `name` of pool `pool` (an index into [`Plan::pools`]).
    Entry { pool: usize, name: String },
    /// The space of a pool of its own (an outermost range, without `--pool-cidr`).
    Pool(usize),
    /// This provider holds it already.
    Managed,
    /// In a conflict: left out of the configuration.
    Conflict,
    /// Inside no `--pool-cidr`: left out, and listed.
    Outside,
}

/// The same CIDR in two states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub a: usize,
    pub b: usize,
}

/// One `ipam_pool` of the configuration.
#[derive(Debug, Clone)]
pub struct PoolPlan {
    /// The resource's label, from its CIDR: `pool_10_0_0_0_16`.
    pub label: String,
    pub cidr: IpNet,
    /// The range this pool's space is, when it is one (a nested pool, or an outermost
    /// range without `--pool-cidr`).
    pub found: Option<usize>,
    /// For a nested pool: the parent pool and the entry of it that is this pool's space.
    pub parent: Option<(usize, String)>,
    /// Entry names and the ranges they pin, by name.
    pub entries: BTreeMap<String, usize>,
}

/// Everything `discover` found and what it makes of it.
#[derive(Debug, Clone)]
pub struct Plan {
    pub states: Vec<String>,
    pub found: Vec<Found>,
    pub conflicts: Vec<Conflict>,
    /// Roots first, then each nested pool after its parent.
    pub pools: Vec<PoolPlan>,
}

/// Builds the plan. Fails when two `--pool-cidr`s overlap.
pub fn plan(ranges: Vec<Range>, pool_cidrs: &[IpNet]) -> Result<Plan, String> {
    for (i, a) in pool_cidrs.iter().enumerate() {
        for b in &pool_cidrs[i + 1..] {
            if a.contains(&b.network()) || b.contains(&a.network()) {
                return Err(format!(
                    "--pool-cidr {a} and {b} overlap: give each address range once"
                ));
            }
        }
    }
    let mut states: Vec<String> = Vec::new();
    let mut found: Vec<Found> = Vec::new();
    let mut by_key: BTreeMap<(String, IpNet), usize> = BTreeMap::new();
    for r in ranges {
        if !states.contains(&r.state) {
            states.push(r.state.clone());
        }
        let i = *by_key.entry((r.state.clone(), r.cidr)).or_insert_with(|| {
            found.push(Found {
                cidr: r.cidr,
                state: r.state.clone(),
                places: Vec::new(),
                managed: None,
                fate: Fate::Outside,
            });
            found.len() - 1
        });
        if r.managed && found[i].managed.is_none() {
            found[i].managed = Some(r.address.clone());
        }
        found[i].places.push((r.address, r.attribute));
    }
    // A CIDR this provider holds anywhere is adopted already, in every state.
    let managed: BTreeMap<IpNet, String> = found
        .iter()
        .filter_map(|f| Some((f.cidr, f.managed.clone()?)))
        .collect();
    for f in &mut found {
        if f.managed.is_none() {
            f.managed = managed.get(&f.cidr).cloned();
        }
        if f.managed.is_some() {
            f.fate = Fate::Managed;
        }
    }
    // The same CIDR in two states, neither held by this provider.
    let mut by_cidr: BTreeMap<IpNet, Vec<usize>> = BTreeMap::new();
    for (i, f) in found.iter().enumerate() {
        if f.managed.is_none() {
            by_cidr.entry(f.cidr).or_default().push(i);
        }
    }
    let mut conflicts = Vec::new();
    for same in by_cidr.values().filter(|v| v.len() > 1) {
        for w in same.windows(2) {
            conflicts.push(Conflict { a: w[0], b: w[1] });
        }
        for &i in same {
            found[i].fate = Fate::Conflict;
        }
    }

    // The forest of the ranges left: each range's parent is the smallest one holding it.
    let mut kept: Vec<usize> = (0..found.len())
        .filter(|&i| found[i].fate == Fate::Outside)
        .collect();
    kept.sort_by_key(|&i| (found[i].cidr.prefix_len(), found[i].cidr.network(), i));
    let mut parent: BTreeMap<usize, usize> = BTreeMap::new();
    for (k, &i) in kept.iter().enumerate() {
        let inner = found[i].cidr;
        let holder = kept[..k]
            .iter()
            .rev()
            .find(|&&j| found[j].cidr != inner && found[j].cidr.contains(&inner));
        if let Some(&j) = holder {
            parent.insert(i, j);
        }
    }
    let has_children = |i: usize| parent.values().any(|&p| p == i);

    let mut pools: Vec<PoolPlan> = Vec::new();
    let new_pool =
        |cidr: IpNet, found_i: Option<usize>, parent: Option<(usize, String)>| PoolPlan {
            label: label(&cidr),
            cidr,
            found: found_i,
            parent,
            entries: BTreeMap::new(),
        };
    for &root in pool_cidrs {
        pools.push(new_pool(root, None, None));
    }
    // Outermost ranges: entries of their --pool-cidr; or, without one, a pool of their
    // own when they hold others; otherwise outside.
    let mut pool_of_range: BTreeMap<usize, usize> = BTreeMap::new();
    for &i in &kept {
        if parent.contains_key(&i) {
            continue;
        }
        let cidr = found[i].cidr;
        match pools
            .iter()
            .position(|p| p.found.is_none() && p.cidr.contains(&cidr))
        {
            Some(p) => {
                let name = entry_name(&found, i, &pools[p].entries);
                pools[p].entries.insert(name.clone(), i);
                found[i].fate = Fate::Entry { pool: p, name };
            }
            None if pool_cidrs.is_empty() && has_children(i) => {
                pools.push(new_pool(cidr, Some(i), None));
                pool_of_range.insert(i, pools.len() - 1);
                found[i].fate = Fate::Pool(pools.len() - 1);
            }
            None => {}
        }
    }
    // Inner ranges, outermost first: entries of their parent's pool, made when first
    // needed; inside a range left outside, they are outside too.
    for &i in &kept {
        let Some(&p) = parent.get(&i) else { continue };
        let pool = match pool_of_range.get(&p) {
            Some(&pool) => pool,
            None => match found[p].fate.clone() {
                Fate::Entry { pool, name } => {
                    pools.push(new_pool(found[p].cidr, Some(p), Some((pool, name))));
                    pool_of_range.insert(p, pools.len() - 1);
                    pools.len() - 1
                }
                _ => continue,
            },
        };
        let name = entry_name(&found, i, &pools[pool].entries);
        pools[pool].entries.insert(name.clone(), i);
        found[i].fate = Fate::Entry { pool, name };
    }
    Ok(Plan {
        states,
        found,
        conflicts,
        pools,
    })
}

/// An entry's name: its resource address, with the attribute when the resource holds
/// more than one range, and the state when the name is taken in the pool.
fn entry_name(found: &[Found], i: usize, taken: &BTreeMap<String, usize>) -> String {
    let f = &found[i];
    let (address, attribute) = &f.places[0];
    let ranges_of_address = found
        .iter()
        .filter(|g| g.state == f.state && g.places.iter().any(|(a, _)| a == address))
        .count();
    let base = if ranges_of_address > 1 {
        format!("{address}.{attribute}")
    } else {
        address.clone()
    };
    let mut name = base.clone();
    let mut n = 1;
    while taken.contains_key(&name) {
        name = if n == 1 {
            format!("{base} ({})", f.state)
        } else {
            format!("{base} ({}) {n}", f.state)
        };
        n += 1;
    }
    name
}

/// A resource label for the pool of `cidr`: `pool_10_0_0_0_16`.
fn label(cidr: &IpNet) -> String {
    let text: String = cidr
        .to_string()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("pool_{text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(state: &str, address: &str, cidr: &str) -> Range {
        Range {
            cidr: cidr.parse().unwrap(),
            state: state.into(),
            address: address.into(),
            attribute: "cidr_block".into(),
            managed: false,
        }
    }

    #[test]
    fn containment_nests_and_duplicates_conflict() {
        let ranges = vec![
            r("aws", "aws_vpc.main", "10.0.0.0/16"),
            r("aws", "aws_subnet.a", "10.0.1.0/24"),
            r("aws", "aws_subnet.b", "10.0.2.0/24"),
            r("gcp", "google_compute_subnetwork.n", "10.8.0.0/20"),
            r("old", "aws_vpc.legacy", "10.9.0.0/16"),
            r("aws", "aws_vpc.legacy", "10.9.0.0/16"),
            r("x", "aws_vpc.far", "192.168.0.0/16"),
        ];
        let p = plan(ranges, &["10.0.0.0/8".parse().unwrap()]).unwrap();
        assert_eq!(p.pools.len(), 2, "{:?}", p.pools);
        let root = &p.pools[0];
        assert_eq!(root.label, "pool_10_0_0_0_8");
        assert_eq!(
            root.entries.keys().collect::<Vec<_>>(),
            ["aws_vpc.main", "google_compute_subnetwork.n"]
        );
        let vpc = &p.pools[1];
        assert_eq!(vpc.parent, Some((0, "aws_vpc.main".to_string())));
        assert_eq!(vpc.entries.len(), 2);
        assert_eq!(p.conflicts.len(), 1);
        let far = p
            .found
            .iter()
            .find(|f| f.places[0].0 == "aws_vpc.far")
            .unwrap();
        assert_eq!(far.fate, Fate::Outside);
        // Without --pool-cidr, the VPC is a pool of its own; the lone subnetwork is out.
        let q = plan(
            vec![
                r("aws", "aws_vpc.main", "10.0.0.0/16"),
                r("aws", "aws_subnet.a", "10.0.1.0/24"),
                r("gcp", "google_compute_subnetwork.n", "10.8.0.0/20"),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(q.pools.len(), 1);
        assert_eq!(q.pools[0].found, Some(0));
        assert_eq!(q.found[2].fate, Fate::Outside);
    }

    #[test]
    fn what_this_provider_holds_is_adopted_already() {
        let mut managed = r("net", "ipam_pool.corp", "10.0.1.0/24");
        managed.managed = true;
        managed.attribute = "allocations[\"a\"].cidr".into();
        let p = plan(
            vec![
                managed,
                r("aws", "aws_subnet.a", "10.0.1.0/24"),
                r("app", "aws_subnet.a", "10.0.1.0/24"),
            ],
            &["10.0.0.0/8".parse().unwrap()],
        )
        .unwrap();
        assert!(p.conflicts.is_empty());
        assert!(p.found.iter().all(|f| f.fate == Fate::Managed));
        assert!(plan(
            vec![],
            &[
                "10.0.0.0/8".parse().unwrap(),
                "10.1.0.0/16".parse().unwrap()
            ]
        )
        .is_err());
    }
}
