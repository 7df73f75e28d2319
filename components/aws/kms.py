"""Customer-managed KMS keys: one rotating key per purpose, each with a key policy naming who may use it.

Every key policy lets the account root administer the key, which delegates use to the account's IAM
policies (so a team role's policy, built from grant helpers, can grant decrypt on exactly the keys of the
resources it uses). Beyond that, a policy names only the AWS service principals that must use the key
without a caller's credentials: CloudWatch Logs for the logs key, S3 and SNS for the events key, and the
EC2 Auto Scaling service-linked role for the disks key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

import pulumi
import pulumi_aws as aws
from pydantic import BaseModel, ConfigDict, Field

from mlinfra.components.aws import names, permissions
from mlinfra.components.base import Component

Purpose = Literal["storage", "events", "warehouse", "eks-secrets", "disks", "logs"]
PURPOSES: Final[tuple[Purpose, ...]] = ("storage", "events", "warehouse", "eks-secrets", "disks", "logs")

_DESCRIPTIONS: Final[dict[str, str]] = {
    "storage": "S3 buckets (SSE-KMS)",
    "events": "SNS topics and SQS queues",
    "warehouse": "Athena results, warehouse data and the Glue Data Catalog",
    "eks-secrets": "EKS Kubernetes secrets envelope encryption",
    "disks": "EBS volumes of EKS nodes",
    "logs": "CloudWatch log groups and the Managed Prometheus workspace",
}


@dataclass(frozen=True)
class AwsKmsKey:
    """One key, as the data components need it: its ARN and the region it lives in."""

    purpose: str
    region: str
    account_id: str
    arn: pulumi.Output[str]
    key_id: pulumi.Output[str]
    alias: str

    def statement(self, access: permissions.Access) -> permissions.Statement:
        """An IAM statement letting a principal use this key for ``access`` (read → decrypt only)."""
        return permissions.kms_statement(self.arn, access)


class AwsKmsArgs(BaseModel):
    """Inputs of :class:`AwsKms`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    env: str = Field(description="Environment name; aliases are 'alias/{env}-{purpose}'. Required.")
    account_id: str = Field(pattern=r"^\d{12}$", description="AWS account id (12 digits) the keys live in. Required.")
    region: str = Field(min_length=1, description="Region of the keys (set on each key). Required.")
    purposes: tuple[Purpose, ...] = Field(
        default=PURPOSES,
        description="One key per purpose. Default: storage, events, warehouse, eks-secrets, disks, logs.",
    )
    rotation_period_days: int = Field(
        default=90, ge=90, le=2560,
        description="Automatic rotation period in days (AWS allows 90-2560). Default: 90. Rotation is always on.",
    )
    deletion_window_days: int = Field(
        default=30, ge=7, le=30,
        description="Days a key scheduled for deletion stays recoverable (7-30). Default: 30, the maximum.",
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags on every key. Default: none.")
    protect: bool = Field(default=False, description="Pulumi-protect the keys (prod). Default: off.")


def key_policy(purpose: str, account_id: str, region: str) -> dict[str, Any]:
    """The key policy of a purpose key: root administers, plus exactly the service principals that need it."""
    statements: list[dict[str, Any]] = [{
        "Sid": "AccountAdministersAndDelegatesToIam",
        "Effect": "Allow",
        "Principal": {"AWS": names.account_root_arn(account_id)},
        "Action": "kms:*",
        "Resource": "*",  # in a key policy '*' means this key
    }]
    if purpose == "logs":
        statements.append({
            "Sid": "CloudWatchLogsEncryptsThisAccountsLogGroups",
            "Effect": "Allow",
            "Principal": {"Service": f"logs.{region}.amazonaws.com"},
            "Action": list(permissions.KMS_SERVICE_USE),
            "Resource": "*",
            "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": names.log_groups_arn(region, account_id)}},
        })
    elif purpose == "events":
        # S3 publishes to the encrypted topic; SNS delivers to the encrypted queues. Both only for this account.
        statements.append({
            "Sid": "S3AndSnsPublishToEncryptedTopicsAndQueues",
            "Effect": "Allow",
            "Principal": {"Service": ["s3.amazonaws.com", "sns.amazonaws.com"]},
            "Action": list(permissions.KMS_SERVICE_PUBLISH),
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        })
    elif purpose == "disks":
        # EKS managed node groups launch through EC2 Auto Scaling, whose service-linked role encrypts the volumes.
        role = names.autoscaling_service_linked_role_arn(account_id)
        statements += [
            {"Sid": "AutoScalingUsesKeyForNodeVolumes", "Effect": "Allow", "Principal": {"AWS": role},
             "Action": list(permissions.KMS_SERVICE_USE), "Resource": "*"},
            {"Sid": "AutoScalingAttachesGrantsForAwsResources", "Effect": "Allow", "Principal": {"AWS": role},
             "Action": "kms:CreateGrant", "Resource": "*",
             "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
        ]
    return {"Version": "2012-10-17", "Statement": statements}


class AwsKms(Component):
    """One symmetric customer-managed key per purpose, rotated automatically, with a least-use key policy.

    Secure defaults: rotation always on (``rotation_period_days``, 90 by default); deletion waits the
    maximum 30 days; each key has an alias ``alias/{env}-{purpose}``; key policies name the account root
    (administration, delegated to IAM) and only the service principals that must use that key (logs: CloudWatch
    Logs for this account's log groups; events: S3 and SNS, for this account only; disks: the Auto Scaling
    service-linked role, which must exist — it does once the account has used Auto Scaling or EKS node groups);
    Pulumi-protected when ``protect``. Keys are single-region: multi-region keys replicate key material to other
    regions, which residency must allow for every region, and are not offered in this version.
    """

    key_arns: dict[str, pulumi.Output[str]]
    key_ids: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: AwsKmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:aws:AwsKms", name, None, opts)
        self.name = name
        self.region = args.region
        self._keys: dict[str, AwsKmsKey] = {}
        for purpose in args.purposes:
            key = aws.kms.Key(
                f"{name}-{purpose}",
                description=f"mlinfra {args.env}: {_DESCRIPTIONS[purpose]}",
                key_usage="ENCRYPT_DECRYPT",
                customer_master_key_spec="SYMMETRIC_DEFAULT",
                enable_key_rotation=True,
                rotation_period_in_days=args.rotation_period_days,
                deletion_window_in_days=args.deletion_window_days,
                multi_region=False,
                bypass_policy_lockout_safety_check=False,
                policy=pulumi.Output.json_dumps(key_policy(purpose, args.account_id, args.region)),
                region=args.region,
                tags={**args.tags, "mlinfra-purpose": purpose, "mlinfra-env": args.env},
                opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
            )
            alias = names.kms_alias(args.env, purpose)
            aws.kms.Alias(f"{name}-{purpose}-alias", name=alias, target_key_id=key.key_id, region=args.region,
                          opts=pulumi.ResourceOptions(parent=self))
            self._keys[purpose] = AwsKmsKey(purpose=purpose, region=args.region, account_id=args.account_id,
                                            arn=key.arn, key_id=key.key_id, alias=alias)
        self.key_arns = {p: k.arn for p, k in self._keys.items()}
        self.key_ids = {p: k.key_id for p, k in self._keys.items()}
        self.register_outputs({f"key_arn_{p.replace('-', '_')}": a for p, a in self.key_arns.items()})

    def key(self, purpose: Purpose) -> AwsKmsKey:
        """The key for ``purpose`` (KeyError naming the purposes this component holds)."""
        if purpose not in self._keys:
            raise KeyError(f"no {purpose!r} key in {self.name}; it holds {', '.join(self._keys)}")
        return self._keys[purpose]

    def key_arn(self, purpose: Purpose) -> pulumi.Output[str]:
        """The ARN of the key for ``purpose``."""
        return self.key(purpose).arn
