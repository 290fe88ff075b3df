//! A shared pool as the database has it: every owner's allocations (keyed
//! `owner/name`, so the map colours them by owner), their growth room and the live plan
//! reservations as held space. Reads only, as any role that may connect.

use super::model::{Alloc, PoolReport, PoolView};
use super::ReportError;
use crate::store::{Snapshot, Store};

/// Reads pool `pool` from the database at `url` (a URL or `key=value` string, as the
/// provider's `database_url`).
pub fn read(url: &str, pool: &str) -> Result<PoolReport, ReportError> {
    let store = Store::new(url).map_err(|e| ReportError::Input(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ReportError::Input(format!("could not start the async runtime: {e}")))?;
    let snap = runtime
        .block_on(store.snapshot(pool))
        .map_err(|e| ReportError::Input(e.to_string()))?;
    view(pool, &snap)
}

/// The report of one snapshot.
fn view(pool: &str, snap: &Snapshot) -> Result<PoolReport, ReportError> {
    let def = snap.def.as_ref().ok_or_else(|| {
        ReportError::Input(format!("the shared ledger has no pool named {pool:?}"))
    })?;
    let mut view = PoolView {
        cidrs: def.cidrs.clone(),
        reserved: def.reserved.clone(),
        ..PoolView::default()
    };
    for b in &snap.allocations {
        view.allocations.insert(
            format!("{}/{}", b.owner, b.name),
            Alloc {
                cidr: b.cidr,
                description: b.description.clone(),
            },
        );
        if b.span != b.cidr {
            view.held.push(b.span);
        }
    }
    view.held.extend(
        snap.reservations
            .iter()
            .filter(|r| r.live)
            .map(|r| r.block.span),
    );
    Ok(PoolReport {
        address: format!("ipam_shared_pool {pool:?} (database)"),
        kind: "shared ledger".into(),
        before: None,
        after: Some(view),
    })
}
