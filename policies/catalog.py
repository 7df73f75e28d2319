"""The rule catalog: what a rule is, what it is given, and how rules are declared.

One rule per function. Its metadata (id, title, severity, default enforcement, pack, resource types,
benchmark controls, rationale, the config field that fixes it) is declared once, in the decorator, and
everything else (the offline check, the CrossGuard packs, ``mlinfra policy list``, ``docs/policies.md``)
reads it from there.

A rule sees resources the way CrossGuard shows them: type token, engine property names (``props``), URN,
logical name and the provider's properties. Values the engine cannot know yet (a key id during the first
preview) are the policy SDK's unknown sentinels; :meth:`Resource.get` raises on them so a rule never
reasons about a placeholder, and the runner decides: mandatory rules fail closed and say so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

from mlinfra.policies.context import PolicyContext

Severity = Literal["critical", "high", "medium", "low"]
Enforcement = Literal["mandatory", "advisory", "disabled"]
Pack = Literal["residency", "security"]
Target = Literal["gcp", "aws", "onprem"]

SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low")
TARGETS: tuple[Target, ...] = ("gcp", "aws", "onprem")
FRAMEWORKS: tuple[str, ...] = (
    "CIS GKE 1.7.0", "CIS EKS 1.6.0", "CIS GCP 3.0.0", "CIS AWS 3.0.0", "CIS Kubernetes 1.10.0",
)

UNKNOWNS = frozenset({
    UNKNOWN_BOOLEAN_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE, UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE, UNKNOWN_ARCHIVE_VALUE, UNKNOWN_OBJECT_VALUE,
})
_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+){2,}$")  # vendor-service-resource-rule; extensions use their own vendor
_MISSING: Any = object()


def is_unknown(value: Any) -> bool:
    """True for the policy SDK's 'not known until the update runs' sentinels."""
    return isinstance(value, str) and value in UNKNOWNS


@dataclass(frozen=True)
class Control:
    """One benchmark control a rule implements, e.g. ``Control("CIS GKE 1.7.0", "5.6.5")``."""

    framework: str
    id: str

    def __str__(self) -> str:
        return f"{self.framework} {self.id}"


def cis(framework: str, *ids: str) -> tuple[Control, ...]:
    """Controls of one framework: ``cis("CIS GKE 1.7.0", "5.6.5", "5.6.6")``."""
    return tuple(Control(framework, i) for i in ids)


CIS_GKE, CIS_EKS, CIS_GCP, CIS_AWS, CIS_K8S = FRAMEWORKS


@dataclass(frozen=True)
class Resource:
    """One resource as a rule sees it (CrossGuard's shape): type, props, URN, name, provider props."""

    type: str
    props: Mapping[str, Any]
    urn: str
    name: str
    provider: Mapping[str, Any] = field(default_factory=dict)
    parent: str | None = None
    dependencies: tuple[str, ...] = ()

    def get(self, *path: str | int, default: Any = None) -> Any:
        """The value at ``path`` (keys and list indexes), ``default`` when absent.

        Raises :class:`UnknownValueError` when the value (or a container on the way) is not known yet.
        """
        value = lookup(self.props, path)
        return default if value is _MISSING or value is None else value

    def known(self, *path: str | int, default: Any = None) -> Any:
        """Like :meth:`get`, but ``default`` when the value is not known yet: for matching resources to each
        other, or for checks where an unknown value cannot be the violating literal."""
        try:
            return self.get(*path, default=default)
        except UnknownValueError:
            return default

    def has(self, *path: str | int) -> bool:
        """True when ``path`` holds a non-empty value; a value not known yet counts as set."""
        try:
            value = lookup(self.props, path)
        except UnknownValueError:
            return True
        return value is not _MISSING and value not in (None, "", [], {})

    def region(self) -> str | None:
        """The resource's effective region: its own ``region`` input, else its provider's."""
        own = self.get("region")
        return own if isinstance(own, str) and own else (self.provider.get("region") or None)

    @property
    def kind(self) -> str:
        """The Kubernetes kind for ``kubernetes:<group>/<version>:<Kind>`` types (else the type's last part)."""
        return self.type.rpartition(":")[2]


def lookup(value: Any, path: Sequence[str | int]) -> Any:
    """Walk ``path`` through nested mappings and lists; raises on unknown values met on the way."""
    for depth, part in enumerate(path):
        kind = type(value)
        if kind is str and value in UNKNOWNS:
            raise UnknownValueError(value, [str(p) for p in path[:depth]])
        if (kind is dict or isinstance(value, Mapping)) and isinstance(part, str):
            value = value.get(part, _MISSING)
        elif (kind is list or kind is tuple) and isinstance(part, int) and -len(value) <= part < len(value):
            value = value[part]
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    if type(value) is str and value in UNKNOWNS:
        raise UnknownValueError(value, [str(p) for p in path])
    return value


