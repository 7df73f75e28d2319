"""The built-in rules, one module per family; :data:`BUILTIN` is the only list the rest of mlinfra reads."""

from __future__ import annotations

from mlinfra.policies.rules import aws, gcp, kubernetes, residency

BUILTIN = (*residency.RULES, *gcp.RULES, *aws.RULES, *kubernetes.RULES)
