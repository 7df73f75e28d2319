"""``AuditArchive``: a write-once GCS bucket for audit exports, ACME's way.

Used from a stack file as::

    extensions:
      - {component: audit-archive, name: audit, settings: {retention_days: 400, location: EUROPE-WEST4}}

It follows mlinfra's component contract (nested ``Args``, ``__init__(name, args, opts)``), so mlinfra validates
``settings`` against ``Args`` and creates it with the target's provider, and the policy packs judge it.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp
from pydantic import BaseModel, ConfigDict, Field

from mlinfra.components.gcp.storage import GcsBucket, GcsBucketArgs


class AuditArchive(pulumi.ComponentResource):
    """A bucket that keeps audit exports for ``retention_days``: uniform access, no public access, versioned."""

    class Args(BaseModel):
        """Settings of :class:`AuditArchive`."""

        model_config = ConfigDict(frozen=True, extra="forbid")

        retention_days: int = Field(ge=1, description="Objects cannot be deleted before this age. Required.")
        location: str = Field(default="EUROPE-WEST4", description="GCS location. Default: EUROPE-WEST4.")
        kms_key_name: str | None = Field(default=None, description="CMEK key. Default: Google-managed.")

    bucket_name: pulumi.Output[str]

    def __init__(self, name: str, args: AuditArchive.Args, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("acme:index:AuditArchive", name, None, opts)
        bucket = gcp.storage.Bucket(
            f"{name}-bucket",
            location=args.location,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning={"enabled": True},
            retention_policy={"retention_period": args.retention_days * 86400},
            encryption={"default_kms_key_name": args.kms_key_name} if args.kms_key_name else None,
            labels={"acme-purpose": "audit"},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.bucket_name = bucket.name
        self.register_outputs({"bucket_name": self.bucket_name})


class AcmeBucket(GcsBucket):
    """ACME's flavour of mlinfra's GCS bucket: the built-in one plus an ``OWNERS`` object naming the owner.

    A subclass, so it takes the same arguments and gives the same outputs; the stack file swaps it in with
    ``replace: {GcsBucket: acme-bucket}``.
    """

    def __init__(self, name: str, args: GcsBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(name, args, opts)
        gcp.storage.BucketObject(
            f"{name}-owners", bucket=self.bucket.name, name="OWNERS", content="ml-platform@acme.example\n",
            opts=pulumi.ResourceOptions(parent=self),
        )
