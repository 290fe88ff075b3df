terraform {
  required_version = ">= 1.8"
  required_providers {
    ipam = { source = "ipam-rs/ipam", version = "~> 0.1" }
  }
}

# Would peering two VPCs route ambiguously?
locals {
  hub   = "10.0.0.0/16"
  spoke = "10.0.128.0/20"
}

output "peering_is_ambiguous" {
  value = provider::ipam::cidr_overlaps(local.hub, local.spoke) # true
}
