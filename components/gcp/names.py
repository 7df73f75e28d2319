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
    """A service account id (6-30 characters, ``[a-z][-a-z0-9]{4,28}[a-z0-9]``) from name parts."""
    raw = re.sub(r"[^a-z0-9-]", "-", "-".join(parts).lower()).strip("-")
    if len(raw) > 30:
        raw = f"{raw[:23].rstrip('-')}-{_digest(raw)}"
    if len(raw) < 6:
        raw = f"{raw}-{_digest(raw)}"
    return raw
