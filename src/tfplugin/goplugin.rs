//! The go-plugin services Terraform expects beside tfplugin6: the controller (its
//! Shutdown ends the process), stdio forwarding and the connection broker.

use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::Notify;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::tfplugin::proto::plugin as gp;

/// `plugin.GRPCController`: Terraform's Shutdown ends the process.
pub struct Controller {
    pub shutdown: Arc<Notify>,
}

#[tonic::async_trait]
impl gp::grpc_controller_server::GrpcController for Controller {
    async fn shutdown(&self, _: Request<gp::Empty>) -> Result<Response<gp::Empty>, Status> {
        self.shutdown.notify_one();
        Ok(Response::new(gp::Empty {}))
    }
}

/// `plugin.GRPCStdio`: this provider writes nothing to stdout/stderr worth forwarding
/// (logs go to stderr, which Terraform reads directly), so the stream ends at once.
pub struct Stdio;

#[tonic::async_trait]
impl gp::grpc_stdio_server::GrpcStdio for Stdio {
    type StreamStdioStream = Pin<Box<dyn Stream<Item = Result<gp::StdioData, Status>> + Send>>;
    async fn stream_stdio(
        &self,
        _: Request<gp::Empty>,
    ) -> Result<Response<Self::StreamStdioStream>, Status> {
        Ok(Response::new(Box::pin(tokio_stream::empty())))
    }
}

/// `plugin.GRPCBroker`: no sub-plugins to broker. Terraform accepts UNIMPLEMENTED.
pub struct Broker;

#[tonic::async_trait]
impl gp::grpc_broker_server::GrpcBroker for Broker {
    type StartStreamStream = Pin<Box<dyn Stream<Item = Result<gp::ConnInfo, Status>> + Send>>;
    async fn start_stream(
        &self,
        _: Request<tonic::Streaming<gp::ConnInfo>>,
    ) -> Result<Response<Self::StartStreamStream>, Status> {
        Err(Status::unimplemented(
            "this provider brokers no connections",
        ))
    }
}
