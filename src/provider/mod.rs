//! The provider: one file per resource, data source or function family, and a file
//! for each thing they share (see the crate's Layout). Speaks `Value` and
//! `Diagnostic`; the allocator does the placing, the store keeps the shared ledger.

pub mod allocation;
pub mod common;
pub mod config;
pub mod docs;
pub mod figures;
pub mod functions;
pub mod hold;
pub mod ledger;
pub mod placement;
pub mod pool;
pub mod pool_args;
pub mod shared_allocations;
pub mod shared_pool;
pub mod shared_pool_data;
pub mod shared_state;

use std::sync::Arc;

use crate::tfplugin::server::ProviderService;
use crate::tfplugin::{DataSource, Resource};

/// Every resource this provider serves.
pub fn resources() -> Vec<Arc<dyn Resource>> {
    vec![
        Arc::new(pool::PoolResource),
        Arc::new(allocation::AllocationResource),
        Arc::new(shared_pool::SharedPoolResource),
        Arc::new(shared_allocations::SharedAllocationsResource),
    ]
}

/// Every data source this provider serves.
pub fn data_sources() -> Vec<Arc<dyn DataSource>> {
    vec![Arc::new(shared_pool_data::SharedPoolData)]
}

/// The provider's gRPC service with every resource registered.
pub fn service() -> ProviderService {
    ProviderService::new(
        Arc::new(config::IpamProvider),
        resources(),
        data_sources(),
        functions::functions(),
    )
}