@dataclass(frozen=True)
class Stack:
    """The whole plan, for rules that need more than one resource."""

    resources: Sequence[Resource]

    def of_type(self, *types: str) -> Iterator[Resource]:
        """Resources whose type is one of ``types``."""
        return (r for r in self.resources if r.type in types)


ResourceCheck = Callable[[Resource, PolicyContext], Iterable[str]]
StackCheck = Callable[[Stack, PolicyContext], Iterable[tuple[str, str | None]]]


@dataclass(frozen=True)
class Rule:
    """One policy: metadata declared once, plus the check.

    A resource rule's check yields a message per violation of one resource of ``types``; a stack rule's
    check sees the whole plan and yields ``(message, urn or None)``.
    """

    id: str
    title: str
    severity: Severity
    enforcement: Enforcement
    pack: Pack
    targets: tuple[Target, ...]
    types: tuple[str, ...]
    controls: tuple[Control, ...]
    rationale: str
    fix: str
    check: ResourceCheck | StackCheck
    scope: Literal["resource", "stack"] = "resource"

    def __post_init__(self) -> None:
        problems = []
        if not _ID.match(self.id):
            problems.append("id must be vendor-service-resource-rule in lowercase kebab case")
        if self.severity not in SEVERITIES:
            problems.append(f"severity must be one of {SEVERITIES}")
        if not self.targets or any(t not in TARGETS for t in self.targets):
            problems.append(f"targets must be a non-empty subset of {TARGETS}")
        if any(c.framework not in FRAMEWORKS for c in self.controls):
            problems.append(f"controls must come from {FRAMEWORKS}")
        if self.scope == "resource" and not self.types:
            problems.append("a resource rule names the resource types it checks")
        if not self.title or not self.rationale or not self.fix:
            problems.append("title, rationale and fix are required")
        if problems:
            raise ValueError(f"rule {self.id!r}: " + "; ".join(problems))

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        """Pickled by id (reports cross process boundaries in parallel checks; checks are functions)."""
        return (rule_by_id, (self.id,))

    def applies_to(self, type_: str) -> bool:
        """True when this resource rule checks resources of ``type_`` (``gcp:*`` matches a whole provider)."""
        return any(type_ == t or (t.endswith("*") and type_.startswith(t[:-1])) for t in self.types)

    @property
    def doc(self) -> str:
        """What the check looks at, from its docstring."""
        return " ".join((self.check.__doc__ or "").split())


def rule_by_id(rule_id: str) -> Rule:
    """The catalog rule with this id (KeyError when there is none)."""
    from mlinfra.policies.check import all_rules

    for rule in all_rules():
        if rule.id == rule_id:
            return rule
    raise KeyError(f"no policy {rule_id!r} in the catalog")


def _targets_of(types: Iterable[str]) -> tuple[Target, ...]:
    found: set[Target] = set()
    for type_ in types:
        vendor = type_.split(":", 1)[0]
        if vendor == "kubernetes":
            found.update(TARGETS)
        elif vendor in ("gcp", "aws"):
            found.add(vendor)  # type: ignore[arg-type]
    return tuple(t for t in TARGETS if t in found)


def resource_rule(
    *, id: str, title: str, severity: Severity, types: Sequence[str], rationale: str, fix: str,
    enforcement: Enforcement = "mandatory", pack: Pack = "security", controls: Sequence[Control] = (),
    targets: Sequence[Target] = (),
) -> Callable[[ResourceCheck], Rule]:
    """Declare a rule over each resource of ``types`` (targets follow from the types unless given)."""

    def make(check: ResourceCheck) -> Rule:
        return Rule(id=id, title=title, severity=severity, enforcement=enforcement, pack=pack,
                    targets=tuple(targets) or _targets_of(types), types=tuple(types), controls=tuple(controls),
                    rationale=rationale, fix=fix, check=check)

    return make


def stack_rule(
    *, id: str, title: str, severity: Severity, targets: Sequence[Target], rationale: str, fix: str,
    enforcement: Enforcement = "mandatory", pack: Pack = "security", controls: Sequence[Control] = (),
) -> Callable[[StackCheck], Rule]:
    """Declare a rule over the whole plan."""

    def make(check: StackCheck) -> Rule:
        return Rule(id=id, title=title, severity=severity, enforcement=enforcement, pack=pack,
                    targets=tuple(targets), types=(), controls=tuple(controls), rationale=rationale, fix=fix,
                    check=check, scope="stack")

    return make


def rules_in(namespace: Mapping[str, Any]) -> tuple[Rule, ...]:
    """The rules a module defines, in definition order: ``RULES = rules_in(vars())`` at its end."""
    return tuple(value for value in namespace.values() if isinstance(value, Rule))
