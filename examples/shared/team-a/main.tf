# Team A's state: two GKE clusters, each a node range plus secondary ranges for Pods
# and Services, from the network team's pool "corp". The CIDRs are known at plan.
terraform {
  required_providers {
    ipam = { source = "ipam-rs/ipam", version = "~> 0.1" }
  }
}

provider "ipam" {}

resource "ipam_shared_allocations" "team_a" {
  pool  = "corp"
  owner = "team-a"
  requests = {
    gke-eu = { prefix_length = 16, description = "GKE europe-west1: nodes, pods, services" }
    gke-us = { prefix_length = 16, description = "GKE us-central1: nodes, pods, services" }
  }
}

# Each cluster's block is carved into its ranges in this state, with ipam_pool.
resource "ipam_pool" "cluster" {
  for_each = ipam_shared_allocations.team_a.allocations
  cidrs    = [each.value.cidr]
  requests = {
    nodes    = { prefix_length = 20 }
    pods     = { prefix_length = 17 }
    services = { prefix_length = 20 }
  }
}

output "subnets" {
  value = {
    for name, pool in ipam_pool.cluster : name => {
      ip_cidr_range = pool.allocations["nodes"].cidr
      pods          = pool.allocations["pods"].cidr
      services      = pool.allocations["services"].cidr
    }
  }
}
