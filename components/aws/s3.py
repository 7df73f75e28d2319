"""One S3 bucket: SSE-KMS with a bucket key, never public, ACLs off, TLS-only, versioned, lifecycle, object lock."""

from __future__ import annotations

from typing import Any, Final, Literal, Self

import pulumi
import pulumi_aws as aws
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlinfra.components.aws import names, permissions
from mlinfra.components.aws.kms import AwsKmsKey
from mlinfra.components.base import Component

STORAGE_CLASS: Final[dict[str, str]] = {
    "infrequent": "STANDARD_IA", "cold": "GLACIER_IR", "archive": "DEEP_ARCHIVE",
}
# S3 moves objects to STANDARD_IA only once they are at least 30 days old (current or noncurrent).
MIN_TRANSITION_DAYS: Final[dict[str, int]] = {"infrequent": 30, "cold": 1, "archive": 1}

EVENT_TYPES: Final[dict[str, tuple[str, ...]]] = {
    # A finished upload of any kind (PUT, POST, COPY, multipart completion).
    "created": ("s3:ObjectCreated:*",),
    # A delete, including a delete marker in a versioned bucket.
    "deleted": ("s3:ObjectRemoved:*",),
    # Moved by lifecycle to a colder storage class: S3's counterpart of an archived object. (S3 has no event for
    # "a version became noncurrent"; overwrites arrive as 'created', deletes as 'deleted'.)
    "archived": ("s3:LifecycleTransition",),
    # Object metadata that can change after upload: tags (ACLs are disabled by ownership controls).
    "metadata_updated": ("s3:ObjectTagging:*",),
}
Event = Literal["created", "deleted", "archived", "metadata_updated"]
ABORT_MULTIPART_RULE_ID: Final[str] = "abort-incomplete-multipart-uploads"


class LifecycleRuleArgs(BaseModel):
    """One age-based rule, in neutral storage classes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    after_days: int = Field(ge=1, description="Age in days (days since noncurrent for noncurrent_only). Required.")
    action: Literal["delete", "transition"] = Field(
        description="'delete' expires objects; 'transition' moves them to 'storage_class'. Required."
    )
    storage_class: Literal["infrequent", "cold", "archive"] | None = Field(
        default=None,
        description="Target of a transition: infrequent → STANDARD_IA, cold → GLACIER_IR, archive → DEEP_ARCHIVE. "
        "Default: none (delete rules).",
    )
    noncurrent_only: bool = Field(
        default=False,
        description="Apply to noncurrent versions only (noncurrent version expiration / transition). Default: off.",
    )
    prefixes: list[str] = Field(
        default_factory=list, description="Only keys under these prefixes (one S3 rule each). Default: whole bucket."
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.action == "transition" and self.storage_class is None:
            raise ValueError("a 'transition' rule needs 'storage_class' (infrequent, cold or archive)")
        if self.action == "delete" and self.storage_class is not None:
            raise ValueError("a 'delete' rule takes no 'storage_class'; remove it")
        if self.storage_class and self.after_days < MIN_TRANSITION_DAYS[self.storage_class]:
            raise ValueError(f"S3 moves objects to {STORAGE_CLASS[self.storage_class]} only after "
                             f"{MIN_TRANSITION_DAYS[self.storage_class]} days; set after_days to at least that")
        return self


class NotificationArgs(BaseModel):
    """Publish object events to an SNS topic."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    topic_name: str = Field(description="Logical topic name (used in the notification id). Required.")
    topic_arn: Any = Field(description="ARN (Input[str]) of the SNS topic events are published to. Required.")
    events: list[Event] = Field(
        default_factory=lambda: ["created"], min_length=1,
        description="Object events that publish: created → s3:ObjectCreated:*, deleted → s3:ObjectRemoved:*, "
        "archived → s3:LifecycleTransition, metadata_updated → s3:ObjectTagging:*. Default: created.",
    )
    prefix: str | None = Field(default=None, description="Only keys under this prefix. Default: every object.")
    waits_for: Any = Field(
        default=None,
        description="Resources (the topic's policy letting S3 publish) the notification waits for; S3 sends a test "
        "event when it is saved and refuses it otherwise. Default: none.",
    )


