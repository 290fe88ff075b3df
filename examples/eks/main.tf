# EKS address plan: one VPC per environment from a regional pool, one private and
# one public subnet per availability zone, and in every private subnet a block
# reserved for VPC CNI prefix delegation (/28 prefixes, so /28-aligned).

terraform {
  required_version = ">= 1.6"
  required_providers {
    ipam = { source = "ipam-rs/ipam", version = "~> 0.1" }
  }
}

variable "environments" {
  description = "VPC prefix length by environment."
  type        = map(number)
  default = {
    prod    = 16
    staging = 18
  }
}

variable "azs" {
  description = "Availability zones to spread subnets over."
  type        = list(string)
  default     = ["us-east-1a", "us-east-1b", "us-east-1c"]
}

locals {
  # "<env>/<tier>-<az>" => { env, az, tier, prefix_length }
  subnets = merge([
    for env, size in var.environments : merge(
      { for az in var.azs : "${env}/private-${az}" => { env = env, az = az, tier = "private", prefix_length = size + 3 } },
      { for az in var.azs : "${env}/public-${az}" => { env = env, az = az, tier = "public", prefix_length = size + 6 } },
    )
  ]...)
  private = { for k, s in local.subnets : k => s if s.tier == "private" }
}

# The region's share of the corporate space; 10.79.255.0/24 is the VPN endpoint range.
resource "ipam_pool" "us_east_1" {
  cidrs    = ["10.64.0.0/12"]
  reserved = ["10.79.255.0/24"]
  strategy = "lowest"
  allocations = {
    for env, size in var.environments : env => { prefix_length = size, description = "${env} VPC" }
  }
}

resource "ipam_pool" "vpc" {
  for_each = var.environments

  cidrs = [ipam_pool.us_east_1.allocations[each.key].cidr]
  # AWS subnets are /16 to /28.
  min_prefix_length = 16
  max_prefix_length = 28
  allocations = {
    for k, s in local.subnets : "${s.tier}-${s.az}" => { prefix_length = s.prefix_length } if s.env == each.key
  }
}

resource "ipam_allocation" "subnet" {
  for_each = local.subnets

  entry = ipam_pool.vpc[each.value.env].allocations["${each.value.tier}-${each.value.az}"]
  cloud = "aws"
}

# Each private subnet keeps half of itself for VPC CNI prefix delegation: an
# aws_ec2_subnet_cidr_reservation of type "prefix", which must be /28-aligned.
resource "ipam_pool" "private_subnet" {
  for_each = local.private

  cidrs             = [ipam_allocation.subnet[each.key].cidr]
  max_prefix_length = 28
  reserved          = [ipam_allocation.subnet[each.key].network_address] # keep the subnet's first block for AWS
  allocations = {
    cni_prefixes = { prefix_length = ipam_allocation.subnet[each.key].prefix_length + 1, description = "VPC CNI /28 prefixes" }
  }
}

output "vpcs" {
  description = "aws_vpc.cidr_block by environment."
  value       = { for env, _ in var.environments : env => ipam_pool.us_east_1.allocations[env].cidr }
}

output "subnets" {
  description = "Arguments for aws_subnet, by <env>/<tier>-<az>."
  value = {
    for k, s in local.subnets : k => {
      vpc               = s.env
      availability_zone = s.az
      cidr_block        = ipam_allocation.subnet[k].cidr
      usable_hosts      = ipam_allocation.subnet[k].usable_count
    }
  }
}

output "cni_prefix_reservations" {
  description = "Arguments for aws_ec2_subnet_cidr_reservation, by private subnet."
  value = {
    for k, p in ipam_pool.private_subnet : k => {
      cidr_block       = p.allocations["cni_prefixes"].cidr
      reservation_type = "prefix"
    }
  }
}

# With the AWS provider:
#
# resource "aws_vpc" "this" {
#   for_each   = var.environments
#   cidr_block = ipam_pool.us_east_1.allocations[each.key].cidr
# }
#
# resource "aws_subnet" "this" {
#   for_each          = local.subnets
#   vpc_id            = aws_vpc.this[each.value.env].id
#   availability_zone = each.value.az
#   cidr_block        = ipam_allocation.subnet[each.key].cidr
# }
#
# resource "aws_ec2_subnet_cidr_reservation" "cni" {
#   for_each         = ipam_pool.private_subnet
#   subnet_id        = aws_subnet.this[each.key].id
#   cidr_block       = each.value.allocations["cni_prefixes"].cidr
#   reservation_type = "prefix"
# }
