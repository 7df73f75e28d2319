"""One GCS bucket: CMEK, uniform access, never public, versioned, with lifecycle and event notifications."""

from __future__ import annotations

from typing import Any, Final, Literal, Self

import pulumi
import pulumi_gcp as gcp
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlinfra.components.base import Component
from mlinfra.components.gcp import permissions
from mlinfra.components.gcp.kms import KmsKey

STORAGE_CLASS: Final[dict[str, str]] = {
    "standard": "STANDARD", "infrequent": "NEARLINE", "cold": "COLDLINE", "archive": "ARCHIVE",
}
EVENT_TYPES: Final[dict[str, str]] = {
    "created": "OBJECT_FINALIZE", "deleted": "OBJECT_DELETE", "archived": "OBJECT_ARCHIVE",
    "metadata_updated": "OBJECT_METADATA_UPDATE",
}


class LifecycleRuleArgs(BaseModel):
    """One age-based rule."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    after_days: int = Field(ge=1, description="Age in days (since noncurrent for noncurrent_only). Required.")
    action: Literal["delete", "transition"] = Field(description="Delete, or transition to storage_class. Required.")
    storage_class: Literal["infrequent", "cold", "archive"] | None = Field(
        default=None, description="Target class of a transition. Default: none (delete rules)."
    )
    noncurrent_only: bool = Field(default=False, description="Only noncurrent versions. Default: off.")
    prefixes: list[str] = Field(default_factory=list, description="Only these prefixes. Default: whole bucket.")


class NotificationArgs(BaseModel):
    """Publish object events to a Pub/Sub topic."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    topic_name: str = Field(description="Logical topic name, used in child resource names. Required.")
    topic_id: Any = Field(description="Pub/Sub topic id (Input[str]) events are published to. Required.")
    events: list[Literal["created", "deleted", "archived", "metadata_updated"]] = Field(
        default_factory=lambda: ["created"], description="Object events that publish. Default: created."
    )
    prefix: str | None = Field(default=None, description="Only objects under this prefix. Default: all objects.")


