"""Render a :class:`Plan` as a Mermaid flowchart of the platform: components nested as subgraphs, the
cloud resources inside each summarised by type, and data-flow edges (bucket → topic notifications)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from mlinfra.stacks.offline import Plan, PlannedResource


def _gcp_notification(inputs: dict[str, Any]) -> tuple[str, list[str]]:
    return str(inputs.get("bucket", "")), [str(inputs.get("topic", "")).rpartition("/")[2]]


def _aws_notification(inputs: dict[str, Any]) -> tuple[str, list[str]]:
    topics = inputs.get("topics") or []
    return str(inputs.get("bucket", "")), [str(t.get("topicArn", "")).rpartition(":")[2] for t in topics]


# Resources that carry an event flow: type → (source physical name, destination physical names).
_FLOWS: dict[str, Callable[[dict[str, Any]], tuple[str, list[str]]]] = {
    "gcp:storage/notification:Notification": _gcp_notification,
    "aws:s3/bucketNotification:BucketNotification": _aws_notification,
}


def short_type(type_: str) -> str:
    """``gcp:storage/bucket:Bucket`` → ``gcp:Bucket``; component tokens keep their class name."""
    pkg, _, rest = type_.partition(":")
    return f"{pkg}:{rest.rpartition(':')[2]}" if rest else type_


def to_mermaid(plan: Plan) -> str:
    """The plan's component tree as Mermaid ``flowchart LR`` text."""
    ids: dict[str, str] = {}

    def node_id(urn: str) -> str:
        return ids.setdefault(urn, f"n{len(ids)}")

    lines = ["flowchart LR"]

    def emit(parent: str | None, depth: int) -> None:
        pad = "  " * (depth + 1)
        kids = plan.children(parent)
        components = [r for r in kids if not r.custom]
        counts = Counter(short_type(r.type) for r in kids if r.custom)
        for comp in components:
            nid = node_id(comp.urn)
            lines.append(f'{pad}subgraph {nid}["{_label(comp)}"]')
            emit(comp.urn, depth + 1)
            lines.append(f"{pad}end")
        if counts and parent is not None:
            body = "<br/>".join(f"{n} x {t}" if n > 1 else t for t, n in sorted(counts.items()))
            lines.append(f'{pad}{node_id(parent)}_r["{body}"]')

    emit(None, 0)
    lines.extend(_flows(plan, node_id))
    return "\n".join(lines) + "\n"


def _label(res: PlannedResource) -> str:
    def clean(text: str) -> str:
        return re.sub(r'["<>]', "", text)

    return f"{clean(res.name)}<br/><small>{clean(short_type(res.type))}</small>"


def _flows(plan: Plan, node_id: Callable[[str], str]) -> list[str]:
    """Edges for event flows, drawn between the owning components of each end."""
    by_physical: dict[str, str] = {}
    for res in plan.resources:
        for key in ("name", "id", "bucket"):
            value = res.inputs.get(key)
            if isinstance(value, str) and res.parent:
                by_physical.setdefault(value, res.parent)
    edges: list[str] = []
    for res in plan.resources:
        flow = _FLOWS.get(res.type)
        if flow is None:
            continue
        source, destinations = flow(dict(res.inputs))
        src = by_physical.get(source)
        for destination in destinations:
            dst = by_physical.get(destination)
            edge = f"  {node_id(src)} -- events --> {node_id(dst)}" if src and dst and src != dst else None
            if edge and edge not in edges:
                edges.append(edge)
    return edges
