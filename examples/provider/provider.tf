terraform {
  required_providers {
    ipam = {
      source  = "ipam-rs/ipam"
      version = "~> 0.1"
    }
  }
}

# With no arguments, the ledger lives in the Terraform state (ipam_pool). The shared
# ledger (ipam_shared_pool, ipam_shared_allocations) needs a PostgreSQL database:
# database_url here (from a sensitive variable) or the environment variable
# IPAM_DATABASE_URL.
provider "ipam" {
  reservation_ttl = "24h"
}
