terraform {
  required_providers {
    ipam = { source = "ipam-rs/ipam", version = "~> 0.1" }
  }
}

# The database comes from the environment (IPAM_DATABASE_URL) or from
# database_url = var.ipam_database_url, a sensitive variable.
provider "ipam" {}

# The company's address space, in the network team's state. Any other state can
# allocate from it with ipam_shared_allocations and pool = "corp".
resource "ipam_shared_pool" "corp" {
  name     = "corp"
  cidrs    = ["10.0.0.0/8"]
  reserved = ["10.255.0.0/16"]

  min_prefix_length = 12
  max_prefix_length = 28
}

output "free_cidrs" {
  value = ipam_shared_pool.corp.free_cidrs
}
