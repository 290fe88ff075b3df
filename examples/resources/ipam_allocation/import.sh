# A handle is imported as <pool_id>/<name>; the next plan fills in the rest from entry.
terraform import ipam_allocation.pods "$(terraform output -raw pool_id)/pods"
