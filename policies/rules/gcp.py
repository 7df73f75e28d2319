"""Security rules for gcp resources (being written)."""

from __future__ import annotations

from mlinfra.policies.catalog import rules_in

RULES = rules_in(vars())
