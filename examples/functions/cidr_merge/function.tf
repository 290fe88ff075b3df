terraform {
  required_version = ">= 1.8"
  required_providers {
    ipam = { source = "ipam-rs/ipam", version = "~> 0.1" }
  }
}

# One firewall rule for every subnet of a VPC: the fewest CIDRs that cover them.
locals {
  subnets = ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24", "10.0.8.0/24"]
}

output "source_ranges" {
  value = provider::ipam::cidr_merge(local.subnets) # ["10.0.0.0/22", "10.0.8.0/24"]
}
