"""Where a stack runs and the guard rails around it: target, residency, network and keys."""

from __future__ import annotations

import ipaddress
from typing import Literal, Self

from pydantic import Field, model_validator

from mlinfra.stacks import regions
from mlinfra.stacks.config.base import Loc, Name, StrictModel, raise_issues

Cloud = Literal["gcp", "aws", "onprem"]


class TargetConfig(StrictModel):
    """The cloud (or on-prem cluster) an environment is deployed to."""

    cloud: Cloud = Field(description="Target platform: 'gcp', 'aws' or 'onprem'. Required.")
    region: str = Field(
        min_length=2,
        description="Primary region (GCP: 'europe-west4', AWS: 'eu-west-1'); on-prem: the site's declared "
        "region, used for residency checks. Every located resource defaults to it.",
    )
    project: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$",
        description="GCP project id. Required when cloud is 'gcp'.",
    )
    account_id: str | None = Field(
        default=None,
        pattern=r"^\d{12}$",
        description="AWS account id (12 digits). Required when cloud is 'aws': resources are named after it "
        "and the provider refuses credentials of any other account.",
    )
    zones: list[str] = Field(
        default_factory=list,
        description="Zones for nodes, all inside 'region'. Default: the provider picks zones of the region.",
    )
    kubeconfig: str | None = Field(
        default=None,
        description="On-prem: path to the kubeconfig file. Default: the standard kubeconfig lookup.",
    )
    context: str | None = Field(
        default=None, description="On-prem: kubeconfig context to use. Default: the current context."
    )
    render_to: str | None = Field(
        default=None,
        description="On-prem: write Kubernetes manifests to this directory instead of applying them "
        "(GitOps hand-off, no cluster needed). Default: off, apply to the cluster.",
    )
    storage_class: str | None = Field(
        default=None,
        description="On-prem: StorageClass for the platform's volumes (object store, event bus, warehouse). "
        "Default: the cluster's default StorageClass.",
    )
    object_store_endpoint: str | None = Field(
        default=None, pattern=r"^https://",
        description="On-prem: an existing S3-compatible endpoint (https) to use instead of deploying MinIO. "
        "Default: deploy MinIO in the cluster.",
    )
    kms_endpoint: str | None = Field(
        default=None, pattern=r"^https://",
        description="On-prem: KMS endpoint (KES) MinIO encrypts objects with. Default: none, encryption at rest "
        "is the storage layer's (say so to auditors).",
    )

    @model_validator(mode="after")
    def _check_target(self) -> Self:
        issues: list[tuple[Loc, str]] = []
        known = regions.known_regions(self.cloud)
        if known and self.region not in known:
            issues.append((("region",), f"unknown {self.cloud} region {self.region!r}"
                           + _suggest(self.region, known)))
        if self.cloud == "gcp" and self.project is None:
            issues.append((("project",), "a GCP target needs 'project' (the GCP project id)"))
        if self.cloud == "aws" and self.account_id is None:
            issues.append((("account_id",), "an AWS target needs 'account_id' (12 digits); the provider refuses "
                           "credentials of any other account"))
        if self.cloud != "aws" and self.account_id is not None:
            issues.append((("account_id",), "'account_id' applies only to cloud 'aws'; remove it"))
        if self.cloud != "gcp" and self.project is not None:
            issues.append((("project",), "'project' applies only to cloud 'gcp'; remove it"))
        if self.cloud != "onprem":
            for field in ("kubeconfig", "context", "render_to", "storage_class", "object_store_endpoint",
                          "kms_endpoint"):
                if getattr(self, field) is not None:
                    issues.append(((field,), f"'{field}' applies only to cloud 'onprem'; remove it"))
        for index, zone in enumerate(self.zones):
            if regions.region_of_zone(zone) != self.region:
                issues.append((("zones", index), f"zone {zone!r} is not in region {self.region!r}"))
        raise_issues(issues)
        return self


