"""Region facts for data residency: cloud regions, residency groups and multi-region locations.

Pure data plus small lookups; no cloud API is ever called. Used by config validation (before anything
runs) and by the residency policies (on every located resource), so both agree on what a location means.
"""

from __future__ import annotations

from typing import Final

# Residency groups a config may name in ``residency.allowed_regions`` instead of single regions.
# Membership is by the region's physical jurisdiction, not by the provider's marketing geography.
GCP_REGIONS: Final[dict[str, str]] = {
    "europe-central2": "eu", "europe-north1": "eu", "europe-north2": "eu", "europe-southwest1": "eu",
    "europe-west1": "eu", "europe-west3": "eu", "europe-west4": "eu", "europe-west8": "eu",
    "europe-west9": "eu", "europe-west10": "eu", "europe-west12": "eu",
    "europe-west2": "uk", "europe-west6": "ch",
    "us-central1": "us", "us-east1": "us", "us-east4": "us", "us-east5": "us", "us-south1": "us",
    "us-west1": "us", "us-west2": "us", "us-west3": "us", "us-west4": "us",
    "northamerica-northeast1": "ca", "northamerica-northeast2": "ca",
    "asia-east1": "apac", "asia-east2": "apac", "asia-northeast1": "apac", "asia-northeast2": "apac",
    "asia-northeast3": "apac", "asia-south1": "apac", "asia-south2": "apac", "asia-southeast1": "apac",
    "asia-southeast2": "apac", "australia-southeast1": "apac", "australia-southeast2": "apac",
    "southamerica-east1": "latam", "southamerica-west1": "latam",
    "me-central1": "me", "me-west1": "me", "africa-south1": "af",
}

AWS_REGIONS: Final[dict[str, str]] = {
    "eu-central-1": "eu", "eu-central-2": "ch", "eu-north-1": "eu", "eu-south-1": "eu",
    "eu-south-2": "eu", "eu-west-1": "eu", "eu-west-2": "uk", "eu-west-3": "eu",
    "us-east-1": "us", "us-east-2": "us", "us-west-1": "us", "us-west-2": "us",
    "ca-central-1": "ca", "ca-west-1": "ca",
    "ap-east-1": "apac", "ap-northeast-1": "apac", "ap-northeast-2": "apac", "ap-northeast-3": "apac",
    "ap-south-1": "apac", "ap-south-2": "apac", "ap-southeast-1": "apac", "ap-southeast-2": "apac",
    "ap-southeast-3": "apac", "ap-southeast-4": "apac",
    "sa-east-1": "latam", "me-central-1": "me", "me-south-1": "me", "il-central-1": "me",
    "af-south-1": "af",
}

# Multi-region and predefined dual-region locations (GCS, BigQuery) and their member regions.
# A multi-region counts as allowed only if every member region is allowed.
GCP_MULTI_REGIONS: Final[dict[str, tuple[str, ...]]] = {
    "EU": tuple(r for r, g in GCP_REGIONS.items() if g == "eu"),
    "US": tuple(r for r, g in GCP_REGIONS.items() if g == "us"),
    "EUROPE": tuple(r for r, g in GCP_REGIONS.items() if g == "eu"),  # Cloud KMS multi-region
    "ASIA": ("asia-east1", "asia-east2", "asia-northeast1", "asia-northeast2", "asia-northeast3",
             "asia-south1", "asia-south2", "asia-southeast1", "asia-southeast2"),
    "EUR4": ("europe-north1", "europe-west4"),
    "EUR5": ("europe-west1", "europe-west2"),
    "EUR7": ("europe-west2", "europe-west3"),
    "EUR8": ("europe-west3", "europe-west6"),
    "NAM4": ("us-central1", "us-east1"),
    "ASIA1": ("asia-northeast1", "asia-northeast2"),
}

GCP_DUAL_REGIONS: Final[tuple[str, ...]] = ("EUR4", "EUR5", "EUR7", "EUR8", "NAM4", "ASIA1")


def is_gcp_location(location: str) -> bool:
    """True for a GCP region, multi-region (EU, US, ASIA) or predefined dual-region (EUR4, ...)."""
    return location.lower() in GCP_REGIONS or location.upper() in GCP_MULTI_REGIONS


# Groups that are unions of other groups.
GROUP_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "europe": ("eu", "uk", "ch"),
    "eea": ("eu",),
    "northamerica": ("us", "ca"),
}

GROUPS: Final[frozenset[str]] = frozenset(GCP_REGIONS.values()) | frozenset(AWS_REGIONS.values()) | frozenset(
    GROUP_ALIASES
) | frozenset({"onprem"})


def known_regions(cloud: str) -> dict[str, str]:
    """Return region → group for ``cloud`` (``gcp`` or ``aws``); on-prem sites are free-form."""
    if cloud == "gcp":
        return GCP_REGIONS
    if cloud == "aws":
        return AWS_REGIONS
    return {}


def expand_allowed(allowed: list[str] | tuple[str, ...]) -> tuple[frozenset[str], frozenset[str]]:
    """Split an allow-list into (explicit regions, groups), expanding group aliases."""
    regions: set[str] = set()
    groups: set[str] = set()
    for entry in allowed:
        key = entry.lower()
        if key in GROUP_ALIASES:
            groups.update(GROUP_ALIASES[key])
        elif key in GROUPS:
            groups.add(key)
        else:
            regions.add(key)
    return frozenset(regions), frozenset(groups)


def group_of(region: str) -> str | None:
    """The residency group of a single cloud region, or None when unknown."""
    key = region.lower()
    return GCP_REGIONS.get(key) or AWS_REGIONS.get(key)


def member_regions(location: str) -> tuple[str, ...]:
    """Member regions of a location: itself for a region, the members for a multi/dual-region.

    Zones (``europe-west4-a``, ``eu-west-1a``) resolve to their region.
    """
    upper = location.upper()
    if upper in GCP_MULTI_REGIONS:
        return GCP_MULTI_REGIONS[upper]
    if "+" in location:  # configurable dual-region, e.g. "EU+europe-west1+europe-west4" style lists
        return tuple(part.lower() for part in location.split("+") if part.upper() not in GCP_MULTI_REGIONS)
    return (region_of_zone(location.lower()),)


def region_of_zone(location: str) -> str:
    """Map a zone to its region (``europe-west4-a`` → ``europe-west4``, ``eu-west-1a`` → ``eu-west-1``)."""
    if location in GCP_REGIONS or location in AWS_REGIONS:
        return location
    head, _, tail = location.rpartition("-")
    if head in GCP_REGIONS and len(tail) == 1:
        return head
    if location[:-1] in AWS_REGIONS and location[-1].isalpha():
        return location[:-1]
    return location


def location_allowed(location: str, allowed: list[str] | tuple[str, ...]) -> bool:
    """True when every member region of ``location`` is inside the allow-list.

    An empty allow-list means residency is not restricted.
    """
    if not allowed:
        return True
    regions, groups = expand_allowed(allowed)
    for member in member_regions(location):
        if member in regions:
            continue
        group = group_of(member)
        if group is None or group not in groups:
            return False
    return True