class S3BucketArgs(BaseModel):
    """Inputs of :class:`S3Bucket`."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    bucket_name: str = Field(
        min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9-]*[a-z0-9]$",
        description="Globally unique physical bucket name (see names.bucket_name). Required.",
    )
    region: str = Field(min_length=1, description="Region of the bucket (set on every child). Required.")
    key: AwsKmsKey = Field(description="KMS key (same region) for default SSE-KMS encryption. Required.")
    versioning: bool = Field(
        default=True, description="Keep overwritten and deleted versions. Default: on; object lock requires it."
    )
    lifecycle: list[LifecycleRuleArgs] = Field(default_factory=list, description="Lifecycle rules. Default: none.")
    abort_incomplete_multipart_days: int = Field(
        default=7, ge=1, description="Days after which incomplete multipart uploads are aborted. Default: 7."
    )
    retention_days: int | None = Field(
        default=None, ge=1,
        description="Object lock default retention in days; enables object lock on the bucket (also on an "
        "existing bucket, without replacing it), which can never be turned off again. Default: none (no object "
        "lock).",
    )
    lock_retention: bool = Field(
        default=False,
        description="COMPLIANCE mode (nobody, not even root, can shorten retention or delete a locked version) "
        "instead of GOVERNANCE (principals with s3:BypassGovernanceRetention can). Default: off, GOVERNANCE.",
    )
    force_destroy: bool = Field(
        default=False, description="Allow destroying the bucket while it holds objects. Default: off."
    )
    notifications: list[NotificationArgs] = Field(
        default_factory=list, description="Object events published to SNS topics. Default: none."
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags on the bucket. Default: none.")
    protect: bool = Field(default=False, description="Pulumi-protect the bucket and its object lock. Default: off.")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.retention_days is not None and not self.versioning:
            raise ValueError("S3 object lock (retention_days) requires versioning; set versioning=True or drop "
                             "retention_days")
        if self.lock_retention and self.retention_days is None:
            raise ValueError("'lock_retention' needs 'retention_days'")
        if self.key.region != self.region:
            raise ValueError(f"the bucket is in {self.region} but its key in {self.key.region}; SSE-KMS needs a key in "
                             "the bucket's region: pass a key created in that region")
        _check_notifications(self.notifications)
        return self


def _overlap(a: str | None, b: str | None) -> bool:
    return not a or not b or a.startswith(b) or b.startswith(a)


def _check_notifications(notes: list[NotificationArgs]) -> None:
    """S3 refuses two destinations for one event type on overlapping prefixes: say so before it does."""
    for i, first in enumerate(notes):
        for second in notes[i + 1:]:
            shared = set(first.events) & set(second.events)
            if shared and _overlap(first.prefix, second.prefix):
                raise ValueError(
                    f"S3 cannot send {sorted(shared)} events on overlapping prefixes to two topics "
                    f"({first.topic_name!r}, {second.topic_name!r}); publish to one topic and fan out with several "
                    "subscriptions, or use disjoint prefixes")


def _rule_id(index: int, rule: LifecycleRuleArgs, prefix: str | None) -> str:
    scope = "noncurrent" if rule.noncurrent_only else "current"
    what = rule.storage_class if rule.action == "transition" else "delete"
    return f"{index}-{scope}-{what}-{rule.after_days}d-{prefix or 'all'}"[:255]


def lifecycle_rules(rules: list[LifecycleRuleArgs], abort_multipart_days: int) -> list[dict[str, Any]]:
    """S3 lifecycle rules from neutral ones (one per prefix), plus the multipart clean-up rule."""
    out: list[dict[str, Any]] = [{
        "id": ABORT_MULTIPART_RULE_ID, "status": "Enabled", "filter": {"prefix": ""},
        "abort_incomplete_multipart_upload": {"days_after_initiation": abort_multipart_days},
    }]
    for index, rule in enumerate(rules):
        for prefix in rule.prefixes or [None]:
            s3_rule: dict[str, Any] = {"id": _rule_id(index, rule, prefix), "status": "Enabled",
                                       "filter": {"prefix": prefix or ""}}
            if rule.action == "delete":
                if rule.noncurrent_only:
                    s3_rule["noncurrent_version_expiration"] = {"noncurrent_days": rule.after_days}
                else:
                    s3_rule["expiration"] = {"days": rule.after_days}
            else:
                storage_class = STORAGE_CLASS[rule.storage_class or "infrequent"]
                if rule.noncurrent_only:
                    s3_rule["noncurrent_version_transitions"] = [
                        {"noncurrent_days": rule.after_days, "storage_class": storage_class}]
                else:
                    s3_rule["transitions"] = [{"days": rule.after_days, "storage_class": storage_class}]
            out.append(s3_rule)
    return out


def upload_encryption_denies(objects_arn: pulumi.Input[str], key_arn: pulumi.Input[str]) -> list[dict[str, Any]]:
    """Bucket-policy denies of uploads that ask for any encryption but SSE-KMS with ``key_arn``.

    Both deny ``s3:PutObject`` (which also authorises CopyObject and CreateMultipartUpload) only when the upload
    sends ``x-amz-server-side-encryption`` (``Null: false``); uploads without it are allowed and get the bucket
    default, SSE-KMS with this key. ``DenyUploadsNotSseKms``: the header names another algorithm (SSE-S3,
    DSSE-KMS). ``DenyUploadsWithAnotherKmsKey``: the key-id header is not this key's ARN, or is missing — S3 then
    uses the AWS managed ``aws/s3`` key, not the bucket default — via ``StringNotEqualsIfExists``, which is true
    when the key is absent. The algorithm check cannot use ``...IfExists``: on a Deny that is true when the header
    is absent too, and would refuse every upload relying on the default. Clients that name the key must name it by
    ARN (S3 compares the header as sent, so a key id or alias is refused).
    """
    sse, key_id = "s3:x-amz-server-side-encryption", "s3:x-amz-server-side-encryption-aws-kms-key-id"
    return [
        {"Sid": "DenyUploadsNotSseKms", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
         "Resource": objects_arn,
         "Condition": {"StringNotEquals": {sse: "aws:kms"}, "Null": {sse: "false"}}},
        {"Sid": "DenyUploadsWithAnotherKmsKey", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
         "Resource": objects_arn,
         "Condition": {"StringNotEqualsIfExists": {key_id: key_arn}, "Null": {sse: "false"}}},
    ]


class S3Bucket(Component):
    """A private S3 bucket encrypted with a customer-managed KMS key.

    Secure defaults: default SSE-KMS with the given key and an S3 bucket key (fewer KMS calls, same key), SSE-C
    uploads blocked; all four public access blocks on; ownership controls ``BucketOwnerEnforced`` (ACLs disabled,
    the account owns every object); a bucket policy denying requests without TLS or below TLS 1.2 and uploads that
    ask for another encryption or another KMS key (uploads without the header get the default); versioning on;
    incomplete multipart uploads aborted after 7 days; optional object lock with default retention (GOVERNANCE,
    or COMPLIANCE when ``lock_retention``), enabled through its own configuration so adding it later does not
    replace the bucket; ``force_destroy`` off; Pulumi-protected when ``protect``. Grants
    express intent (:meth:`read_statements`, :meth:`write_statements`, :meth:`admin_statements`) and include use
    of the bucket's key.
    """

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]

    def __init__(self, name: str, args: S3BucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:aws:S3Bucket", name, None, opts)
        self._key = args.key
        region = args.region
        child = pulumi.ResourceOptions(parent=self)
        locked = args.retention_days is not None
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=args.bucket_name,
            region=region,
            force_destroy=args.force_destroy,
            # No object_lock_enabled here: it forces a new bucket when it changes. Object lock is switched on by
            # the BucketObjectLockConfiguration below, which S3 accepts on existing (versioned) buckets too.
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        self.bucket = bucket
        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.physical_name = args.bucket_name
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption", bucket=bucket.bucket, region=region,
            rules=[{
                "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms",
                                                            "kms_master_key_id": args.key.arn},
                "bucket_key_enabled": True,
                "blocked_encryption_types": ["SSE-C"],
            }],
            opts=child,
        )
        public_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block", bucket=bucket.bucket, region=region, block_public_acls=True,
            block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True, opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership", bucket=bucket.bucket, region=region,
            rule={"object_ownership": "BucketOwnerEnforced"}, opts=child,
        )
        objects = pulumi.Output.concat(bucket.arn, "/*")
        self.policy = aws.s3.BucketPolicy(
            f"{name}-policy", bucket=bucket.bucket, region=region,
            policy=permissions.document([
                permissions.secure_transport_deny("s3:*", [bucket.arn, objects]),
                {"Sid": "DenyTlsBelow12", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                 "Resource": [bucket.arn, objects], "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}}},
                *upload_encryption_denies(objects, args.key.arn),
            ]),
            # Saved after the public access block, so the bucket is never briefly governed by a policy alone.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_block]),
        )
        versioning: aws.s3.BucketVersioning | None = None
        if args.versioning:
            versioning = aws.s3.BucketVersioning(
                f"{name}-versioning", bucket=bucket.bucket, region=region,
                versioning_configuration={"status": "Enabled"}, opts=child,
            )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle", bucket=bucket.bucket, region=region,
            rules=lifecycle_rules(args.lifecycle, args.abort_incomplete_multipart_days),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning] if versioning else None),
        )
        if locked:
            # Enabling object lock on an existing bucket needs versioning on first, hence the dependency.
            aws.s3.BucketObjectLockConfiguration(
                f"{name}-object-lock", bucket=bucket.bucket, region=region, object_lock_enabled="Enabled",
                rule={"default_retention": {"mode": "COMPLIANCE" if args.lock_retention else "GOVERNANCE",
                                            "days": args.retention_days}},
                opts=pulumi.ResourceOptions(parent=self, protect=args.protect,
                                            depends_on=[versioning] if versioning else None),
            )
        if args.notifications:
            waits: list[Any] = []
            for note in args.notifications:
                extra = note.waits_for
                waits += list(extra) if isinstance(extra, (list, tuple)) else ([extra] if extra is not None else [])
            # One notification configuration per bucket: S3 keeps a single document, so every topic goes in one.
            aws.s3.BucketNotification(
                f"{name}-notifications", bucket=bucket.bucket, region=region,
                topics=[{"id": f"{note.topic_name}-{i}", "topic_arn": note.topic_arn,
                         "events": [e for event in note.events for e in EVENT_TYPES[event]],
                         "filter_prefix": note.prefix}
                        for i, note in enumerate(args.notifications)],
                opts=pulumi.ResourceOptions(parent=self, depends_on=waits or None),
            )
        self.register_outputs({"bucket_name": self.bucket_name, "bucket_arn": self.bucket_arn})

    @property
    def static_arn(self) -> str:
        """The bucket ARN as a plain string, known before the bucket exists (for policies that name it)."""
        return names.bucket_arn(self.physical_name)

    def read_statements(self, prefix: str | None = None) -> list[permissions.Statement]:
        """IAM statements to list and read objects (under ``prefix`` if given) and decrypt with the bucket's key."""
        return [*permissions.s3_statements(self.bucket_arn, "read", prefix), self._key.statement("read")]

    def write_statements(self, prefix: str | None = None) -> list[permissions.Statement]:
        """Read, create, overwrite and delete objects; decrypt and generate data keys with the bucket's key."""
        return [*permissions.s3_statements(self.bucket_arn, "write", prefix), self._key.statement("write")]

    def admin_statements(self, prefix: str | None = None) -> list[permissions.Statement]:
        """Write, plus restore, retention and legal hold, and reading the bucket's configuration.

        Never the bucket policy, public access block, encryption or ownership: those stay owned by the stack.
        """
        return [*permissions.s3_statements(self.bucket_arn, "admin", prefix), self._key.statement("admin")]
