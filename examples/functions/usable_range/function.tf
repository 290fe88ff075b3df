terraform {
  required_version = ">= 1.8"
  required_providers {
    ipam = { source = "ipam-rs/ipam", version = "~> 0.1" }
  }
}

# The addresses hosts may use in a subnet, after the cloud takes its own.
output "gcp_subnet" {
  # { gateway_address = "10.0.0.1", usable_first = "10.0.0.2",
  #   usable_last = "10.0.0.253", usable_count = "252" }
  value = provider::ipam::usable_range("10.0.0.0/24", "gcp")
}

output "aws_dhcp_range" {
  value = provider::ipam::usable_range("10.0.1.0/28", "aws").usable_first # "10.0.1.4"
}
