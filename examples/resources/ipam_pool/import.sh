# A pool is imported as JSON: its cidrs (and optionally reserved, the prefix rules,
# strategy, release_hold) and its existing allocations, which come in as pinned entries.
terraform import ipam_pool.example '{"cidrs":["10.0.0.0/16"],"reserved":["10.0.0.0/24"],"release_hold":"720h","allocations":{"web":"10.0.1.0/24","legacy":"10.0.8.0/24","db":{"cidr":"10.0.9.0/24","description":"existing subnet, pinned"}}}'

# A pool with no allocations can also be imported as a comma-separated CIDR list:
#   terraform import ipam_pool.other 10.1.0.0/16,10.2.0.0/16
