"""CrossGuard entry point of the mlinfra residency pack; the rules live in the catalog (mlinfra.policies.rules)."""

from mlinfra.policies.crossguard import serve

serve("residency")
