terraform {
  required_providers {
    ipam = { source = "ipam-rs/ipam", version = "~> 0.1" }
  }
}

provider "ipam" {
  # Blocks a plan shows stay reserved for this state for 24h (the default).
  reservation_ttl = "24h"
}

# The pool is usually in another state; here it is in the same configuration, so
# `pool` refers to its id and the CIDRs are placed in the apply of the run that creates
# it. Other states write the literal name: pool = "platform".
resource "ipam_shared_pool" "platform" {
  name  = "platform"
  cidrs = ["10.96.0.0/12"]
}

# Team A's slice of the pool: the same allocations schema as ipam_pool.
resource "ipam_shared_allocations" "team_a" {
  pool  = ipam_shared_pool.platform.id
  owner = "team-a"
  requests = {
    gke-nodes = { prefix_length = 20, description = "GKE europe-west1 nodes" }
    gke-pods  = { prefix_length = 14, grow_to = 13 }
  }
}

# A module's handle on one allocation works as with ipam_pool.
resource "ipam_allocation" "nodes" {
  entry = ipam_shared_allocations.team_a.allocations["gke-nodes"]
  cloud = "gcp"
}

output "nodes" {
  value = ipam_allocation.nodes.cidr
}
