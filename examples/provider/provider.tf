terraform {
  required_providers {
    ipam = {
      source  = "ipam-rs/ipam"
      version = "~> 0.1"
    }
  }
}

# The provider takes no configuration: the ledger lives in the Terraform state.
provider "ipam" {}
