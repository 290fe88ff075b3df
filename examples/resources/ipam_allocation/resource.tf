terraform {
  required_providers {
    ipam = { source = "ipam-rs/ipam", version = "~> 0.1" }
  }
}

resource "ipam_pool" "cluster" {
  cidrs = ["10.20.0.0/16"]
  requests = {
    nodes = { prefix_length = 22 }
    pods  = { prefix_length = 18 }
  }
}

# The handle a module holds: the entry's CIDR and facts, plus GCP's usable range.
resource "ipam_allocation" "nodes" {
  entry = ipam_pool.cluster.allocations["nodes"]
  cloud = "gcp"
}

resource "ipam_allocation" "pods" {
  entry = ipam_pool.cluster.allocations["pods"]
  cloud = "gcp"
  range = "secondary"
}

output "pool_id" {
  value = ipam_pool.cluster.id
}

output "nodes_usable" {
  value = "${ipam_allocation.nodes.usable_first} - ${ipam_allocation.nodes.usable_last}"
}
