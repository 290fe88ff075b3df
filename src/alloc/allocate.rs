//! One placement run ([`Pool::allocate`]): the contract's steps in order, each a method
//! of [`Run`], which carries what the steps have claimed so far.

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::cidr::{addr_to_u128, check_net, net_from, span};
use super::free::block_count;
use super::occupied::{Holder, Occupied};
use super::{AllocError, Count, Family, Pool, Prior, Problem, Request, Utilization};

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

/// A size request with its prefix length resolved against the pool's rules.
struct Sized<'a> {
    name: &'a str,
    prefix: u8,
    grow_to: Option<u8>,
}

impl<'a> Sized<'a> {
    /// The block this request claims when placed anew: its growth room, if any.
    fn footprint(&self) -> u8 {
        self.grow_to.unwrap_or(self.prefix)
    }
}

/// A request still to be placed in free space. Ordered as the contract places them:
/// largest footprint (shortest prefix length) first, then by name.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct ToPlace<'a> {
    footprint: u8,
    name: &'a str,
    prefix: u8,
    grow_to: Option<u8>,
}

/// A request grown past its prior block, which tries to keep the block's start. Ordered
/// largest first, then by name.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Grower<'a> {
    prefix: u8,
    name: &'a str,
    grow_to: Option<u8>,
    old: IpNet,
}

/// A kept growable allocation, whose room step 3 claims.
struct KeptGrowable<'a> {
    name: &'a str,
    net: IpNet,
    grow_to: u8,
}

/// One placement run: what the steps have claimed so far. Each step of the contract is
/// one method, called in order by [`Pool::allocate`].
struct Run<'p, 'a> {
    pool: &'p Pool,
    prior: &'a Prior,
    requests: &'a BTreeMap<String, Request>,
    /// The ledger, collected unordered and sorted once at the end.
    ledger: Vec<(&'a str, IpNet)>,
    /// Everything claimed so far: allocations, growth room, held blocks.
    taken: Occupied<Holder<'a>>,
    pins: BTreeMap<&'a str, IpNet>,
    growth: BTreeMap<String, IpNet>,
    held: BTreeMap<String, IpNet>,
    repaired: Vec<(String, Problem)>,
    no_room: Vec<String>,
    kept_growable: Vec<KeptGrowable<'a>>,
    to_place: Vec<ToPlace<'a>>,
}

impl Pool {
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
        let mut run = Run {
            pool: self,
            prior,
            requests,
            ledger: Vec::with_capacity(requests.len()),
            taken: Occupied::default(),
            pins: BTreeMap::new(),
            growth: BTreeMap::new(),
            held: BTreeMap::new(),
            repaired: Vec::new(),
            no_room: Vec::new(),
            kept_growable: Vec::new(),
            to_place: Vec::new(),
        };
        let sized = run.pins()?;
        let growers = run.keep_prior(sized)?;
        run.rooms();
        run.holds();
        run.grow_in_place(growers);
        run.place_rest()
    }
}

