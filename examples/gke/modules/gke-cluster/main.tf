# One GKE cluster's address plan: node subnet (primary range), Pods and Services
# (secondary ranges), carved from the block its parent pool gave it.

terraform {
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

variable "sizes" {
  description = "Prefix lengths of the node, Pod and Service ranges."
  type = object({
    nodes    = number
    pods     = number
    services = number
  })
}

variable "block" {
  description = "This cluster's entry in the parent pool (ipam_pool.<parent>.allocations[\"<key>\"])."
  type        = object({ cidr = string, name = string, pool_id = string })
}

# What this cluster asks of its parent pool: the smallest block holding its ranges.
# It depends only on `sizes`, so the parent can place it before `block` is known.
output "request" {
  description = "The allocation request for the parent pool."
  value = {
    prefix_length = min(var.sizes.pods, var.sizes.nodes, var.sizes.services) - 1
    description   = "GKE cluster ${var.name}"
  }
}

resource "ipam_pool" "cluster" {
  cidrs = [var.block.cidr]
  allocations = {
    pods     = { prefix_length = var.sizes.pods, description = "Pods (secondary)" }
    # The node subnet may grow 4x in place (GCP expands a primary range only to a
    # superset): the room is held now, so a later, larger prefix never moves it.
    nodes    = { prefix_length = var.sizes.nodes, grow_to = var.sizes.nodes - 2, description = "Nodes (primary)" }
    services = { prefix_length = var.sizes.services, description = "Services (secondary)" }
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
