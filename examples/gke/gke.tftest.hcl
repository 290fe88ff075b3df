# `terraform test` for the GKE example: every range is known at plan, and the
# applied plan is the one that was planned.

run "ranges_are_known_at_plan" {
  command = plan

  assert {
    condition     = output.subnetworks["europe-west1"].ip_cidr_range == "10.244.0.0/22"
    error_message = "europe-west1 nodes should be planned as 10.244.0.0/22 (1000 nodes + 4 reserved)"
  }
  assert {
    condition     = output.subnetworks["europe-west1"].secondary_ip_range[0].ip_cidr_range == "10.240.0.0/14"
    error_message = "europe-west1 Pods should be planned as 10.240.0.0/14"
  }
  assert {
    condition     = ipam_pool.corp.allocations["asia-east1"].cidr == "10.254.0.0/16"
    error_message = "asia-east1 should get 10.254.0.0/16 (a /16 for a /17 of Pods: 250 nodes of a /25)"
  }
  assert {
    condition     = module.cluster["us-central1"].sizes == { nodes = 21, pods = 13, services = 19 }
    error_message = "us-central1 is sized by gke_prefix_lengths(2000, 110, 8192)"
  }
}

run "apply_keeps_the_plan" {
  command = apply

  assert {
    condition     = output.subnetworks["us-central1"].ip_cidr_range == "10.232.0.0/21"
    error_message = "us-central1 nodes moved between plan and apply"
  }
  assert {
    condition     = output.subnetworks["us-central1"].gateway == "10.232.0.1"
    error_message = "GCP gateway is the second address of the primary range"
  }
  assert {
    condition     = alltrue([for c in ["europe-west1", "us-central1", "asia-east1"] : startswith(ipam_pool.corp.allocations[c].pool_id, "pool-")])
    error_message = "every cluster block belongs to the corp pool"
  }
  assert {
    condition     = tonumber(ipam_pool.corp.free_addresses) + tonumber(ipam_pool.corp.allocated_addresses) == tonumber(ipam_pool.corp.total_addresses)
    error_message = "utilization figures do not add up"
  }
}
