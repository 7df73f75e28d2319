"""What each on-prem team identity may do inside the data services, in one place, keyed by intent.

On-prem a team's identity is an X.509 client certificate from the platform CA whose subject is
``CN=team-<team>`` (:func:`identity`). The three data services map that certificate to least-privilege
grants built here from ``iam.teams[].buckets/topics/datasets``:

- **MinIO**: one IAM policy per team, named like the identity (MinIO's certificate STS,
  ``AssumeRoleWithCertificate``, takes the policy name from the certificate's CN):
  :func:`object_store_policy`.
- **NATS**: one user per identity (``verify_and_map`` matches the certificate subject), allowed to publish
  and subscribe only on the subjects of its topics and the JetStream API subjects of its consumers:
  :func:`topic_publish_subjects`.
- **PostgreSQL**: one login role per team and access level, reachable with the certificate only on the
  databases granted at that level (``pg_hba`` + ``pg_ident``), member of the predefined roles that level
  needs: :func:`dataset_role` and :data:`PG_MEMBERSHIPS`.

Pure data and functions, no Pulumi import: the components render these into their resources and the tests
assert on them directly. Every grant names its resources; nothing here grants a wildcard over all buckets,
all streams or all databases.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal

Access = Literal["read", "write", "admin"]
TopicAccess = Literal["publish", "subscribe", "admin"]

# Identities of the platform's own clients of NATS (they can never collide with a team: team CNs start "team-").
NACK_IDENTITY: Final = "platform-nack"
MINIO_NOTIFY_IDENTITY: Final = "platform-minio-notify"
# Reply subjects of clients that cannot choose their inbox prefix (the platform's controller and MinIO).
DEFAULT_INBOX: Final = "_INBOX"


def identity(team: str) -> str:
    """The team's identity: the CN of its client certificate, its MinIO policy and its NATS user."""
    return f"team-{team}"


def inbox(identity_name: str) -> str:
    """The reply-subject prefix a team's NATS clients set (nats.go ``CustomInboxPrefix``, nats.py
    ``inbox_prefix``), so a team can only receive replies addressed to itself."""
    return f"{DEFAULT_INBOX}.{identity_name}"


def nats_user(identity_name: str) -> str:
    """The NATS user a certificate with subject ``CN=<identity>`` maps to (RFC 2253 form of the subject)."""
    return f"CN={identity_name}"


# ----- MinIO: bucket-level actions on arn:aws:s3:::<bucket>, object-level ones on arn:aws:s3:::<bucket>/* -----
S3_BUCKET_READ: Final[tuple[str, ...]] = ("s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketLocation")
S3_OBJECT_READ: Final[tuple[str, ...]] = (
    "s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging",
    "s3:GetObjectAttributes",
)
S3_BUCKET_WRITE: Final[tuple[str, ...]] = ("s3:ListBucketMultipartUploads",)
S3_OBJECT_WRITE: Final[tuple[str, ...]] = (
    "s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:DeleteObjectTagging",
    "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
)
# Admin manages the data (retention, legal hold, restore) and reads the bucket's configuration; the
# configuration itself (versioning, lifecycle, notifications, encryption, policy) stays owned by the IaC.
S3_BUCKET_ADMIN: Final[tuple[str, ...]] = (
    "s3:GetBucketVersioning", "s3:GetLifecycleConfiguration", "s3:GetBucketNotification",
    "s3:GetEncryptionConfiguration", "s3:GetBucketObjectLockConfiguration", "s3:GetBucketTagging",
)
S3_OBJECT_ADMIN: Final[tuple[str, ...]] = (
    "s3:RestoreObject", "s3:GetObjectRetention", "s3:PutObjectRetention", "s3:GetObjectLegalHold",
    "s3:PutObjectLegalHold",
)
S3_LEVELS: Final[dict[str, tuple[str, ...]]] = {"read": ("read",), "write": ("read", "write"),
                                                "admin": ("read", "write", "admin")}
_S3_ACTIONS: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "read": (S3_BUCKET_READ, S3_OBJECT_READ), "write": (S3_BUCKET_WRITE, S3_OBJECT_WRITE),
    "admin": (S3_BUCKET_ADMIN, S3_OBJECT_ADMIN),
}


def bucket_statements(bucket: str, access: Access) -> list[dict[str, Any]]:
    """The two ``Allow`` statements for ``access`` on one bucket: bucket actions on the bucket, object actions
    on its objects. read: list and get; write: read + put, delete, multipart; admin: write + retention, legal
    hold, restore and reading the bucket's configuration."""
    bucket_actions = sorted({a for level in S3_LEVELS[access] for a in _S3_ACTIONS[level][0]})
    object_actions = sorted({a for level in S3_LEVELS[access] for a in _S3_ACTIONS[level][1]})
    return [{"Effect": "Allow", "Action": bucket_actions, "Resource": [f"arn:aws:s3:::{bucket}"]},
            {"Effect": "Allow", "Action": object_actions, "Resource": [f"arn:aws:s3:::{bucket}/*"]}]


