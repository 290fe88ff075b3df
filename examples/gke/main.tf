# GKE VPC-native clusters, one per region: a node subnet plus secondary ranges for
# Pods and Services, carved from the company's address space.
#
# Each cluster is described by what it must hold (nodes, Pods per node, Services).
# provider::ipam::gke_prefix_lengths turns that into prefix lengths, the corp pool
# places one block per cluster at plan time, and one module call (for_each over the
# clusters) carves each block into the cluster's ranges.
#
# The requests are computed here, in the root, from the same variables the module
# gets: the pool depends on local.clusters alone and each module instance on its
# block, so there is no cycle (a `for` over a for_each module's own outputs would
# depend on the whole module and make one).

terraform {
  required_version = ">= 1.8" # provider functions
  required_providers {
    ipam = { source = "ipam-rs/ipam", version = "~> 0.1" }
  }
}

locals {
  clusters = {
    "europe-west1" = { max_nodes = 1000, max_pods_per_node = 110, max_services = 4096 }
    "us-central1"  = { max_nodes = 2000, max_pods_per_node = 110, max_services = 8192 }
    "asia-east1"   = { max_nodes = 250, max_pods_per_node = 64, max_services = 1024 }
  }

  # The same function the module sizes its ranges with.
  sizes = {
    for k, c in local.clusters :
    k => provider::ipam::gke_prefix_lengths(c.max_nodes, c.max_pods_per_node, c.max_services)
  }
}

# The company's private space. 10.255.0.0/16 is on-premises and never handed out.
resource "ipam_pool" "corp" {
  cidrs    = ["10.0.0.0/8"]
  reserved = ["10.255.0.0/16"]

  # One block per cluster: twice its largest range, which holds the Pods, the node
  # subnet with room to grow 4x (grow_to in the module) and the Services.
  requests = {
    for k, s in local.sizes : k => {
      prefix_length = min(s.pods, s.nodes - 2, s.services) - 1
      description   = "GKE cluster gke-${k}"
    }
  }
}

module "cluster" {
  source   = "./modules/gke-cluster"
  for_each = local.clusters

  name              = "gke-${each.key}"
  region            = each.key
  max_nodes         = each.value.max_nodes
  max_pods_per_node = each.value.max_pods_per_node
  max_services      = each.value.max_services
  block             = ipam_pool.corp.allocations[each.key]
}

# Other Terraform states own address space too. In real use this map comes from their
# outputs, e.g. data.terraform_remote_state.onprem.outputs.cidrs; the check warns at
# every plan if any of them, or any cluster block, overlaps another.
locals {
  other_states = {
    "onprem/datacenter" = "10.255.0.0/16"
    "eks/prod-vpc"      = "172.16.0.0/16"
    "vpn/clients"       = "192.168.64.0/20"
  }
}

check "no_overlap_with_other_states" {
  assert {
    condition = length(provider::ipam::find_overlaps(merge(
      local.other_states,
      { for k, a in ipam_pool.corp.allocations : "gke/${k}" => a.cidr },
    ))) == 0
    error_message = "Address space overlaps across states: ${jsonencode(provider::ipam::find_overlaps(merge(local.other_states, { for k, a in ipam_pool.corp.allocations : "gke/${k}" => a.cidr })))}"
  }
}

output "subnetworks" {
  description = "Arguments for google_compute_subnetwork, by region."
  value       = { for k, m in module.cluster : k => m.subnetwork }
}

output "corp_utilization" {
  description = "Share of the corp space handed to clusters."
  value       = ipam_pool.corp.utilization
}

# With the Google provider, each module's output feeds a subnetwork directly:
#
# resource "google_compute_subnetwork" "nodes" {
#   for_each      = module.cluster
#   name          = each.value.subnetwork.name
#   region        = each.value.subnetwork.region
#   network       = google_compute_network.vpc.id
#   ip_cidr_range = each.value.subnetwork.ip_cidr_range
#
#   dynamic "secondary_ip_range" {
#     for_each = each.value.subnetwork.secondary_ip_range
#     content {
#       range_name    = secondary_ip_range.value.range_name
#       ip_cidr_range = secondary_ip_range.value.ip_cidr_range
#     }
#   }
# }
