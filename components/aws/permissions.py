"""Every IAM action the AWS components grant, in one place, keyed by the intent that needs it.

Grant helpers (``S3Bucket.read_statements`` and friends) return IAM policy *statements* built here;
the IAM component puts them into each team's role policy. Statements are plain dicts in IAM JSON shape
(``Effect``, ``Action``, ``Resource``, optional ``Condition``) whose values may be ``pulumi.Output``;
serialise them with ``pulumi.Output.json_dumps``. Data actions are always scoped to named resources:
no builder here ever emits ``"Resource": "*"``.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import pulumi

Access = Literal["read", "write", "admin"]
TopicAccess = Literal["publish", "subscribe", "admin"]
Statement = dict[str, Any]

# ----- S3: bucket-level actions apply to the bucket ARN, object-level ones to "{bucket ARN}/{prefix}*". -----
S3_BUCKET_READ: Final[tuple[str, ...]] = ("s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketLocation")
S3_OBJECT_READ: Final[tuple[str, ...]] = (
    "s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging",
    "s3:GetObjectAttributes",
)
S3_BUCKET_WRITE: Final[tuple[str, ...]] = ("s3:ListBucketMultipartUploads",)
S3_OBJECT_WRITE: Final[tuple[str, ...]] = (
    "s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObject", "s3:DeleteObjectVersion",
    "s3:DeleteObjectTagging", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
)
# Admin manages the *data* (restore, retention, legal hold, bucket settings it may read), never the bucket's
# security configuration: policy, public access block, encryption and ownership stay owned by the IaC.
S3_BUCKET_ADMIN: Final[tuple[str, ...]] = (
    "s3:GetBucketVersioning", "s3:GetLifecycleConfiguration", "s3:GetBucketNotification",
    "s3:GetEncryptionConfiguration", "s3:GetBucketObjectLockConfiguration", "s3:GetBucketTagging",
)
S3_OBJECT_ADMIN: Final[tuple[str, ...]] = (
    "s3:RestoreObject", "s3:GetObjectRetention", "s3:PutObjectRetention", "s3:GetObjectLegalHold",
    "s3:PutObjectLegalHold",
)

# ----- KMS: read needs decrypt; write also generates data keys (S3, SNS, SQS envelope encryption). -----
KMS_DECRYPT: Final[tuple[str, ...]] = ("kms:Decrypt", "kms:DescribeKey")
KMS_ENCRYPT_DECRYPT: Final[tuple[str, ...]] = (
    "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext",
)
KMS_BY_ACCESS: Final[dict[str, tuple[str, ...]]] = {
    "read": KMS_DECRYPT, "write": KMS_ENCRYPT_DECRYPT, "admin": KMS_ENCRYPT_DECRYPT,
}
# What AWS services need on a key to encrypt for a caller (key policies of the events, logs and disks keys).
KMS_SERVICE_USE: Final[tuple[str, ...]] = (
    "kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey",
)
KMS_SERVICE_PUBLISH: Final[tuple[str, ...]] = ("kms:GenerateDataKey*", "kms:Decrypt")

# ----- Events: SNS publish; SQS consume (receive, delete, extend visibility). -----
SNS_PUBLISH: Final[tuple[str, ...]] = ("sns:Publish",)
SNS_ADMIN: Final[tuple[str, ...]] = ("sns:GetTopicAttributes", "sns:ListSubscriptionsByTopic")
SQS_CONSUME: Final[tuple[str, ...]] = (
    "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
)
SQS_ADMIN: Final[tuple[str, ...]] = (
    "sqs:PurgeQueue", "sqs:StartMessageMoveTask", "sqs:ListMessageMoveTasks", "sqs:CancelMessageMoveTask",
    "sqs:ListDeadLetterSourceQueues",
)
# A redrive (StartMessageMoveTask on the dead-letter queue) runs as the caller: it receives, deletes and reads
# attributes on the dead-letter queue (SQS_CONSUME there) and sends to the queue the messages go back to.
SQS_REDRIVE_DESTINATION: Final[tuple[str, ...]] = ("sqs:SendMessage",)

# ----- Warehouse: Athena queries on one workgroup; Glue catalog on one database. -----
ATHENA_QUERY: Final[tuple[str, ...]] = (
    "athena:StartQueryExecution", "athena:StopQueryExecution", "athena:GetQueryExecution",
    "athena:GetQueryResults", "athena:GetQueryResultsStream", "athena:GetQueryRuntimeStatistics",
    "athena:BatchGetQueryExecution", "athena:ListQueryExecutions", "athena:GetWorkGroup",
)
GLUE_READ: Final[tuple[str, ...]] = (
    "glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables", "glue:GetTableVersion",
    "glue:GetTableVersions", "glue:GetPartition", "glue:GetPartitions", "glue:BatchGetPartition",
)
GLUE_WRITE: Final[tuple[str, ...]] = (
    "glue:CreateTable", "glue:UpdateTable", "glue:DeleteTable", "glue:BatchDeleteTable",
    "glue:CreatePartition", "glue:UpdatePartition", "glue:DeletePartition", "glue:BatchCreatePartition",
    "glue:BatchUpdatePartition", "glue:BatchDeletePartition",
)
GLUE_ADMIN: Final[tuple[str, ...]] = ("glue:UpdateDatabase", "glue:DeleteTableVersion", "glue:BatchDeleteTableVersion")


# ----- statement builders ---------------------------------------------------------------------------------
def allow(actions: tuple[str, ...] | list[str], resources: list[Any], condition: dict[str, Any] | None = None,
          sid: str | None = None) -> Statement:
    """One ``Allow`` statement on named resources (refuses an empty list or a bare ``"*"``)."""
    if not resources or any(r == "*" for r in resources):
        raise ValueError("grant statements must name their resources; '*' is never granted for data actions")
    statement: Statement = {"Effect": "Allow", "Action": sorted(set(actions)), "Resource": list(resources)}
    if sid:
        statement = {"Sid": sid, **statement}
    if condition:
        statement["Condition"] = condition
    return statement


def _objects(bucket_arn: pulumi.Input[str], prefix: str | None) -> pulumi.Output[str]:
    return pulumi.Output.concat(bucket_arn, "/", prefix or "", "*")


def s3_statements(bucket_arn: pulumi.Input[str], access: Access, prefix: str | None = None) -> list[Statement]:
    """S3 statements for ``access`` on one bucket, or only on keys under ``prefix`` (listing included).

    read: list and get; write: read + put, delete, multipart; admin: write + restore, retention, legal hold
    and reading the bucket's configuration. Never the bucket policy, encryption or public access settings.
    """
    bucket_actions = list(S3_BUCKET_READ)
    object_actions = list(S3_OBJECT_READ)
    if access in ("write", "admin"):
        bucket_actions += S3_BUCKET_WRITE
        object_actions += S3_OBJECT_WRITE
    if access == "admin":
        bucket_actions += S3_BUCKET_ADMIN
        object_actions += S3_OBJECT_ADMIN
    if prefix:
        # Listing limited to the prefix; GetBucketLocation has no prefix and is harmless on its own.
        list_only = [a for a in bucket_actions if a.startswith("s3:List")]
        rest = [a for a in bucket_actions if not a.startswith("s3:List")]
        bucket_statements = [allow(list_only, [bucket_arn], {"StringLike": {"s3:prefix": [prefix, f"{prefix}*"]}})]
        if rest:
            bucket_statements.append(allow(rest, [bucket_arn]))
    else:
        bucket_statements = [allow(bucket_actions, [bucket_arn])]
    return [*bucket_statements, allow(object_actions, [_objects(bucket_arn, prefix)])]


def kms_statement(key_arn: pulumi.Input[str], access: Access) -> Statement:
    """Use of one key: read decrypts only; write and admin also encrypt and generate data keys."""
    return allow(KMS_BY_ACCESS[access], [key_arn])


def kms_publish_statement(key_arn: pulumi.Input[str]) -> Statement:
    """What a publisher to an encrypted SNS topic needs on the topic's key (the data key SNS wraps)."""
    return allow(("kms:GenerateDataKey", "kms:Decrypt"), [key_arn])


def secure_transport_deny(action: str | list[str], resources: list[Any]) -> Statement:
    """A resource-policy ``Deny`` of every request not sent over TLS (``aws:SecureTransport`` false)."""
    return {
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": action,
        "Resource": resources, "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def document(statements: list[Statement]) -> pulumi.Output[str]:
    """A policy document (``Version`` 2012-10-17) as a JSON ``Output``; Outputs inside are resolved."""
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": statements})
