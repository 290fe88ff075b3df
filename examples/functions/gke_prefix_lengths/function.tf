terraform {
  required_version = ">= 1.8"
  required_providers {
    ipam = { source = "ipam-rs/ipam", version = "~> 0.1" }
  }
}

# Size a GKE cluster's ranges from what it must hold, then ask a pool for them.
locals {
  sizes = provider::ipam::gke_prefix_lengths(1024, 110, 4096)
}

resource "ipam_pool" "cluster" {
  cidrs = ["10.64.0.0/12"]
  requests = {
    nodes    = { prefix_length = local.sizes.nodes }    # /21
    pods     = { prefix_length = local.sizes.pods }     # /14
    services = { prefix_length = local.sizes.services } # /20
  }
}

output "ranges" {
  value = { for k, v in ipam_pool.cluster.allocations : k => v.cidr }
}
