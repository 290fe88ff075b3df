# `terraform test` for the EKS example.

run "vpcs_and_subnets_are_known_at_plan" {
  command = plan

  assert {
    condition     = output.vpcs == { prod = "10.64.0.0/16", staging = "10.65.0.0/18" }
    error_message = "VPC blocks should be planned lowest first"
  }
  assert {
    condition     = output.subnets["prod/private-us-east-1b"].cidr_block == "10.64.32.0/19"
    error_message = "prod private subnet in us-east-1b should be 10.64.32.0/19"
  }
  assert {
    condition     = length(output.subnets) == 12
    error_message = "two tiers times three zones times two environments"
  }
}

run "prefix_reservations_are_28_aligned" {
  command = apply

  assert {
    condition = alltrue([
      for k, r in output.cni_prefix_reservations :
      tonumber(split("/", r.cidr_block)[1]) <= 28 && cidrsubnet(r.cidr_block, 0, 0) == r.cidr_block
    ])
    error_message = "every CNI prefix reservation must be a /28-aligned block"
  }
  assert {
    condition     = [for k, r in output.cni_prefix_reservations : split("/", r.cidr_block)[1]] == ["20", "20", "20", "22", "22", "22"]
    error_message = "prod reserves a /20 (20 nodes x 8 prefixes), staging a /22 (5 nodes x 8)"
  }
  assert {
    condition     = output.subnets["prod/public-us-east-1a"].usable_hosts == "1019"
    error_message = "AWS keeps 5 addresses of a /22"
  }
}
