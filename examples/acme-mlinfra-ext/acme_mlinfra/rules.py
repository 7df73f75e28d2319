"""ACME's own policy rule, run by `mlinfra policy check` and the CrossGuard packs next to the built-in ones."""

from __future__ import annotations

from collections.abc import Iterator

from mlinfra.policies.catalog import Resource, resource_rule, rules_in
from mlinfra.policies.context import PolicyContext

MIN_RETENTION_DAYS = 365


@resource_rule(
    id="acme-gcp-storage-audit-retention", title="Audit buckets keep objects for at least a year",
    severity="high", types=("gcp:storage/bucket:Bucket",),
    rationale="ACME's audit policy: audit exports must stay undeletable for 365 days.",
    fix="extensions[].settings.retention_days of the audit-archive component",
)
def audit_retention(res: Resource, context: PolicyContext) -> Iterator[str]:
    """Buckets labelled ``acme-purpose: audit`` have a retention policy of at least 365 days."""
    if res.get("labels", "acme-purpose") != "audit":
        return
    seconds = int(res.get("retentionPolicy", "retentionPeriod", default=0))
    if seconds < MIN_RETENTION_DAYS * 86400:
        yield f"retention is {seconds // 86400} days; audit buckets keep objects for at least {MIN_RETENTION_DAYS}"


RULES = rules_in(vars())
