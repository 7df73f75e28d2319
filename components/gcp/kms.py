"""Customer-managed encryption keys: one key ring per location, one rotating key per purpose.

Each key is granted to exactly the Google service agent that uses it (GCS, Pub/Sub, BigQuery, GKE,
Compute Engine), on that key only. Callers get keys by purpose and grant their use through
:meth:`KmsKey.grant`, which the data components call from their own grant helpers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

import pulumi
import pulumi_gcp as gcp
from pydantic import BaseModel, ConfigDict, Field

from mlinfra.components.base import Component
from mlinfra.components.gcp import permissions

Purpose = Literal["storage", "pubsub", "bigquery", "gke-secrets", "disks"]
PURPOSES: Final[tuple[Purpose, ...]] = ("storage", "pubsub", "bigquery", "gke-secrets", "disks")

# Multi-region data locations and the Cloud KMS location their keys must live in.
_KMS_MULTI_REGION: Final[dict[str, str]] = {"EU": "europe", "US": "us", "ASIA": "asia"}


def kms_location(location: str) -> str:
    """The Cloud KMS location for data stored in ``location`` (a region, multi- or dual-region).

    Raises ``ValueError`` for custom dual-regions, which have no matching key location.
    """
    upper = location.upper()
    if upper in _KMS_MULTI_REGION:
        return _KMS_MULTI_REGION[upper]
    if "+" in location:
        raise ValueError(f"location {location!r}: a custom dual-region has no Cloud KMS key location; use a "
                         "region, a multi-region (EU, US, ASIA) or a predefined dual-region (EUR4, NAM4)")
    return location.lower()


@dataclass(frozen=True)
class ServiceAgents:
    """IAM members of the Google service agents that encrypt data with our keys."""

    project_number: pulumi.Output[str]
    storage: pulumi.Output[str]
    pubsub: pulumi.Output[str]
    bigquery: pulumi.Output[str]
    gke: pulumi.Output[str]
    compute: pulumi.Output[str]

    def for_purpose(self, purpose: Purpose) -> pulumi.Output[str]:
        """The agent that uses the key of ``purpose``."""
        return {"storage": self.storage, "pubsub": self.pubsub, "bigquery": self.bigquery,
                "gke-secrets": self.gke, "disks": self.compute}[purpose]


class GcpKmsArgs(BaseModel):
    """Inputs of :class:`GcpKms`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    project: str = Field(description="GCP project id the key ring lives in. Required.")
    location: str = Field(description="Cloud KMS location of the key ring: a region, 'europe', 'us'. Required.")
    key_ring_name: str = Field(description="Physical key ring name (key rings can never be deleted). Required.")
    purposes: tuple[Purpose, ...] = Field(
        default=PURPOSES, description="One key per purpose. Default: storage, pubsub, bigquery, gke-secrets, disks."
    )
    rotation_days: int = Field(default=90, ge=1, le=90, description="Automatic rotation period. Default: 90 days.")
    protection_level: Literal["software", "hsm"] = Field(
        default="software", description="Key protection level. Default: software."
    )
    destroy_scheduled_days: int = Field(
        default=30, ge=1, le=120, description="Days a destroyed key version stays recoverable. Default: 30."
    )
    protect: bool = Field(default=False, description="Pulumi-protect the key ring and keys. Default: off.")
    apis: Any = Field(
        default=None,
        description="Resources (the enabled APIs) the service-agent lookups wait for; resources wait through "
        "their options. Default: none.",
    )


class KmsKey:
    """One crypto key and the means to grant its use (each grant created once per grantee and role)."""

    def __init__(self, owner: GcpKms, purpose: Purpose, id_: pulumi.Output[str]) -> None:
        self.owner = owner
        self.purpose = purpose
        self.id = id_
        self.grants: dict[str, gcp.kms.CryptoKeyIAMMember] = {}

    def grant(self, grantee: str, member: pulumi.Input[str], access: str) -> gcp.kms.CryptoKeyIAMMember:
        """Let ``member`` (logical name ``grantee``) use this key for ``access`` (read → decrypt only)."""
        permissions.check_member(member)
        role = permissions.KEY_ROLES[access]
        name = f"{self.owner.name}-{self.purpose}-{grantee}-{role.rsplit('.', 1)[-1].lower()}"
        if name not in self.grants:
            self.grants[name] = gcp.kms.CryptoKeyIAMMember(
                name, crypto_key_id=self.id, role=role, member=member,
                opts=pulumi.ResourceOptions(parent=self.owner),
            )
        return self.grants[name]


