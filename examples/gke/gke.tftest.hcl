# `terraform test` for the GKE example: every range is known at plan, and the
# applied plan is the one that was planned.

run "ranges_are_known_at_plan" {
  command = plan

  assert {
    condition     = output.subnetworks["europe-west1"].ip_cidr_range == "10.244.0.0/20"
    error_message = "europe-west1 nodes should be planned as 10.244.0.0/20"
  }
  assert {
    condition     = output.subnetworks["europe-west1"].secondary_ip_range[0].ip_cidr_range == "10.240.0.0/14"
    error_message = "europe-west1 Pods should be planned as 10.240.0.0/14"
  }
  assert {
    condition     = ipam_pool.corp.allocations["asia-east1"].cidr == "10.252.0.0/15"
    error_message = "asia-east1 should get 10.252.0.0/15 (a /15 for a /16 of Pods)"
  }
}

run "apply_keeps_the_plan" {
  command = apply

  assert {
    condition     = output.subnetworks["us-central1"].ip_cidr_range == "10.228.0.0/20"
    error_message = "us-central1 nodes moved between plan and apply"
  }
  assert {
    condition     = output.subnetworks["us-central1"].gateway == "10.228.0.1"
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
