"""The security context and resource presets every platform workload's chart values are built from.

One place for what "restricted" means in chart values, so each component states only what differs (a node
agent that must run as root says so next to the exception). Pure data, no Pulumi import.
"""

from __future__ import annotations

from typing import Any, Final

# Pod level: the Pod Security "restricted" profile. Images must declare a numeric non-root USER.
RESTRICTED_POD: Final[dict[str, Any]] = {
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
# Container level: no privilege escalation, no capabilities, immutable image filesystem.
RESTRICTED_CONTAINER: Final[dict[str, Any]] = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def restricted_pod(**extra: Any) -> dict[str, Any]:
    """A fresh restricted pod security context, plus chart-specific fields (e.g. ``fsGroup``)."""
    return {**RESTRICTED_POD, "seccompProfile": dict(RESTRICTED_POD["seccompProfile"]), **extra}


def restricted_container(**extra: Any) -> dict[str, Any]:
    """A fresh restricted container security context, plus or overriding chart-specific fields."""
    return {**RESTRICTED_CONTAINER, "capabilities": {"drop": ["ALL"]},
            "seccompProfile": dict(RESTRICTED_CONTAINER["seccompProfile"]), **extra}


def resources(cpu: str, memory: str, cpu_limit: str | None = None, memory_limit: str | None = None) -> dict[str, Any]:
    """Requests and limits; limits default to twice the CPU request and to the memory request (memory is not
    compressible, so a limit above the request only postpones the OOM kill to a worse moment)."""
    return {
        "requests": {"cpu": cpu, "memory": memory},
        "limits": {"cpu": cpu_limit or _double(cpu), "memory": memory_limit or memory},
    }


def _double(cpu: str) -> str:
    return f"{int(cpu[:-1]) * 2}m" if cpu.endswith("m") else str(float(cpu) * 2).removesuffix(".0")
