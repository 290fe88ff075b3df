terraform {
  required_version = ">= 1.8"
  required_providers {
    ipam = { source = "ipam-rs/ipam", version = "~> 0.1" }
  }
}

# Size a subnet for the hosts it must hold, counting what the cloud reserves.
variable "hosts" {
  type    = number
  default = 250
}

output "aws_subnet_prefix" {
  value = provider::ipam::prefix_length_for(var.hosts, "aws") # 24
}

output "gcp_subnet_prefix" {
  value = provider::ipam::prefix_length_for(1000, "gcp") # 22
}
