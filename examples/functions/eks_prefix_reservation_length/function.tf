terraform {
  required_version = ">= 1.8"
  required_providers {
    ipam = { source = "ipam-rs/ipam", version = "~> 0.1" }
  }
}

# Reserve /28-aligned space in a private subnet for VPC CNI prefix delegation.
locals {
  reservation = provider::ipam::eks_prefix_reservation_length(50, 110) # 19
}

resource "ipam_pool" "private_subnet" {
  cidrs = ["10.64.0.0/18"]
  requests = {
    prefixes = { prefix_length = local.reservation, description = "aws_ec2_subnet_cidr_reservation (prefix)" }
  }
}

output "reservation" {
  value = ipam_pool.private_subnet.allocations["prefixes"].cidr
}