def object_store_policy(buckets: Mapping[str, Access]) -> dict[str, Any]:
    """A team's MinIO policy document: exactly the granted buckets at exactly the granted levels."""
    if not buckets:
        raise ValueError("a team policy needs at least one bucket grant")
    return {"Version": "2012-10-17",
            "Statement": [s for bucket in sorted(buckets) for s in bucket_statements(bucket, buckets[bucket])]}


# ----- NATS JetStream: API subjects are $JS.API.<resource>.<verb>.<stream>[.<consumer>] -----
def _api(*tokens: str) -> str:
    return ".".join(("$JS.API", *tokens))


def topic_publish_subjects(topic: str, access: TopicAccess, consumers: Iterable[str],
                           dead_letter_stream: str | None) -> list[str]:
    """Subjects a grant on ``topic`` allows its holder to publish to (replies arrive on its own inbox).

    publish: the topic's subjects (``<topic>``, ``<topic>.>``). subscribe: for each of the topic's durable
    consumers, its info, pulling the next messages and acknowledging them; with a dead-letter stream, reading
    it and reading messages back from the topic's stream by sequence. admin: both, plus stream info, purge
    and message delete, and listing consumers. Creating, changing or deleting streams and consumers stays
    with the IaC (the NACK controller)."""
    subjects: list[str] = []
    if access in ("publish", "admin"):
        subjects += [topic, f"{topic}.>"]
    if access in ("subscribe", "admin"):
        for consumer in consumers:
            subjects += [_api("CONSUMER", "INFO", topic, consumer), _api("CONSUMER", "MSG", "NEXT", topic, consumer),
                         f"$JS.ACK.{topic}.{consumer}.>"]
        if dead_letter_stream:
            subjects += [_api("STREAM", "MSG", "GET", topic), _api("STREAM", "INFO", dead_letter_stream),
                         _api("STREAM", "MSG", "GET", dead_letter_stream)]
    if access == "admin":
        subjects += [_api("STREAM", "INFO", topic), _api("STREAM", "PURGE", topic),
                     _api("STREAM", "MSG", "DELETE", topic), _api("CONSUMER", "LIST", topic),
                     _api("CONSUMER", "NAMES", topic), _api("CONSUMER", "INFO", topic, "*")]
        if dead_letter_stream:
            subjects.append(_api("STREAM", "PURGE", dead_letter_stream))
    return subjects


def nats_permissions(publish: Iterable[str], inbox_prefix: str) -> dict[str, Any]:
    """A NATS user's ``permissions`` block: publish only to ``publish``, subscribe only to its inbox. An empty
    allow list is written as ``deny: [">"]`` so it can never be read as "no restriction"."""
    allowed = sorted(set(publish))
    return {"publish": {"allow": allowed} if allowed else {"deny": [">"]},
            "subscribe": {"allow": [f"{inbox_prefix}.>"]}}


# Platform clients: the controller manages streams and consumers through the JetStream API only.
NACK_PUBLISH: Final[tuple[str, ...]] = ("$JS.API.>",)

# ----- PostgreSQL: predefined roles (PostgreSQL 14+) each access level is a member of -----
PG_READ: Final = "pg_read_all_data"
PG_WRITE: Final = "pg_write_all_data"
PG_MEMBERSHIPS: Final[dict[str, tuple[str, ...]]] = {
    "read": (PG_READ,), "write": (PG_READ, PG_WRITE), "admin": (PG_READ, PG_WRITE),
}
# The pg_ident map that lets a team certificate (system user = its CN) log in as the team's roles.
PG_IDENT_MAP: Final = "mlinfra-teams"


def dataset_role(identity_name: str, access: Access) -> str:
    """The login role of ``identity_name`` at ``access`` (``team_vision_read``); '-' becomes '_'."""
    return f"{identity_name.replace('-', '_')}_{access}"


def owner_role(database: str) -> str:
    """The no-login role that owns a dataset's database; ``admin`` grants are memberships in it."""
    return f"owner_{database}"


def dataset_memberships(access: Access, database: str) -> list[str]:
    """Roles a role at ``access`` on ``database`` is a member of: read → pg_read_all_data; write → also
    pg_write_all_data; admin → also the database's owner role (DDL). Predefined roles span every database:
    pg_hba limits each role to the databases granted at its level, which makes them per dataset."""
    return [*PG_MEMBERSHIPS[access], *([owner_role(database)] if access == "admin" else [])]
