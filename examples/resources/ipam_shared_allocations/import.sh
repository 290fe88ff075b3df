# An owner's slice is imported as pool/owner; its allocations come from the database.
terraform import ipam_shared_allocations.team_a platform/team-a
