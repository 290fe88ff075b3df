# A shared pool is imported by its name.
terraform import ipam_shared_pool.corp corp
