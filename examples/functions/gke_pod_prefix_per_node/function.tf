terraform {
  required_version = ">= 1.8"
  required_providers {
    ipam = { source = "ipam-rs/ipam", version = "~> 0.1" }
  }
}

# The Pod block GKE gives each node for a node pool's max_pods_per_node.
output "default_node_pool" {
  value = provider::ipam::gke_pod_prefix_per_node(110) # 24: a /24 per node
}

output "dense_node_pool" {
  value = provider::ipam::gke_pod_prefix_per_node(32) # 26
}