impl<'a> Run<'_, 'a> {
    /// 1. Pins: inside the pool, clear of reserved ranges and of each other. Returns the
    ///    size requests, their prefix lengths checked against the rules.
    fn pins(&mut self) -> Result<Vec<Sized<'a>>, AllocError> {
        let pool = self.pool;
        let mut sized = Vec::new();
        for (name, req) in self.requests {
            match req {
                Request::Pinned(net) => {
                    check_net(pool.family, net)?;
                    let (s, e) = span(net);
                    if !pool.inside(s, e) {
                        return Err(AllocError::PinOutsidePool {
                            name: name.clone(),
                            cidr: *net,
                        });
                    }
                    if let Some((_, _, r)) = pool.reserved.overlap(s, e) {
                        return Err(AllocError::PinInReserved {
                            name: name.clone(),
                            cidr: *net,
                            reserved: r,
                        });
                    }
                    if let Some((_, _, (other, other_cidr))) = self.taken.overlap(s, e) {
                        return Err(AllocError::PinOverlap {
                            name: name.clone(),
                            cidr: *net,
                            other: other.to_string(),
                            other_cidr,
                        });
                    }
                    self.taken.insert(s, e, (name.as_str(), *net));
                    self.pins.insert(name.as_str(), *net);
                    self.ledger.push((name.as_str(), *net));
                }
                Request::Size(p) => sized.push(Sized {
                    name,
                    prefix: pool.effective_prefix(name, *p, None)?,
                    grow_to: None,
                }),
                Request::Growable { prefix, grow_to } => sized.push(Sized {
                    name,
                    prefix: pool.effective_prefix(name, *prefix, Some(*grow_to))?,
                    grow_to: Some(*grow_to),
                }),
            }
        }
        Ok(sized)
    }

    /// 2. Prior allocations (or held blocks of the same name) of unchanged or shrunk
    ///    requests, in name order. Grown ones wait until everything kept is claimed.
    ///    Returns the grown requests, for step 5.
    fn keep_prior(&mut self, sized: Vec<Sized<'a>>) -> Result<Vec<Grower<'a>>, AllocError> {
        let pool = self.pool;
        let prior = self.prior;
        let mut stranded: BTreeMap<IpNet, Vec<String>> = BTreeMap::new();
        let mut growers = Vec::new();
        for req in sized {
            let Sized {
                name,
                prefix,
                grow_to,
            } = req;
            let Some(old) = prior.ledger.get(name).or_else(|| prior.held.get(name)) else {
                self.queue(&req);
                continue;
            };
            let aligned = Family::of(old) == pool.family && old.trunc() == *old;
            if aligned && old.prefix_len() > prefix {
                growers.push(Grower {
                    prefix,
                    name,
                    grow_to,
                    old: *old,
                });
                continue;
            }
            // Same size, or shrunk: keep the start.
            let candidate = if aligned {
                net_from(pool.family, addr_to_u128(old.network()), prefix)
            } else {
                *old
            };
            match pool.validity(&candidate, &self.taken) {
                Ok((s, e)) => {
                    self.taken.insert(s, e, (name, candidate));
                    self.ledger.push((name, candidate));
                    if let Some(grow_to) = grow_to {
                        self.kept_growable.push(KeptGrowable {
                            name,
                            net: candidate,
                            grow_to,
                        });
                    }
                }
                Err(Problem::Overlaps(other)) if self.pins.contains_key(other.as_str()) => {
                    // A new pin over a live allocation would move it: refuse, naming both.
                    return Err(AllocError::PinOverlap {
                        cidr: self.pins[other.as_str()],
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
                            .find(|c| c.contains(&candidate) && !pool.cidrs.contains(c));
                        if let Some(gone) = gone {
                            stranded.entry(*gone).or_default().push(name.to_string());
                            continue;
                        }
                    }
                    self.repaired.push((name.to_string(), problem));
                    self.queue(&req);
                }
            }
        }
        if let Some((cidr, names)) = stranded.into_iter().next() {
            return Err(AllocError::CidrRemovedInUse { cidr, names });
        }
        Ok(growers)
    }

    /// 3. Growth room of kept allocations, in name order.
    fn rooms(&mut self) {
        for k in std::mem::take(&mut self.kept_growable) {
            self.claim_room(k.name, k.net, k.grow_to);
        }
    }

    /// 4. Released blocks on hold, unless re-requested (step 2 gave them back), or
    ///    taken by a pin or no longer valid (the hold ends).
    fn holds(&mut self) {
        for (name, net) in &self.prior.held {
            if self.requests.contains_key(name) {
                continue;
            }
            if let Ok((s, e)) = self.pool.validity(net, &self.taken) {
                self.taken.insert(s, e, (name.as_str(), *net));
                self.held.insert(name.clone(), *net);
            }
        }
    }

    /// 5. Grown requests keep their start where the larger aligned block is free (the
    ///    only growth GCP accepts), largest first, then by name; a growable one with
    ///    its whole room there if that is free too.
    fn grow_in_place(&mut self, mut growers: Vec<Grower<'a>>) {
        let pool = self.pool;
        growers.sort_unstable();
        for g in growers {
            let grown = net_from(pool.family, addr_to_u128(g.old.network()), g.prefix);
            let (s, e) = span(&grown);
            if grown.trunc() != grown || !pool.is_free(s, e, &self.taken) {
                self.queue(&Sized {
                    name: g.name,
                    prefix: g.prefix,
                    grow_to: g.grow_to,
                });
                continue;
            }
            self.taken.insert(s, e, (g.name, grown));
            self.ledger.push((g.name, grown));
            if let Some(grow_to) = g.grow_to {
                self.claim_room(g.name, grown, grow_to);
            }
        }
    }

    /// 6. Everything else: largest footprint (a growable one's room) first, then by
    ///    name; a growable allocation starts its room. Then the outcome and its figures.
    fn place_rest(mut self) -> Result<Outcome, AllocError> {
        let pool = self.pool;
        let mut free = pool.free_index(&self.taken);
        self.to_place.sort_unstable();
        for t in std::mem::take(&mut self.to_place) {
            let Some(start) = free.place(t.footprint, pool.strategy) else {
                return Err(AllocError::Exhausted {
                    name: t.name.to_string(),
                    prefix: t.footprint,
                    free: free.free_addresses(),
                    largest_free: free.largest_free(),
                });
            };
            self.ledger
                .push((t.name, net_from(pool.family, start, t.prefix)));
            if t.grow_to.is_some() {
                let room = net_from(pool.family, start, t.footprint);
                self.growth.insert(t.name.to_string(), room);
            }
        }
        self.ledger.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let ledger: BTreeMap<String, IpNet> = self
            .ledger
            .into_iter()
            .map(|(n, c)| (n.to_string(), c))
            .collect();
        self.no_room.sort_unstable();
        // Held: the rest of each growth room, and every block on hold.
        let bits = pool.family.bits();
        let rooms: Count = self
            .growth
            .iter()
            .filter_map(|(name, room)| {
                Some(
                    block_count(bits, room.prefix_len())
                        - block_count(bits, ledger.get(name)?.prefix_len()),
                )
            })
            .sum();
        let holds: Count = self
            .held
            .values()
            .map(|net| block_count(bits, net.prefix_len()))
            .sum();
        let utilization = pool.utilization_of(&free, rooms + holds);
        Ok(Outcome {
            ledger,
            growth: self.growth,
            held: self.held,
            repaired: self.repaired,
            no_room: self.no_room,
            utilization,
        })
    }

    /// Queues a request for step 6.
    fn queue(&mut self, req: &Sized<'a>) {
        self.to_place.push(ToPlace {
            footprint: req.footprint(),
            name: req.name,
            prefix: req.prefix,
            grow_to: req.grow_to,
        });
    }

    /// Claims the growth room of a kept or grown allocation, or notes that it has none.
    fn claim_room(&mut self, name: &'a str, net: IpNet, grow_to: u8) {
        match self.pool.claim_room(name, net, grow_to, &mut self.taken) {
            Some(room) => {
                self.growth.insert(name.to_string(), room);
            }
            None => self.no_room.push(name.to_string()),
        }
    }
}
