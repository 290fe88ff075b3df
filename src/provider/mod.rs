//! The provider: one file per resource. Speaks `Value` and `Diagnostic`; the allocator
//! does the placing.

pub mod allocation;
pub mod common;
pub mod docs;
pub mod hold;
pub mod pool;

use std::sync::Arc;

use crate::tfplugin::server::ProviderService;
use crate::tfplugin::Resource;

/// Every resource this provider serves.
pub fn resources() -> Vec<Arc<dyn Resource>> {
    vec![
        Arc::new(pool::PoolResource),
        Arc::new(allocation::AllocationResource),
    ]
}

/// The provider's gRPC service with every resource registered.
pub fn service() -> ProviderService {
    ProviderService::new(resources())
}
