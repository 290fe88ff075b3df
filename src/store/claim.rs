//! One state per owner: the claim a resource instance holds on an owner, and the pure
//! rule ([`check_claim`]) that every write of the owner's rows passes first.
//!
//! Ownership belongs to the resource instance, not to where it ran: a create that
//! finds its owner existing is refused (import moves an owner), except the create that
//! replaces the instance holding it, which takes the claim over ([`Claim::Successor`],
//! or a live handover recorded by that plan). The old instance then holds nothing: its
//! destroy deletes nothing and its read finds it gone ([`passed_on`]).

use super::{Block, StoreError};

/// What a resource says of its hold on an owner, checked before every write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Creating the owner here. `origin` names this state's place (host, directory,
    /// workspace) for messages only: it never lets a create take an existing owner.
    New { origin: String },
    /// Creating the instance that replaces the one holding this claim (Terraform gave
    /// the plan the old instance's private state, or the old instance was read in the
    /// same run): it may take the owner over.
    Successor { claim: String, origin: String },
    /// The resource holds this claim.
    Held(String),
    /// A state written before claims existed: it may take an owner nobody claimed.
    Unclaimed,
}

/// An owner's row in `ipam.owners`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnerRow {
    pub claim: Option<String>,
    pub origin: Option<String>,
    /// The claim this owner was taken over from by a replacing instance.
    pub passed_from: Option<String>,
    /// A handover a replacing instance's plan recorded that has not expired: the claim
    /// that may pass to the create that replaces its holder.
    pub handover_from: Option<String>,
}

/// Whether the instance presenting `claim` was replaced: the owner's claim passed from
/// it to the instance that replaced it. Such an instance holds nothing any more.
///
/// ```
/// use ipam::store::{passed_on, Claim, OwnerRow};
/// let row = OwnerRow { claim: Some("c2".into()), passed_from: Some("c1".into()), ..Default::default() };
/// assert!(passed_on(Some(&row), &Claim::Held("c1".into())));
/// assert!(!passed_on(Some(&row), &Claim::Held("c2".into())));
/// assert!(!passed_on(None, &Claim::Held("c1".into())));
/// ```
pub fn passed_on(row: Option<&OwnerRow>, claim: &Claim) -> bool {
    match (claim, row) {
        (Claim::Held(c), Some(r)) => {
            r.claim.as_ref() != Some(c) && r.passed_from.as_ref() == Some(c)
        }
        _ => false,
    }
}

/// Whether `claim` may write the owner whose row (if any) is `row` and who holds
/// allocations (`has_blocks`); the claim to keep, or `None` for a new one (a create,
/// or a take-over by a replacing instance).
///
/// ```
/// use ipam::store::{check_claim, Claim, OwnerRow, StoreError};
/// let held = OwnerRow { claim: Some("c1".into()), origin: Some("ci:/a (default)".into()), ..Default::default() };
/// // The holder writes; a stale claim is refused.
/// assert_eq!(check_claim("p", "o", Some(&held), true, &Claim::Held("c1".into())).unwrap(), Some("c1".into()));
/// assert!(matches!(check_claim("p", "o", Some(&held), true, &Claim::Held("c0".into())), Err(StoreError::OwnerMoved { .. })));
/// // A create of an existing owner is refused, from anywhere, the same place included
/// // (a second backend in one directory, or `terraform state rm`): import moves it.
/// let again = Claim::New { origin: "ci:/a (default)".into() };
/// assert!(matches!(check_claim("p", "o", Some(&held), true, &again), Err(StoreError::OwnerExists { .. })));
/// // The instance that replaces the holder takes it over, from any host.
/// let next = Claim::Successor { claim: "c1".into(), origin: "runner-7:/w (default)".into() };
/// assert_eq!(check_claim("p", "o", Some(&held), true, &next).unwrap(), None);
/// // A create while that replacement's handover is live is the replacement's create
/// // in Terraform's apply walk.
/// let handing = OwnerRow { handover_from: Some("c1".into()), ..held.clone() };
/// assert_eq!(check_claim("p", "o", Some(&handing), true, &again).unwrap(), None);
/// ```
pub fn check_claim(
    pool: &str,
    owner: &str,
    row: Option<&OwnerRow>,
    has_blocks: bool,
    claim: &Claim,
) -> Result<Option<String>, StoreError> {
    let exists = || StoreError::OwnerExists {
        pool: pool.to_string(),
        owner: owner.to_string(),
        origin: row.and_then(|r| r.origin.clone()),
    };
    let moved = || StoreError::OwnerMoved {
        pool: pool.to_string(),
        owner: owner.to_string(),
    };
    match (claim, row) {
        (Claim::New { .. }, None) if !has_blocks => Ok(None),
        (Claim::New { .. }, Some(r)) if r.handover_from.is_some() && r.handover_from == r.claim => {
            Ok(None)
        }
        (Claim::New { .. }, _) => Err(exists()),
        (Claim::Successor { .. }, None) => Ok(None),
        (Claim::Successor { claim, .. }, Some(r)) => match &r.claim {
            None => Ok(None),
            Some(held) if held == claim => Ok(None),
            // The replacement already took it (its create committed, and its state
            // was lost): import recovers it.
            Some(_) if r.passed_from.as_ref() == Some(claim) => Err(exists()),
            Some(_) => Err(moved()),
        },
        (Claim::Held(c), None) => Ok(Some(c.clone())),
        (Claim::Held(c), Some(r)) => match &r.claim {
            None => Ok(Some(c.clone())),
            Some(held) if held == c => Ok(Some(c.clone())),
            Some(_) => Err(moved()),
        },
        (Claim::Unclaimed, Some(OwnerRow { claim: Some(_), .. })) => Err(moved()),
        (Claim::Unclaimed, _) => Ok(None),
    }
}

/// An owner as the database has it: its claim, and its allocations.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OwnerState {
    /// `None` when the owner has no row (never created, or deleted out of band).
    pub row: Option<OwnerRow>,
    pub blocks: Vec<Block>,
}
