# GKE VPC-native clusters, one per region: a node subnet plus secondary ranges for
# Pods and Services, carved from the company's address space.
#
# The corp pool owns the ledger of cluster blocks. Each cluster module declares what
# it needs (output "request"), the corp pool places every request at plan time, and
# the module receives its block (variable "block") to carve its own ranges from.
#
# One module block per cluster: Terraform resolves `module.x.request` to that one
# output, so requests and blocks can flow both ways. A `for` over a for_each module
# would depend on the whole module and make a cycle.

terraform {
  required_version = ">= 1.6"
  required_providers {
    ipam = { source = "ipam-rs/ipam", version = "~> 0.1" }
  }
}

# The company's private space. 10.255.0.0/16 is on-premises and never handed out.
resource "ipam_pool" "corp" {
  cidrs    = ["10.0.0.0/8"]
  reserved = ["10.255.0.0/16"]

  # Each cluster module says what it needs. A literal map (or a `for` expression)
  # makes a duplicate key an error; merge() would silently keep the last one.
  allocations = {
    "europe-west1" = module.europe_west1.request
    "us-central1"  = module.us_central1.request
    "asia-east1"   = module.asia_east1.request
  }
}

module "europe_west1" {
  source = "./modules/gke-cluster"
  name   = "gke-europe-west1"
  region = "europe-west1"
  sizes  = { nodes = 20, pods = 14, services = 20 }
  block  = ipam_pool.corp.allocations["europe-west1"]
}

module "us_central1" {
  source = "./modules/gke-cluster"
  name   = "gke-us-central1"
  region = "us-central1"
  sizes  = { nodes = 20, pods = 14, services = 20 }
  block  = ipam_pool.corp.allocations["us-central1"]
}

module "asia_east1" {
  source = "./modules/gke-cluster"
  name   = "gke-asia-east1"
  region = "asia-east1"
  sizes  = { nodes = 22, pods = 16, services = 22 }
  block  = ipam_pool.corp.allocations["asia-east1"]
}

output "subnetworks" {
  description = "Arguments for google_compute_subnetwork, by region."
  value = {
    "europe-west1" = module.europe_west1.subnetwork
    "us-central1"  = module.us_central1.subnetwork
    "asia-east1"   = module.asia_east1.subnetwork
  }
}

output "corp_utilization" {
  description = "Share of the corp space handed to clusters."
  value       = ipam_pool.corp.utilization
}

# With the Google provider, each module's output feeds a subnetwork directly:
#
# resource "google_compute_subnetwork" "nodes" {
#   for_each      = local.subnetworks  # = the "subnetworks" output's value
#   name          = each.value.name
#   region        = each.value.region
#   network       = google_compute_network.vpc.id
#   ip_cidr_range = each.value.ip_cidr_range
#
#   dynamic "secondary_ip_range" {
#     for_each = each.value.secondary_ip_range
#     content {
#       range_name    = secondary_ip_range.value.range_name
#       ip_cidr_range = secondary_ip_range.value.ip_cidr_range
#     }
#   }
# }
