"""Shared fixtures: a minimal valid config dict and a helper that writes YAML to a temp file."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
STACKS = ROOT / "stacks"

MINIMAL: dict[str, Any] = {
    "name": "ml-dev",
    "target": {"cloud": "gcp", "region": "europe-west4", "project": "my-project-1"},
}


@pytest.fixture
def minimal() -> dict[str, Any]:
    """A fresh copy of the smallest valid GCP config."""
    return copy.deepcopy(MINIMAL)


@pytest.fixture
def write_yaml(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write text to ``tmp_path/name`` and return the path."""

    def write(text: str, name: str = "stack.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