class GcsBucketArgs(BaseModel):
    """Inputs of :class:`GcsBucket`."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    project: str = Field(description="GCP project id. Required.")
    bucket_name: str = Field(description="Globally unique physical bucket name. Required.")
    location: str = Field(description="Region, dual- or multi-region. Required (the target region by default).")
    key: KmsKey = Field(description="The storage key (same location as the bucket) used as default CMEK. Required.")
    key_grant: Any = Field(
        default=None, description="The GCS agent's grant on the key; the bucket waits for it. Default: none."
    )
    gcs_agent: Any = Field(
        default=None,
        description="IAM member of the GCS service agent (Input[str]); needed for notifications. Default: none.",
    )
    storage_class: Literal["standard", "infrequent", "cold", "archive"] = Field(
        default="standard", description="Default storage class. Default: standard."
    )
    versioning: bool = Field(
        default=True,
        description="Keep noncurrent versions. Default: on. GCS refuses it together with a retention policy "
        "(the policy then protects objects), so it must be off when 'retention_days' is set.",
    )
    lifecycle: list[LifecycleRuleArgs] = Field(default_factory=list, description="Lifecycle rules. Default: none.")
    retention_days: int | None = Field(default=None, ge=1, description="Retention policy in days. Default: none.")
    lock_retention: bool = Field(default=False, description="Lock the retention policy (irreversible). Default: off.")
    soft_delete_days: int = Field(
        default=7, ge=0, le=90, description="Days deleted objects stay restorable (0 = off). Default: 7."
    )
    force_destroy: bool = Field(default=False, description="Allow deleting a non-empty bucket. Default: off.")
    labels: dict[str, str] = Field(default_factory=dict, description="Extra labels. Default: none.")
    notifications: list[NotificationArgs] = Field(
        default_factory=list, description="Event notifications. Default: none."
    )
    protect: bool = Field(default=False, description="Pulumi-protect the bucket. Default: off.")

    @model_validator(mode="after")
    def _versioning_or_retention(self) -> Self:
        if self.versioning and self.retention_days is not None:
            raise ValueError("GCS refuses Object Versioning together with a retention policy; set versioning=False "
                             "(the retention policy protects objects) or drop retention_days")
        return self


def _rule(rule: LifecycleRuleArgs) -> dict[str, Any]:
    action: dict[str, Any] = {"type": "Delete"} if rule.action == "delete" else {
        "type": "SetStorageClass", "storage_class": STORAGE_CLASS[rule.storage_class or "infrequent"]}
    condition: dict[str, Any] = (
        {"with_state": "ARCHIVED", "days_since_noncurrent_time": rule.after_days}
        if rule.noncurrent_only else {"age": rule.after_days, "with_state": "ANY"}
    )
    if rule.prefixes:
        condition["matches_prefixes"] = list(rule.prefixes)
    return {"action": action, "condition": condition}


class GcsBucket(Component):
    """A private GCS bucket encrypted with a customer-managed key.

    Secure defaults: uniform bucket-level access (no object ACLs) and public access prevention enforced,
    so nothing in it can ever be made public; default CMEK from the storage key; versioning on (unless a
    retention policy protects objects instead: GCS allows only one of the two); 7-day soft delete;
    ``force_destroy`` off; Pulumi-protected when ``protect``. Grants express intent (:meth:`grant_read`,
    :meth:`grant_write`, :meth:`grant_admin`) and include use of the bucket's key.
    """

    bucket_name: pulumi.Output[str]
    bucket_url: pulumi.Output[str]

    def __init__(self, name: str, args: GcsBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:gcp:GcsBucket", name, None, opts)
        self._name = name
        self._key = args.key
        bucket = gcp.storage.Bucket(
            f"{name}-bucket",
            name=args.bucket_name,
            project=args.project,
            location=args.location.upper(),
            storage_class=STORAGE_CLASS[args.storage_class],
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            encryption={"default_kms_key_name": args.key.id},
            versioning={"enabled": args.versioning},
            lifecycle_rules=[_rule(r) for r in args.lifecycle],
            retention_policy={"retention_period": str(args.retention_days * 86400), "is_locked": args.lock_retention}
            if args.retention_days else None,
            soft_delete_policy={"retention_duration_seconds": args.soft_delete_days * 86400},
            force_destroy=args.force_destroy,
            labels=args.labels,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect,
                                        depends_on=[args.key_grant] if args.key_grant is not None else None),
        )
        self.bucket = bucket
        self.bucket_name = bucket.name
        self.bucket_url = bucket.url
        for note in args.notifications:
            if args.gcs_agent is None:
                raise ValueError(f"{name}: notifications need 'gcs_agent' (the GCS service agent member)")
            publish = gcp.pubsub.TopicIAMMember(
                f"{name}-{note.topic_name}-agent-publish", topic=note.topic_id, role=permissions.TOPIC_PUBLISH,
                member=args.gcs_agent, opts=pulumi.ResourceOptions(parent=self),
            )
            gcp.storage.Notification(
                f"{name}-{note.topic_name}-notification", bucket=bucket.name, topic=note.topic_id,
                payload_format="JSON_API_V1", event_types=[EVENT_TYPES[e] for e in note.events],
                object_name_prefix=note.prefix,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[publish]),
            )
        self.register_outputs({"bucket_name": self.bucket_name, "bucket_url": self.bucket_url})

    def _grant(self, access: str, grantee: str, member: pulumi.Input[str]) -> gcp.storage.BucketIAMMember:
        permissions.check_member(member)
        self._key.grant(grantee, member, access)
        return gcp.storage.BucketIAMMember(
            f"{self._name}-{grantee}-{access}", bucket=self.bucket.name, role=permissions.BUCKET_ROLES[access],
            member=member, opts=pulumi.ResourceOptions(parent=self),
        )

    def grant_read(self, grantee: str, member: pulumi.Input[str]) -> gcp.storage.BucketIAMMember:
        """Let ``member`` (logical name ``grantee``) list and read objects, and decrypt with the bucket's key."""
        return self._grant("read", grantee, member)

    def grant_write(self, grantee: str, member: pulumi.Input[str]) -> gcp.storage.BucketIAMMember:
        """Let ``member`` read, create, overwrite and delete objects (not change the bucket or its IAM)."""
        return self._grant("write", grantee, member)

    def grant_admin(self, grantee: str, member: pulumi.Input[str]) -> gcp.storage.BucketIAMMember:
        """Full control of this bucket, including its IAM policy; use sparingly."""
        return self._grant("admin", grantee, member)
