terraform {
  required_version = ">= 1.8"
  required_providers {
    ipam = { source = "ipam-rs/ipam", version = "~> 0.1" }
  }
}

# What is left of a VPC once its subnets are carved out: the room for new subnets.
locals {
  vpc     = "10.0.0.0/16"
  subnets = ["10.0.0.0/20", "10.0.16.0/20", "10.0.128.0/18"]
}

output "unused" {
  # ["10.0.32.0/19", "10.0.64.0/18", "10.0.192.0/18"]
  value = provider::ipam::cidr_subtract([local.vpc], local.subnets)
}
