terraform {
  required_version = ">= 1.8"
  required_providers {
    ipam = { source = "ipam-rs/ipam", version = "~> 0.1" }
  }
}

# Pods per node the VPC CNI allows on an m5.large (3 ENIs of 10 addresses).
output "secondary_ips" {
  value = provider::ipam::eks_max_pods(3, 10, false) # 29
}

output "prefix_delegation" {
  # 434; kubelet caps it: min(110, ...) is what a node pool would set.
  value = min(110, provider::ipam::eks_max_pods(3, 10, true))
}