class GcpKms(Component):
    """A key ring with one key per purpose, rotated automatically, each usable only by its service agent.

    Secure defaults: keys rotate every ``rotation_days`` (at most 90); destroyed versions stay recoverable for
    ``destroy_scheduled_days``; the ring and keys are Pulumi-protected when ``protect`` (prod); each
    service agent gets ``cryptoKeyEncrypterDecrypter`` on its own key only, never on the ring or project.
    Note that Cloud KMS key rings cannot be deleted: a destroyed stack leaves the ring behind (empty of
    enabled key versions), and re-creating it needs the same name imported or a new one.
    """

    key_ring_id: pulumi.Output[str]
    key_ids: dict[str, pulumi.Output[str]]
    agents: ServiceAgents

    def __init__(self, name: str, args: GcpKmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:gcp:GcpKms", name, None, opts)
        self.name = name
        invoke = pulumi.InvokeOutputOptions(parent=self, depends_on=args.apis)
        project = gcp.organizations.get_project_output(project_id=args.project, opts=invoke)
        number = project.number
        self.agents = ServiceAgents(
            project_number=number,
            storage=gcp.storage.get_project_service_account_output(project=args.project, opts=invoke).member,
            pubsub=number.apply(lambda n: f"serviceAccount:service-{n}@gcp-sa-pubsub.iam.gserviceaccount.com"),
            bigquery=gcp.bigquery.get_default_service_account_output(project=args.project, opts=invoke).member,
            gke=number.apply(lambda n: f"serviceAccount:service-{n}@container-engine-robot.iam.gserviceaccount.com"),
            compute=number.apply(lambda n: f"serviceAccount:service-{n}@compute-system.iam.gserviceaccount.com"),
        )
        protected = pulumi.ResourceOptions(parent=self, protect=args.protect)
        ring = gcp.kms.KeyRing(f"{name}-ring", name=args.key_ring_name, location=args.location,
                               project=args.project, opts=protected)
        self.key_ring_id = ring.id
        self._keys: dict[str, KmsKey] = {}
        self._agent_grants: dict[str, gcp.kms.CryptoKeyIAMMember] = {}
        for purpose in args.purposes:
            key = gcp.kms.CryptoKey(
                f"{name}-{purpose}",
                name=purpose,
                key_ring=ring.id,
                purpose="ENCRYPT_DECRYPT",
                rotation_period=f"{args.rotation_days * 86400}s",
                destroy_scheduled_duration=f"{args.destroy_scheduled_days * 86400}s",
                version_template={"algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION",
                                  "protection_level": args.protection_level.upper()},
                labels={"mlinfra-purpose": purpose},
                opts=protected,
            )
            self._keys[purpose] = KmsKey(self, purpose, key.id)
            self._agent_grants[purpose] = gcp.kms.CryptoKeyIAMMember(
                f"{name}-{purpose}-agent",
                crypto_key_id=key.id,
                role=permissions.KEY_USE,
                member=self.agents.for_purpose(purpose),
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.key_ids = {purpose: k.id for purpose, k in self._keys.items()}
        self.register_outputs({"key_ring_id": self.key_ring_id, **{f"key_{p}": i for p, i in self.key_ids.items()}})

    def key(self, purpose: Purpose) -> KmsKey:
        """The key for ``purpose`` (KeyError naming the purposes this ring holds)."""
        if purpose not in self._keys:
            raise KeyError(f"no {purpose!r} key in {self.name}; it holds {', '.join(self._keys)}")
        return self._keys[purpose]

    def key_id(self, purpose: Purpose) -> pulumi.Output[str]:
        """The full resource id of the key for ``purpose``."""
        return self.key(purpose).id

    def agent_grant(self, purpose: Purpose) -> gcp.kms.CryptoKeyIAMMember:
        """The service agent's grant on the key: resources encrypted with the key must wait for it."""
        return self._agent_grants[purpose]
