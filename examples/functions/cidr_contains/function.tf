terraform {
  required_version = ">= 1.8"
  required_providers {
    ipam = { source = "ipam-rs/ipam", version = "~> 0.1" }
  }
}

# Does a subnet fit inside the VPC it is meant for? Fail the plan if not.
variable "vpc_cidr" {
  type    = string
  default = "10.0.0.0/16"
}

variable "subnet_cidr" {
  type    = string
  default = "10.0.42.0/24"

  validation {
    condition     = provider::ipam::cidr_contains("10.0.0.0/8", var.subnet_cidr)
    error_message = "Subnets must come from the corporate 10.0.0.0/8."
  }
}

output "subnet_in_vpc" {
  value = provider::ipam::cidr_contains(var.vpc_cidr, var.subnet_cidr) # true
}

output "dns_server_in_vpc" {
  # One address is a /32.
  value = provider::ipam::cidr_contains(var.vpc_cidr, "10.0.0.2") # true
}
