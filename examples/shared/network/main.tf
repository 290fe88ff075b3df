# The network team's state: it owns the company's address space and nothing else.
# Platform teams allocate from it in their own states (../team-a, ../team-b), with no
# pull request here.
terraform {
  required_providers {
    ipam = { source = "ipam-rs/ipam", version = "~> 0.1" }
  }
}

# export IPAM_DATABASE_URL='postgresql://ipam@db.example.com/ipam?sslmode=verify-full'
provider "ipam" {}

resource "ipam_shared_pool" "corp" {
  name     = "corp"
  cidrs    = ["10.0.0.0/8"]
  reserved = ["10.255.0.0/16"] # on-premises

  min_prefix_length = 12
  max_prefix_length = 24

  # Who may allocate: owner -> PostgreSQL role. Only the owners listed allocate, and
  # only members of an owner's role write its allocations (row-level security). Unset,
  # the pool trusts every login that can connect.
  # owner_roles = { team-a = "team_a", team-b = "team_b" }
}

output "utilization" {
  value = ipam_shared_pool.corp.utilization
}
