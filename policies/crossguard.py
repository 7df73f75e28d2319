"""The catalog as Pulumi CrossGuard policy packs: the same rule functions, run by the engine at deploy time.

``policies/residency`` and ``policies/security`` are pack directories (``PulumiPolicy.yaml`` plus a two-line
``__main__.py`` calling :func:`serve`), usable as ``pulumi preview --policy-pack policies/security``.

Which environment is being judged: ``MLINFRA_STACK_FILE`` names its stack file (``mlinfra up`` sets it; else
``stacks/<PULUMI_STACK>.yaml`` of this checkout);
its enforcement levels, waivers and residency allow-list then apply exactly as in ``mlinfra policy check``.
Without it, each policy's level is the catalog's and residency rules read ``allowedRegions`` from the pack
config (``--policy-pack-config``); with neither, residency rules fail closed.

Values not known yet. The offline check fails a mandatory rule closed on a value it cannot know. The engine
runs every policy twice: at preview, when a new environment's key ids and ARNs are not known yet, and again
during the update, on each resource's resolved inputs before it is created. There a rule that meets an
unknown value raises the policy SDK's ``UnknownValueError``, which the engine reports as "cannot run during
preview", and the rule is enforced during the update. Failing closed at preview instead would make the first
deployment of any environment impossible (a bucket policy built from the bucket's ARN is unknown until the
bucket exists).

What the engine cannot carry, and the offline check reports instead: waived findings are not sent to the
engine as violations (there is no 'waived' level); they are written to the pack's stderr, and counted in
``mlinfra policy check``. An expired waiver no longer hides its finding.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from mlinfra.policies.catalog import Pack, Resource, Rule, Stack
from mlinfra.policies.check import all_rules, select
from mlinfra.policies.context import PolicyContext
from mlinfra.policies.engine import (
    Outcome,
    effective_level,
    is_expired,
    plain,
    run_resource_rule,
    run_stack_rule,
    waiver_matches,
)

if TYPE_CHECKING:
    from mlinfra.stacks.config import StackConfig

STACK_FILE_ENV = "MLINFRA_STACK_FILE"
REPO_STACKS = Path(__file__).resolve().parent.parent / "stacks"
PACK_NAMES: dict[Pack, str] = {"residency": "mlinfra-residency", "security": "mlinfra-security"}
_CONTEXT_SCHEMA = PolicyConfigSchema(properties={
    "allowedRegions": {"type": "array", "items": {"type": "string"},
                       "description": "Residency allow-list (regions or groups); used without MLINFRA_STACK_FILE."},
    "environment": {"type": "string", "description": "dev | staging | prod"},
})


def stack_config_from_env() -> StackConfig | None:
    """The stack config being deployed, or None when the pack cannot tell.

    ``MLINFRA_STACK_FILE`` first; else, when the engine names the stack (``PULUMI_STACK``) and this checkout
    has ``stacks/<stack>.yaml``, that file. A file that cannot be used stops the pack with its issues.
    """
    path = os.environ.get(STACK_FILE_ENV)
    stack = os.environ.get("PULUMI_STACK")
    if not path and stack and (candidate := REPO_STACKS / f"{stack}.yaml").is_file():
        path = str(candidate)
    if not path:
        return None
    from mlinfra.stacks.loader import ConfigError, load

    try:
        return load(path)
    except ConfigError as error:
        raise SystemExit(f"mlinfra policy pack: {STACK_FILE_ENV}={path} cannot be used:\n{error}") from None


def build_policies(
    pack: Pack, *, config: StackConfig | None = None, rules: Sequence[Rule] | None = None,
    today: dt.date | None = None, log: Callable[[str], None] | None = None,
) -> list[Policy]:
    """CrossGuard policies for one pack, from the catalog (every rule of the pack, levels from ``config``)."""
    judge = _Judge(config, today or dt.date.today(), log or _stderr)
    policies: list[Policy] = []
    for rule in select(list(rules if rules is not None else all_rules()), packs=[pack]):
        level = EnforcementLevel(effective_level(rule, config.policies if config else None))
        common: dict[str, Any] = {
            "enforcement_level": level, "severity": Severity(rule.severity), "display_name": rule.title,
            "tags": [rule.pack, *rule.targets], "remediation_steps": f"Fix: {rule.fix}",
            "framework": _framework(rule), "config_schema": _CONTEXT_SCHEMA if rule.pack == "residency" else None,
        }
        if rule.scope == "resource":
            policies.append(ResourceValidationPolicy(rule.id, rule.title, validate=judge.resource(rule), **common))
        else:
            policies.append(StackValidationPolicy(rule.id, rule.title, validate=judge.stack(rule), **common))
    return policies


def serve(pack: Pack) -> None:
    """Entry point of a pack directory: build the pack and hand it to the engine (blocks until stopped)."""
    config = stack_config_from_env()
    PolicyPack(name=PACK_NAMES[pack], policies=build_policies(pack, config=config),
               description=f"mlinfra {pack} rules (generated from the mlinfra catalog)")


class _Judge:
    """Adapts catalog rules to CrossGuard callbacks, applying the environment's waivers."""

    def __init__(self, config: StackConfig | None, today: dt.date, log: Callable[[str], None]) -> None:
        self.config = config
        self.today = today
        self.log = log

    def context(self, policy_config: Any) -> PolicyContext:
        if self.config is not None:
            return PolicyContext.from_config(self.config)
        return PolicyContext.from_policy_config(policy_config or {})

    def resource(self, rule: Rule) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
        def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
            if not rule.applies_to(args.resource_type):
                return
            provider = plain(args.provider.props) if args.provider is not None else {}
            resource = Resource(type=args.resource_type, props=plain(args.props), urn=args.urn, name=args.name,
                                provider=provider)
            context = self.context(args.get_config())
            for outcome in run_resource_rule(rule, resource, context, defer_unknown=True):
                self.report(rule, outcome, args.name, report)

        return validate

    def stack(self, rule: Rule) -> Callable[[StackValidationArgs, ReportViolation], None]:
        def validate(args: StackValidationArgs, report: ReportViolation) -> None:
            resources = [Resource(
                type=r.resource_type, props=plain(r.props), urn=r.urn, name=r.name,
                provider=plain(r.provider.props) if r.provider is not None else {},
                parent=r.parent.urn if r.parent is not None else None,
                dependencies=tuple(d.urn for d in r.dependencies),
            ) for r in args.resources]
            names = {r.urn: r.name for r in resources}
            context = self.context(args.get_config())
            for outcome in run_stack_rule(rule, Stack(resources), context, defer_unknown=True):
                self.report(rule, outcome, names.get(outcome.urn or "", ""), report)

        return validate

    def report(self, rule: Rule, outcome: Outcome, name: str, report: ReportViolation) -> None:
        expired = None
        for waiver in self.config.waivers if self.config else ():
            if waiver_matches(waiver, rule.id, name, outcome.urn):
                if not is_expired(waiver, self.today):
                    self.log(f"mlinfra: waived {rule.id} on {name}: {outcome.message} "
                             f"(owner {waiver.owner}, until {waiver.expires}: {waiver.reason})")
                    return
                expired = waiver
        suffix = f" (its waiver expired on {expired.expires})" if expired else ""
        report(outcome.message + suffix, outcome.urn)


def _framework(rule: Rule) -> PolicyComplianceFramework | None:
    if not rule.controls:
        return None
    first = rule.controls[0].framework
    name, _, version = first.rpartition(" ")
    ids = ", ".join(c.id for c in rule.controls if c.framework == first)
    return PolicyComplianceFramework(name=name, version=version, reference=ids,
                                     specification="; ".join(str(c) for c in rule.controls))


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
