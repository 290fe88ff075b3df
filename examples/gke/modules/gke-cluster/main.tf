# One GKE cluster's address plan: node subnet (primary range), Pods and Services
# (secondary ranges), sized from what the cluster must hold and carved from the block
# its parent pool gave it.

terraform {
  required_version = ">= 1.8"
  required_providers {
    ipam = { source = "ipam-rs/ipam" }
  }
}

variable "name" {
  description = "Cluster name; prefixes the range names."
  type        = string
}

variable "region" {
  description = "GCP region of the subnetwork."
  type        = string
}

variable "max_nodes" {
  description = "The most nodes the cluster will ever have."
  type        = number
}

variable "max_pods_per_node" {
  description = "Maximum Pods per node (8 to 256; GKE's default is 110)."
  type        = number
  default     = 110
}

variable "max_services" {
  description = "The most Services the cluster will have."
  type        = number
  default     = 4096
}

variable "block" {
  description = "This cluster's entry in the parent pool (ipam_pool.<parent>.allocations[\"<key>\"])."
  type        = object({ cidr = string, name = string, pool_id = string, prefix_length = number })
}

locals {
  sizes = provider::ipam::gke_prefix_lengths(var.max_nodes, var.max_pods_per_node, var.max_services)
}

resource "ipam_pool" "cluster" {
  cidrs = [var.block.cidr]
  requests = {
    pods = { prefix_length = local.sizes.pods, description = "Pods (secondary)" }
    # The node subnet may grow 4x in place (GCP expands a primary range only to a
    # superset): the room is held now, so a later, larger prefix never moves it.
    nodes    = { prefix_length = local.sizes.nodes, grow_to = local.sizes.nodes - 2, description = "Nodes (primary)" }
    services = { prefix_length = local.sizes.services, description = "Services (secondary)" }
  }

  lifecycle {
    precondition {
      condition     = var.block.prefix_length <= min(local.sizes.pods, local.sizes.nodes - 2, local.sizes.services) - 1
      error_message = "The block ${var.block.cidr} is too small for ${var.max_nodes} nodes of ${var.max_pods_per_node} Pods and ${var.max_services} Services: ask the parent pool for a /${min(local.sizes.pods, local.sizes.nodes - 2, local.sizes.services) - 1}."
    }
  }
}

resource "ipam_allocation" "nodes" {
  entry = ipam_pool.cluster.allocations["nodes"]
  cloud = "gcp"
  range = "primary"
}

resource "ipam_allocation" "pods" {
  entry = ipam_pool.cluster.allocations["pods"]
  cloud = "gcp"
  range = "secondary"
}

resource "ipam_allocation" "services" {
  entry = ipam_pool.cluster.allocations["services"]
  cloud = "gcp"
  range = "secondary"
}

output "sizes" {
  description = "Prefix lengths of the node, Pod and Service ranges."
  value       = local.sizes
}

output "subnetwork" {
  description = "Arguments for google_compute_subnetwork."
  value = {
    name          = "${var.name}-nodes"
    region        = var.region
    ip_cidr_range = ipam_allocation.nodes.cidr
    gateway       = ipam_allocation.nodes.gateway_address
    secondary_ip_range = [
      { range_name = "${var.name}-pods", ip_cidr_range = ipam_allocation.pods.cidr },
      { range_name = "${var.name}-services", ip_cidr_range = ipam_allocation.services.cidr },
    ]
  }
}
