//! One state per owner: the claim a resource holds on an owner, and the pure rule
//! ([`check_claim`]) that every write of the owner's rows passes first.

use super::{Block, StoreError};

/// What a resource says of its hold on an owner, checked before every write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Creating the owner here. `origin` names this state's place (host, directory,
    /// workspace): a create whose commit outlived its provider is adopted by a later
    /// create from the same origin, and refused from any other.
    New { origin: String },
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
}

/// Whether `claim` may write the owner whose row (if any) is `row` and who holds
/// allocations (`has_blocks`); the claim to keep, or `None` for a new one.
///
/// ```
/// use ipam::store::{check_claim, Claim, OwnerRow, StoreError};
/// let held = OwnerRow { claim: Some("c1".into()), origin: Some("ci:/a (default)".into()) };
/// // The holder writes; another state's create, or a stale claim, is refused.
/// assert_eq!(check_claim("p", "o", Some(&held), true, &Claim::Held("c1".into())).unwrap(), Some("c1".into()));
/// let other = Claim::New { origin: "laptop:/b (default)".into() };
/// assert!(matches!(check_claim("p", "o", Some(&held), true, &other), Err(StoreError::OwnerExists { .. })));
/// assert!(matches!(check_claim("p", "o", Some(&held), true, &Claim::Held("c0".into())), Err(StoreError::OwnerMoved { .. })));
/// // The same origin adopts its own committed create.
/// let again = Claim::New { origin: "ci:/a (default)".into() };
/// assert_eq!(check_claim("p", "o", Some(&held), true, &again).unwrap(), Some("c1".into()));
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
        (Claim::New { origin }, Some(r))
            if r.claim.is_some() && r.origin.as_ref() == Some(origin) =>
        {
            Ok(r.claim.clone())
        }
        (Claim::New { .. }, _) => Err(exists()),
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
