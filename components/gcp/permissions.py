"""Every IAM role the GCP components grant, in one place, keyed by the intent that needs it.

Grant helpers (``GcsBucket.grant_read`` and friends) look roles up here so the mapping from intent to
role can be reviewed, and tightened, without reading component code.
"""

from __future__ import annotations

from typing import Final, Literal

Access = Literal["read", "write", "admin"]
TopicAccess = Literal["publish", "subscribe", "admin"]

# Object storage: roles on one bucket.
BUCKET_ROLES: Final[dict[str, str]] = {
    "read": "roles/storage.objectViewer",
    "write": "roles/storage.objectUser",
    "admin": "roles/storage.admin",
}

# Warehouse: roles on one dataset.
DATASET_ROLES: Final[dict[str, str]] = {
    "read": "roles/bigquery.dataViewer",
    "write": "roles/bigquery.dataEditor",
    "admin": "roles/bigquery.dataOwner",
}

# Event bus: publish on the topic; subscribe on each subscription plus view on the topic.
TOPIC_PUBLISH: Final[str] = "roles/pubsub.publisher"
SUBSCRIPTION_SUBSCRIBE: Final[str] = "roles/pubsub.subscriber"
TOPIC_VIEW: Final[str] = "roles/pubsub.viewer"
TOPIC_ADMIN: Final[str] = "roles/pubsub.editor"

# Keys: a grant on a CMEK resource includes use of its key (read needs decrypt only).
KEY_USE: Final[str] = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
KEY_ROLES: Final[dict[str, str]] = {
    "read": "roles/cloudkms.cryptoKeyDecrypter",
    "write": KEY_USE,
    "admin": KEY_USE,
}

# The dedicated GKE node service account: write logs and metrics, pull images, nothing else.
NODE_SA_ROLES: Final[tuple[str, ...]] = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/autoscaling.metricsWriter",
    "roles/artifactregistry.reader",
)

# Kubernetes workloads act as a Google service account through this role on it.
WORKLOAD_IDENTITY_USER: Final[str] = "roles/iam.workloadIdentityUser"

# Humans of a team may list clusters and fetch credentials; what they may do inside is Kubernetes RBAC.
TEAM_MEMBER_PROJECT_ROLES: Final[tuple[str, ...]] = ("roles/container.clusterViewer",)

# Cluster administrators (config iam.admins): full control inside the project's GKE clusters, nothing else.
CLUSTER_ADMIN_PROJECT_ROLE: Final[str] = "roles/container.clusterAdmin"

# Running a query is a project-level job; the data it may read still comes only from dataset grants.
QUERY_JOBS_PROJECT_ROLE: Final[str] = "roles/bigquery.jobUser"

# Principals a grant helper refuses: nothing is ever made public.
PUBLIC_MEMBERS: Final[frozenset[str]] = frozenset({"allUsers", "allAuthenticatedUsers"})


def check_member(member: object) -> None:
    """Refuse public principals (plain strings only; Outputs come from our own service accounts)."""
    if isinstance(member, str) and member in PUBLIC_MEMBERS:
        raise ValueError(f"refusing to grant access to {member!r}: mlinfra never makes data public")
