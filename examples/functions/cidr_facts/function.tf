terraform {
  required_version = ">= 1.8"
  required_providers {
    ipam = { source = "ipam-rs/ipam", version = "~> 0.1" }
  }
}

# Everything about a block, for outputs, tags and appliance configuration.
locals {
  facts = provider::ipam::cidr_facts("10.1.0.0/22")
}

output "netmask" {
  value = local.facts.netmask # "255.255.252.0"
}

output "broadcast" {
  value = local.facts.last_address # "10.1.3.255"
}

output "size" {
  value = local.facts.address_count # "1024"
}
