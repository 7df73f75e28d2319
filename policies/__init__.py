"""Policy catalog and CrossGuard packs for residency and security (the policy-pack issue builds them;
this package holds no rules yet)."""
