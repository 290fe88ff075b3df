terraform {
  required_providers {
    ipam = { source = "ipam-rs/ipam", version = "~> 0.1" }
  }
}

resource "ipam_shared_pool" "lab" {
  name  = "lab"
  cidrs = ["192.168.0.0/16"]
}

# Everything in a shared pool, across every owner: allocations keyed owner/name, and
# the blocks of plans not yet applied.
data "ipam_shared_pool" "lab" {
  name = ipam_shared_pool.lab.id
}

output "utilization" {
  value = data.ipam_shared_pool.lab.utilization
}

output "owners" {
  value = distinct([for a in data.ipam_shared_pool.lab.allocations : a.owner])
}