def _suggest(value: str, candidates: dict[str, str] | list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(value, list(candidates), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class ResidencyConfig(StrictModel):
    """Where data may live. Checked by `validate` before anything runs and by the residency policies."""

    allowed_regions: list[str] = Field(
        default_factory=list,
        description="Regions ('europe-west4') or groups ('eu', 'us', 'uk', 'ch', 'apac', 'europe', "
        "'northamerica') every located resource must stay in. Multi-regions count only if every member "
        "region is allowed. Default: empty, unrestricted (prod environments must set it).",
    )

    def allows(self, location: str) -> bool:
        """True when ``location`` (a region, zone or multi-region) lies inside the allow-list."""
        return regions.location_allowed(location, self.allowed_regions)


class AuthorizedNetwork(StrictModel):
    """A network allowed to reach cluster control planes."""

    name: Name = Field(description="Label for the network, shown in the cloud console.")
    cidr: ipaddress.IPv4Network = Field(description="IPv4 CIDR, e.g. '10.100.0.0/24' for a VPN range.")


class NetworkConfig(StrictModel):
    """The private network. Address ranges are carved per cluster from the ranges below."""

    cidr: ipaddress.IPv4Network = Field(
        default=ipaddress.IPv4Network("10.0.0.0/16"),
        description="Node address space; each cluster gets a /20 from it. Default: 10.0.0.0/16.",
    )
    pods_cidr: ipaddress.IPv4Network = Field(
        default=ipaddress.IPv4Network("10.64.0.0/12"),
        description="Pod address space; each cluster gets a /14 from it. Default: 10.64.0.0/12.",
    )
    services_cidr: ipaddress.IPv4Network = Field(
        default=ipaddress.IPv4Network("10.96.0.0/16"),
        description="Service address space; each cluster gets a /20 from it. Default: 10.96.0.0/16.",
    )
    control_plane_cidr: ipaddress.IPv4Network = Field(
        default=ipaddress.IPv4Network("172.16.0.0/24"),
        description="Private control-plane address space; each cluster gets a /28. Default: 172.16.0.0/24.",
    )
    authorized_networks: list[AuthorizedNetwork] = Field(
        default_factory=list,
        description="Networks allowed to reach the control planes in addition to the VPC itself. "
        "Default: none, control planes are reachable only from inside the VPC.",
    )
    flow_logs: bool = Field(default=True, description="VPC flow logs on every subnet. Default: on.")
    flow_logs_sampling: float = Field(
        default=0.5, gt=0, le=1,
        description="Fraction of flows sampled into flow logs (GCP; AWS records every flow). Default: 0.5."
    )
    nat: bool = Field(
        default=True,
        description="Managed NAT for outbound traffic from private nodes. Default: on (nodes have no "
        "public IPs, so image pulls from public registries need it).",
    )

    @model_validator(mode="after")
    def _check_ranges(self) -> Self:
        named = {
            "cidr": self.cidr, "pods_cidr": self.pods_cidr, "services_cidr": self.services_cidr,
            "control_plane_cidr": self.control_plane_cidr,
        }
        minimum = {"cidr": 20, "pods_cidr": 14, "services_cidr": 20, "control_plane_cidr": 28}
        issues: list[tuple[Loc, str]] = []
        for field, net in named.items():
            if net.prefixlen > minimum[field]:
                issues.append(((field,), f"{net} is too small; use a /{minimum[field]} or larger"))
        items = list(named.items())
        for i, (a_name, a) in enumerate(items):
            for b_name, b in items[i + 1:]:
                if a.overlaps(b):
                    issues.append(((b_name,), f"{b} overlaps {a_name} ({a}); address ranges must not overlap"))
        raise_issues(issues)
        return self


class KmsConfig(StrictModel):
    """Customer-managed encryption keys: one key ring per environment, one key per purpose."""

    rotation_days: int = Field(
        default=90, ge=1, le=90, description="Automatic key rotation period in days (1-90). Default: 90."
    )
    protection_level: Literal["software", "hsm"] = Field(
        default="software",
        description="Key protection on GCP: 'software' or 'hsm' (FIPS 140-2 L3). AWS KMS keys are always held in "
        "its validated HSMs, so both values mean the same there. Default: software.",
    )
    destroy_scheduled_days: int = Field(
        default=30, ge=7, le=120,
        description="Days a destroyed key version stays recoverable (GCP) / pending deletion (AWS). Default: 30.",
    )
