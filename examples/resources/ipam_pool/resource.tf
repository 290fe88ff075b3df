terraform {
  required_providers {
    ipam = { source = "ipam-rs/ipam", version = "~> 0.1" }
  }
}

resource "ipam_pool" "example" {
  cidrs    = ["10.0.0.0/16"]
  reserved = ["10.0.0.0/24"] # gateways and appliances

  # Routes, firewall rules and peerings often still name a range after its subnet is
  # gone: hold a removed allocation's block for 30 days before anyone else gets it.
  # Re-adding the same name within the hold gets the same block back.
  release_hold = "720h"

  # A prefix length, a CIDR to pin, or an object that also takes description and grow_to.
  requests = {
    web    = 24
    legacy = "10.0.8.0/24"
    db     = { cidr = "10.0.9.0/24", description = "existing subnet, pinned" }
  }
}

output "web" {
  value = ipam_pool.example.allocations["web"].cidr
}
