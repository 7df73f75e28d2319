"""ACME's mlinfra extension: an audit-log archive bucket and the retention rule that goes with it."""
