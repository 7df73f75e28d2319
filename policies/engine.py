"""Run the catalog: one code path for the offline check and for the CrossGuard packs.

:func:`run_resource_rule` and :func:`run_stack_rule` are what both callers use to run a rule, so a value
the engine does not know yet is decided in one place: the finding says so, and since its level is the
rule's, a mandatory rule fails closed. :func:`evaluate` adds what only the offline check has: the plan,
per-environment enforcement, waivers and each finding's YAML line.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pulumi
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, _DictProxy, _ListProxy

from mlinfra.policies.catalog import Enforcement, Resource, Rule, Stack
from mlinfra.policies.context import PolicyContext

if TYPE_CHECKING:
    from mlinfra.stacks.config import PoliciesConfig, StackConfig, Waiver
    from mlinfra.stacks.offline import Plan, PlannedResource

Level = Literal["mandatory", "advisory"]
UNKNOWN_NOTE = "cannot be judged before the update runs; the rule fails closed"


@dataclass(frozen=True)
class Outcome:
    """One violation a rule reported: message, the resource it concerns, and whether a value was unknown."""

    message: str
    urn: str | None
    unknown: bool = False


def run_resource_rule(rule: Rule, resource: Resource, context: PolicyContext, *,
                      defer_unknown: bool = False) -> list[Outcome]:
    """Run a resource rule on one resource. Crashes become outcomes, never exceptions.

    A value not known yet becomes a fail-closed outcome; with ``defer_unknown`` (the engine's preview) the
    policy SDK's :class:`UnknownValueError` propagates instead, so the engine reports that the rule cannot
    run yet and runs it again during the update, when the value is known.
    """
    try:
        return [Outcome(str(m), resource.urn) for m in rule.check(resource, context)]  # type: ignore[arg-type]
    except UnknownValueError as exc:
        if defer_unknown:
            raise
        return [Outcome(f"{exc.message}: {UNKNOWN_NOTE}", resource.urn, unknown=True)]
    except Exception as exc:  # a rule bug must not pass silently nor crash the whole check
        return [Outcome(f"rule error ({type(exc).__name__}: {exc}); treated as a violation", resource.urn)]


def run_stack_rule(rule: Rule, stack: Stack, context: PolicyContext, *, defer_unknown: bool = False) -> list[Outcome]:
    """Run a stack rule over the whole plan (unknown values as in :func:`run_resource_rule`)."""
    try:
        return [Outcome(str(m), urn) for m, urn in rule.check(stack, context)]  # type: ignore[arg-type]
    except UnknownValueError as exc:
        if defer_unknown:
            raise
        return [Outcome(f"{exc.message}: {UNKNOWN_NOTE}", None, unknown=True)]
    except Exception as exc:
        return [Outcome(f"rule error ({type(exc).__name__}: {exc}); treated as a violation", None)]


def effective_level(rule: Rule, settings: PoliciesConfig | None) -> Enforcement:
    """The rule's level in this environment: per-rule override, else the environment's, else the catalog's."""
    if settings is None:
        return rule.enforcement
    if rule.id in settings.rules:
        return settings.rules[rule.id]
    if rule.enforcement == "disabled" or settings.enforcement == "catalog":
        return rule.enforcement
    return settings.enforcement


def waiver_matches(waiver: Waiver, rule_id: str, name: str, urn: str | None) -> bool:
    """True when ``waiver`` covers ``rule_id`` on the resource (logical name, URN, glob, or '*')."""
    if waiver.policy != rule_id:
        return False
    pattern = waiver.resource
    return pattern == "*" or pattern in (name, urn) or fnmatch.fnmatchcase(name, pattern)


def is_expired(waiver: Waiver, today: dt.date) -> bool:
    """A waiver holds through its ``expires`` day."""
    return today > waiver.expires


# ----- the offline check ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One violation of one rule, located at the config line that produced the resource."""

    rule: Rule
    level: Level
    message: str
    urn: str | None
    resource: str
    resource_type: str
    config_path: str
    file: str
    line: int | None
    unknown: bool = False
    waiver: Waiver | None = None
    expired_waiver: Waiver | None = None

    @property
    def waived(self) -> bool:
        """Covered by a waiver that still holds."""
        return self.waiver is not None

    @property
    def blocking(self) -> bool:
        """Fails the check: mandatory and not waived."""
        return self.level == "mandatory" and not self.waived


@dataclass(frozen=True)
class WaiverStatus:
    """A waiver of the environment: whether it expired and how many findings it covered."""

    waiver: Waiver
    index: int
    line: int | None
    expired: bool
    used: int


@dataclass
class Report:
    """The verdict on one environment."""

    file: str
    environment: str
    findings: list[Finding] = field(default_factory=list)
    waivers: list[WaiverStatus] = field(default_factory=list)
    resources: int = 0
    evaluations: int = 0
    rules: int = 0

    def _count(self, predicate: Callable[[Finding], bool]) -> int:
        return sum(1 for f in self.findings if predicate(f))

    @property
    def mandatory(self) -> int:
        """Blocking findings."""
        return self._count(lambda f: f.blocking)

    @property
    def advisory(self) -> int:
        """Advisory findings (not waived)."""
        return self._count(lambda f: f.level == "advisory" and not f.waived)

    @property
    def waived(self) -> int:
        """Findings covered by a waiver that still holds (reported, never dropped)."""
        return self._count(lambda f: f.waived)

    @property
    def expired_waivers(self) -> list[WaiverStatus]:
        """Waivers past their expiry date: each fails the check."""
        return [w for w in self.waivers if w.expired]

    @property
    def failed(self) -> bool:
        """True when a mandatory violation stands or a waiver expired."""
        return self.mandatory > 0 or bool(self.expired_waivers)


Locator = Callable[[str], int | None]


def to_resources(plan: Plan) -> list[tuple[PlannedResource, Resource]]:
    """The plan's custom resources in the shape rules see (provider resources included, components not)."""
    providers = {r.urn: r for r in plan.resources if r.type.startswith("pulumi:providers:")}
    out = []
    for planned in plan.resources:
        if not planned.custom:
            continue
        provider_urn = (planned.provider or "").rpartition("::")[0]
        provider = providers.get(provider_urn)
        out.append((planned, Resource(
            type=planned.type, props=plain(planned.inputs), urn=planned.urn, name=planned.name,
            provider=plain(provider.inputs) if provider else {}, parent=planned.parent,
            dependencies=planned.dependencies,
        )))
    return out


def evaluate(
    plan: Plan, config: StackConfig, rules: Sequence[Rule], *, file: str = "<config>",
    locate: Locator | None = None, today: dt.date | None = None,
) -> Report:
    """Judge one planned environment with ``rules`` under its enforcement settings and waivers."""
    today = today or dt.date.today()
    locate = locate or (lambda _path: None)
    context = PolicyContext.from_config(config)
    levels = {rule.id: effective_level(rule, config.policies) for rule in rules}
    active = [rule for rule in rules if levels[rule.id] != "disabled"]
    by_type: dict[str, list[Rule]] = {}
    exact: dict[str, list[Rule]] = {}
    prefixed: list[tuple[str, Rule]] = []
    for rule in active:
        for type_ in rule.types if rule.scope == "resource" else ():
            if type_.endswith("*"):
                prefixed.append((type_[:-1], rule))
            else:
                exact.setdefault(type_, []).append(rule)
    resources = to_resources(plan)
    by_urn = {res.urn: planned for planned, res in resources}
    raw: list[tuple[Rule, Outcome, PlannedResource | None]] = []
    evaluations = 0
    for planned, resource in resources:
        applicable = by_type.get(resource.type)
        if applicable is None:
            matched = {id(r) for r in exact.get(resource.type, ())}
            matched |= {id(r) for prefix, r in prefixed if resource.type.startswith(prefix)}
            applicable = [r for r in active if id(r) in matched]  # catalog order
            by_type[resource.type] = applicable
        for rule in applicable:
            evaluations += 1
            raw.extend((rule, outcome, planned) for outcome in run_resource_rule(rule, resource, context))
    stack = Stack([res for _planned, res in resources])
    for rule in active:
        if rule.scope == "stack":
            evaluations += 1
            raw.extend((rule, o, by_urn.get(o.urn or "")) for o in run_stack_rule(rule, stack, context))

    waivers = list(config.waivers)
    used = [0] * len(waivers)
    findings = []
    for rule, outcome, planned in raw:
        name = planned.name if planned else plan.stack
        holding = expired = None
        for index, waiver in enumerate(waivers):
            if waiver_matches(waiver, rule.id, name, outcome.urn):
                if is_expired(waiver, today):
                    expired = expired or waiver
                else:
                    holding = waiver
                    used[index] += 1
                    break
        path = planned.config_path if planned else ""
        level: Level = "mandatory" if levels[rule.id] == "mandatory" else "advisory"
        findings.append(Finding(
            rule=rule, level=level, message=outcome.message, urn=outcome.urn, resource=name,
            resource_type=planned.type if planned else "pulumi:pulumi:Stack", config_path=path, file=file,
            line=locate(path), unknown=outcome.unknown, waiver=holding, expired_waiver=None if holding else expired,
        ))
    statuses = [WaiverStatus(w, i, locate(f"waivers[{i}]"), is_expired(w, today), used[i])
                for i, w in enumerate(waivers)]
    findings.sort(key=lambda f: (not f.blocking, f.level != "mandatory", f.rule.id, f.resource))
    return Report(file=file, environment=config.name, findings=findings, waivers=statuses,
                  resources=len(resources), evaluations=evaluations, rules=len(active))


_SCALARS = (str, int, float, bool, type(None))


def plain(value: Any) -> Any:
    """Recorded or engine values → plain JSON-like data; unknowns become the policy SDK's sentinels."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        return {k if type(k) is str else str(k): v if type(v) in _SCALARS else plain(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [v if type(v) in _SCALARS else plain(v) for v in value]
    if isinstance(value, _DictProxy | _ListProxy):  # CrossGuard hands rules proxies: unwrap them
        return plain(value["__target"])
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, pulumi.output.Unknown):
        return UNKNOWN_STRING_VALUE
    return str(value)


def summarize(reports: Iterable[Report]) -> dict[str, int]:
    """Totals over several environments."""
    totals = {"environments": 0, "resources": 0, "evaluations": 0, "mandatory": 0, "advisory": 0,
              "waived": 0, "expired_waivers": 0}
    for report in reports:
        totals["environments"] += 1
        totals["resources"] += report.resources
        totals["evaluations"] += report.evaluations
        totals["mandatory"] += report.mandatory
        totals["advisory"] += report.advisory
        totals["waived"] += report.waived
        totals["expired_waivers"] += len(report.expired_waivers)
    return totals
