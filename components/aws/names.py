"""Physical names and ARNs within AWS's length and character limits, shortened deterministically when needed.

Every function is pure: the same inputs always give the same name, so a plan is reproducible and a
renamed environment is a visible diff, never a surprise. Too-long names keep a readable head and end in a
6-hex-digit hash of the whole name, so two long names that share a head still differ.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

PARTITION: Final[str] = "aws"
"""ARN partition. Only the commercial partition is supported in this version (not aws-cn / aws-us-gov)."""

S3_BUCKET_MAX: Final[int] = 63
SNS_TOPIC_MAX: Final[int] = 256
SQS_QUEUE_MAX: Final[int] = 80
IAM_NAME_MAX: Final[int] = 64
GLUE_DATABASE_MAX: Final[int] = 255
ATHENA_WORKGROUP_MAX: Final[int] = 128


def _digest(text: str, n: int = 6) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def fit(name: str, limit: int, sep: str = "-") -> str:
    """``name`` if it fits in ``limit`` characters, else a prefix, ``sep`` and a stable 6-character hash."""
    if len(name) <= limit:
        return name
    head = name[: limit - 7].rstrip("-_.")
    return f"{head}{sep}{_digest(name)}"


def bucket_name(env: str, bucket: str, account_id: str, region: str) -> str:
    """A globally unique S3 bucket name ``{env}-{bucket}-{account_id}-{region}``, at most 63 characters.

    Lowercase letters, digits and '-' only (no '.', which breaks virtual-hosted TLS); the account and region
    make it unique across accounts and regions. Too long: the ``{env}-{bucket}`` head is cut and followed by a
    6-hex-digit hash of the whole name; the ``-{account_id}-{region}`` tail is always kept.
    """
    head = re.sub(r"[^a-z0-9-]+", "-", f"{env}-{bucket}".lower()).strip("-")
    tail = f"-{account_id}-{region}".lower()
    if len(head) + len(tail) <= S3_BUCKET_MAX:
        return head + tail
    # The account-region tail stays whole (it is what makes the name unique); the head is cut and hashed.
    keep = S3_BUCKET_MAX - len(tail) - 7
    return f"{head[:keep].rstrip('-')}-{_digest(head + tail)}{tail}"


def _safe(raw: str, allowed: str) -> str:
    return re.sub(f"[^{allowed}]+", "-", raw).strip("-")


def topic_name(env: str, topic: str) -> str:
    """An SNS topic name ``{env}-{topic}`` (letters, digits, '-', '_'; at most 256)."""
    return fit(_safe(f"{env}-{topic}", "A-Za-z0-9_-"), SNS_TOPIC_MAX)


def queue_name(env: str, topic: str, subscription: str, suffix: str = "") -> str:
    """An SQS queue name ``{env}-{topic}-{subscription}{suffix}``, at most 80 characters.

    ``suffix`` (e.g. ``-dlq``) is kept intact when shortening, so a dead-letter queue stays recognisable.
    """
    raw = _safe(f"{env}-{topic}-{subscription}", "A-Za-z0-9_-")
    return fit(raw, SQS_QUEUE_MAX - len(suffix)) + suffix


def iam_name(*parts: str) -> str:
    """An IAM role or policy name from parts joined by '-', at most 64 characters."""
    return fit(_safe("-".join(parts), r"\w+=,.@-"), IAM_NAME_MAX)


def glue_database_name(env: str, dataset: str) -> str:
    """A Glue/Athena database name ``{env}_{dataset}``: lowercase letters, digits and '_' only."""
    raw = re.sub(r"[^a-z0-9_]+", "_", f"{env}_{dataset}".lower()).strip("_")
    return fit(raw, GLUE_DATABASE_MAX, sep="_")


def workgroup_name(env: str) -> str:
    """The Athena workgroup of an environment: ``{env}`` (letters, digits, '.', '_', '-')."""
    return fit(_safe(env, "A-Za-z0-9._-"), ATHENA_WORKGROUP_MAX)


def kms_alias(env: str, purpose: str) -> str:
    """The KMS alias of a purpose key: ``alias/{env}-{purpose}`` (never ``alias/aws/...``, which AWS reserves)."""
    return f"alias/{_safe(f'{env}-{purpose}', 'A-Za-z0-9/_-')}"


def platform_log_group(env: str) -> str:
    """The CloudWatch log group for application and platform logs: ``/mlinfra/{env}/platform``."""
    return f"/mlinfra/{env}/platform"


# ----- ARNs that are known before anything exists (used in policies without waiting for resources) -------
def bucket_arn(bucket: str) -> str:
    """``arn:aws:s3:::{bucket}`` (bucket ARNs carry neither region nor account)."""
    return f"arn:{PARTITION}:s3:::{bucket}"


def account_root_arn(account_id: str) -> str:
    """The account principal ``arn:aws:iam::{account}:root`` (delegates to the account's IAM policies)."""
    return f"arn:{PARTITION}:iam::{account_id}:root"


def glue_catalog_arn(region: str, account_id: str) -> str:
    """The account's Glue Data Catalog in ``region``."""
    return f"arn:{PARTITION}:glue:{region}:{account_id}:catalog"


def glue_database_arn(region: str, account_id: str, database: str) -> str:
    """One Glue database."""
    return f"arn:{PARTITION}:glue:{region}:{account_id}:database/{database}"


def glue_tables_arn(region: str, account_id: str, database: str) -> str:
    """Every table of one Glue database."""
    return f"arn:{PARTITION}:glue:{region}:{account_id}:table/{database}/*"


def log_groups_arn(region: str, account_id: str) -> str:
    """Every CloudWatch log group of the account in ``region`` (the logs key's encryption-context scope)."""
    return f"arn:{PARTITION}:logs:{region}:{account_id}:log-group:*"


def autoscaling_service_linked_role_arn(account_id: str) -> str:
    """The EC2 Auto Scaling service-linked role, which launches (and so encrypts the disks of) EKS nodes."""
    return (f"arn:{PARTITION}:iam::{account_id}:role/aws-service-role/autoscaling.amazonaws.com/"
            "AWSServiceRoleForAutoScaling")
