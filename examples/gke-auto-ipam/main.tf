# GKE Auto IPAM, planned ahead: a cluster starts with one small Pod range, and as it
# grows it gets more Pod ranges from the corporate pool, wherever there is room. The
# ranges need not be contiguous, and nothing that was handed out ever moves.
#
#   terraform apply                       # 16 nodes: one /20 of Pods
#   terraform apply -var max_nodes=40     # 40 nodes: three /20s, the first unchanged
#
# provider::ipam::gke_pod_prefix_per_node says how large each node's Pod block is, so
# the number of Pod ranges the demand needs is arithmetic here, not a guess.

terraform {
  required_version = ">= 1.8" # provider functions
  required_providers {
    ipam = { source = "ipam-rs/ipam", version = "~> 0.1" }
  }
}

variable "max_nodes" {
  description = "The nodes the cluster must hold now; raise it to grow."
  type        = number
  default     = 16
}

variable "max_pods_per_node" {
  description = "Maximum Pods per node (8 to 256)."
  type        = number
  default     = 110
}

locals {
  # Each node gets a /24 of Pods at 110 Pods per node.
  node_pod_prefix = provider::ipam::gke_pod_prefix_per_node(var.max_pods_per_node)
  # Pod ranges are added a /20 at a time, as Auto IPAM adds secondary ranges.
  pod_range_prefix = 20
  nodes_per_range  = pow(2, local.node_pod_prefix - local.pod_range_prefix)
  pod_ranges       = ceil(var.max_nodes / local.nodes_per_range)
}

# The region's shared space: this cluster's node subnet and Pod ranges, and other
# teams' subnets between them.
resource "ipam_pool" "corp" {
  cidrs = ["10.128.0.0/16"]
  requests = merge(
    {
      "gke-nodes"    = { prefix_length = 22, description = "GKE node subnet (primary)" }
      "gke-services" = { prefix_length = 20, description = "GKE Services (secondary)" }
      "vm-fleet"     = { prefix_length = 20, description = "another team's VMs" }
    },
    {
      for i in range(local.pod_ranges) : "gke-pods-${i}" => {
        prefix_length = local.pod_range_prefix
        description   = "GKE Pod range ${i} (secondary)"
      }
    },
  )
}

# The cluster's Pod space is every Pod range it was given; each node draws its block
# from any of them. Adding a range adds to cidrs and moves no node.
resource "ipam_pool" "pods" {
  cidrs = [for i in range(local.pod_ranges) : ipam_pool.corp.allocations["gke-pods-${i}"].cidr]
  requests = {
    for n in range(var.max_nodes) : format("node-%03d", n) => { prefix_length = local.node_pod_prefix }
  }
}

output "pod_ranges" {
  description = "The cluster's Pod secondary ranges (additional_pod_ranges_config), in order of creation."
  value       = [for i in range(local.pod_ranges) : ipam_pool.corp.allocations["gke-pods-${i}"].cidr]
}

output "pod_space" {
  description = "The Pod ranges summarised: fewer than pod_ranges when some happen to be adjacent."
  value       = provider::ipam::cidr_merge(ipam_pool.pods.cidrs)
}

output "node_pod_blocks" {
  description = "Each node's Pod block."
  value       = { for k, a in ipam_pool.pods.allocations : k => a.cidr }
}
