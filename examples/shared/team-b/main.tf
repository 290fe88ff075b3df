# Team B's state: EKS VPCs from the same pool "corp", in parallel with team A.
terraform {
  required_providers {
    ipam = { source = "ipam-rs/ipam", version = "~> 0.1" }
  }
}

provider "ipam" {}

resource "ipam_shared_allocations" "team_b" {
  pool  = "corp"
  owner = "team-b"
  requests = {
    eks-prod    = { prefix_length = 16, grow_to = 15 }
    eks-staging = { prefix_length = 18 }
  }
}

output "vpcs" {
  value = { for name, a in ipam_shared_allocations.team_b.allocations : name => a.cidr }
}
