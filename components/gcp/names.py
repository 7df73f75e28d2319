"""Physical names within GCP's length and character limits, shortened deterministically when needed."""

from __future__ import annotations

import hashlib
import re


def _digest(text: str, n: int = 6) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def fit(name: str, limit: int) -> str:
    """``name`` if it fits in ``limit`` characters, else a prefix plus a stable 6-character hash."""
    if len(name) <= limit:
        return name
    head = name[: limit - 7].rstrip("-_")
    return f"{head}-{_digest(name)}"


def bucket_name(project: str, env: str, bucket: str) -> str:
    """A globally unique GCS bucket name ``{project}-{env}-{bucket}``, at most 63 characters."""
    return fit(f"{project}-{env}-{bucket}", 63)


def dataset_id(env: str, dataset: str) -> str:
    """A BigQuery dataset id: letters, digits and underscores only."""
    return fit(f"{env}_{dataset}".replace("-", "_"), 1024)


def account_id(*parts: str) -> str:
    """A service account id (6-30 characters, ``[a-z][-a-z0-9]{4,28}[a-z0-9]``) from name parts.

    Too long: the first 23 characters, ``-`` and a 6-hex-digit hash of the whole; too short: padded with the hash.
    """
    raw = re.sub(r"[^a-z0-9-]", "-", "-".join(parts).lower()).strip("-")
    if len(raw) > 30:
        raw = f"{raw[:23].rstrip('-')}-{_digest(raw)}"
    if len(raw) < 6:
        raw = f"{raw}-{_digest(raw)}"
    return raw


NODE_SA_SUFFIX = "nodes"
TEAM_SA_SUFFIX = "team"


def node_account_id(env: str, cluster: str) -> str:
    """The GKE node service account id of a cluster: ``{env}-{cluster}-nodes`` (hashed when too long).

    Unchanged from earlier versions (a new node SA would replace the cluster). It always ends in
    ``-nodes`` or in ``-`` plus six hex digits, so it never equals a :func:`team_account_id`.
    """
    return account_id(env, cluster, NODE_SA_SUFFIX)


def team_account_id(env: str, team: str) -> str:
    """A team's service account id: ``{env}-{team}-team``, always ending in ``-team``.

    Too long: ``{first 18 characters}-{6-hex hash of the whole}-team``. The fixed ``-team`` ending keeps it
    apart from every :func:`node_account_id` (which ends in ``-nodes`` or ``-`` + hex), whatever the names.
    """
    raw = re.sub(r"[^a-z0-9-]", "-", f"{env}-{team}".lower()).strip("-")
    tail = f"-{TEAM_SA_SUFFIX}"
    if len(raw) + len(tail) > 30:
        raw = f"{raw[:30 - len(tail) - 7].rstrip('-')}-{_digest(raw + tail)}"
    return f"{raw}{tail}"
