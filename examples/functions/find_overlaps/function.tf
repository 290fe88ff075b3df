terraform {
  required_version = ">= 1.8"
  required_providers {
    ipam = { source = "ipam-rs/ipam", version = "~> 0.1" }
  }
}

# Catch overlapping VPCs across Terraform states. Each state publishes its ranges as
# outputs; in real use the map below is built from terraform_remote_state, e.g.
#
#   data "terraform_remote_state" "team_a" {
#     backend = "gcs"
#     config  = { bucket = "tf-state", prefix = "team-a" }
#   }
#   locals {
#     vpcs = merge(
#       { for k, v in data.terraform_remote_state.team_a.outputs.vpcs : "team-a/${k}" => v },
#       { for k, v in data.terraform_remote_state.team_b.outputs.vpcs : "team-b/${k}" => v },
#     )
#   }
locals {
  vpcs = {
    "team-a/prod"    = "10.10.0.0/16"
    "team-a/staging" = "10.11.0.0/16"
    "team-b/prod"    = "10.20.0.0/16"
    "team-b/sandbox" = "10.30.0.0/16"
  }
}

check "no_overlapping_vpcs" {
  assert {
    condition     = length(provider::ipam::find_overlaps(local.vpcs)) == 0
    error_message = "Overlapping VPCs: ${jsonencode(provider::ipam::find_overlaps(local.vpcs))}"
  }
}

output "overlaps" {
  value = provider::ipam::find_overlaps(local.vpcs) # []
}
