terraform {
  required_providers {
    ipam = {
      source = "ipam-rs/ipam"
    }
  }
}

# The provider takes no configuration: the ledger lives in the Terraform state.
provider "ipam" {}
