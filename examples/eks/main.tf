# EKS address plan: one VPC per environment from a regional pool, one private and
# one public subnet per availability zone, and in every private subnet a block
# reserved for VPC CNI prefix delegation (/28 prefixes, so /28-aligned), sized with
# provider::ipam::eks_max_pods and eks_prefix_reservation_length.

terraform {
  required_version = ">= 1.8" # provider functions
  required_providers {
    ipam = { source = "ipam-rs/ipam", version = "~> 0.1" }
  }
}

variable "environments" {
  description = "Per environment: the VPC's prefix length, and the most nodes per zone drawing /28 prefixes from the private subnet."
  type        = map(object({ vpc_prefix_length = number, nodes_per_az = number }))
  default = {
    prod    = { vpc_prefix_length = 16, nodes_per_az = 20 }
    staging = { vpc_prefix_length = 18, nodes_per_az = 5 }
  }
}

variable "node_type" {
  description = "Network interfaces and IPv4 addresses per interface of the node instance type (m5.large: 3 and 10)."
  type        = object({ enis = number, ips_per_eni = number })
  default     = { enis = 3, ips_per_eni = 10 }
}

variable "azs" {
  description = "Availability zones to spread subnets over."
  type        = list(string)
  default     = ["us-east-1a", "us-east-1b", "us-east-1c"]
}

locals {
  # Pods per node with prefix delegation (434 on an m5.large), capped at kubelet's 110.
  max_pods_per_node = min(110, provider::ipam::eks_max_pods(var.node_type.enis, var.node_type.ips_per_eni, true))

  # "<env>/<tier>-<az>" => { env, az, tier, prefix_length }
  subnets = merge([
    for env, e in var.environments : merge(
      { for az in var.azs : "${env}/private-${az}" => { env = env, az = az, tier = "private", prefix_length = e.vpc_prefix_length + 3 } },
      { for az in var.azs : "${env}/public-${az}" => { env = env, az = az, tier = "public", prefix_length = e.vpc_prefix_length + 6 } },
    )
  ]...)
  private = { for k, s in local.subnets : k => s if s.tier == "private" }
}

# The region's share of the corporate space; 10.79.255.0/24 is the VPN endpoint range.
resource "ipam_pool" "us_east_1" {
  cidrs    = ["10.64.0.0/12"]
  reserved = ["10.79.255.0/24"]
  strategy = "lowest"
  requests = {
    for env, e in var.environments : env => { prefix_length = e.vpc_prefix_length, description = "${env} VPC" }
  }
}

resource "ipam_pool" "vpc" {
  for_each = var.environments

  cidrs = [ipam_pool.us_east_1.allocations[each.key].cidr]
  # AWS subnets are /16 to /28.
  min_prefix_length = 16
  max_prefix_length = 28
  requests = {
    for k, s in local.subnets : "${s.tier}-${s.az}" => s.prefix_length if s.env == each.key
  }
}

resource "ipam_allocation" "subnet" {
  for_each = local.subnets

  entry = ipam_pool.vpc[each.value.env].allocations["${each.value.tier}-${each.value.az}"]
  cloud = "aws"
}

# Each private subnet keeps a block for VPC CNI prefix delegation: an
# aws_ec2_subnet_cidr_reservation of type "prefix", which must be /28-aligned. Its size
# holds ceil(max_pods / 16) + 1 prefixes per node (one warm, WARM_PREFIX_TARGET=1):
# 20 nodes of 110 Pods need 160 /28s, a /20 (half of prod's /19 private subnets).
resource "ipam_pool" "private_subnet" {
  for_each = local.private

  cidrs             = [ipam_allocation.subnet[each.key].cidr]
  max_prefix_length = 28
  reserved          = [ipam_allocation.subnet[each.key].network_address] # keep the subnet's first block for AWS
  requests = {
    cni_prefixes = {
      prefix_length = provider::ipam::eks_prefix_reservation_length(var.environments[each.value.env].nodes_per_az, local.max_pods_per_node)
      description   = "VPC CNI /28 prefixes"
    }
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
