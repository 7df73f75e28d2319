"""CrossGuard entry point of the mlinfra security pack; the rules live in the catalog (mlinfra.policies.rules)."""

from mlinfra.policies.crossguard import serve

serve("security")
