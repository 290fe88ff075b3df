pub mod alloc;
pub mod proto {
    pub mod tfplugin6 { tonic::include_proto!("tfplugin6"); }
    pub mod plugin { tonic::include_proto!("plugin"); }
}
