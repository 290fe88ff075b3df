//! The provider: one file per resource. Speaks `Value` and `Diagnostic`; the allocator
//! does the placing.


use crate::tfplugin::server::ProviderService;

/// The provider's gRPC service with every resource registered.
pub fn service() -> ProviderService {
    ProviderService::new(vec![])
}
