"""Helpers for testing rules (ours and custom ones): a compliant baseline, one mutation, the exact rule id.

    base = example("gcp-prod").first("gcp:storage/bucket:Bucket")
    assert violations("gcp-storage-bucket-cmek", base) == []
    assert violations("gcp-storage-bucket-cmek", mutate(base, ("encryption",), None))

Examples are the shipped stack files, planned once per process under mocks.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlinfra.policies.catalog import Resource, Rule, Stack, rule_by_id
from mlinfra.policies.context import PolicyContext
from mlinfra.policies.engine import Report, evaluate, run_resource_rule, run_stack_rule, to_resources

if TYPE_CHECKING:
    from mlinfra.stacks.config import StackConfig
    from mlinfra.stacks.offline import Plan

EXAMPLES = Path(__file__).resolve().parent.parent / "stacks"
_DELETE: Any = object()


@dataclass(frozen=True)
class Example:
    """A planned example environment."""

    config: StackConfig
    plan: Plan
    resources: tuple[Resource, ...]

    @property
    def context(self) -> PolicyContext:
        """The example's policy context."""
        return PolicyContext.from_config(self.config)

    @property
    def stack(self) -> Stack:
        """The whole plan as stack rules see it."""
        return Stack(self.resources)

    def of_type(self, type_: str) -> list[Resource]:
        """Resources of one type token."""
        return [r for r in self.resources if r.type == type_]

    def first(self, type_: str) -> Resource:
        """The first resource of ``type_`` (AssertionError when there is none: the baseline lacks it)."""
        found = self.of_type(type_)
        assert found, f"the example has no {type_}"
        return found[0]


@functools.cache
def example(name: str) -> Example:
    """Plan ``stacks/<name>.yaml`` once per process."""
    from mlinfra.stacks.loader import load

    config = load(EXAMPLES / f"{name}.yaml")
    return planned(config)


def planned(config: StackConfig) -> Example:
    """Plan a config (e.g. a mutated example config)."""
    from mlinfra.stacks.program import plan

    result = plan(config)
    return Example(config, result, tuple(res for _p, res in to_resources(result)))


def rule(rule_id: str) -> Rule:
    """A catalog rule by id."""
    return rule_by_id(rule_id)


def violations(rule_id: str | Rule, resource: Resource | Stack, context: PolicyContext | None = None) -> list[str]:
    """Messages ``rule_id`` reports on one resource (resource rule) or a whole stack (stack rule)."""
    found = rule(rule_id) if isinstance(rule_id, str) else rule_id
    context = context or PolicyContext()
    if isinstance(resource, Stack):
        assert found.scope == "stack", f"{found.id} is a resource rule: pass a Resource"
        return [o.message for o in run_stack_rule(found, resource, context)]
    assert found.scope == "resource", f"{found.id} is a stack rule: pass a Stack"
    assert found.applies_to(resource.type), f"{found.id} does not check {resource.type}"
    return [o.message for o in run_resource_rule(found, resource, context)]


def mutate(resource: Resource, path: Sequence[str | int], value: Any = _DELETE) -> Resource:
    """A copy of ``resource`` with the prop at ``path`` set to ``value`` (omit ``value`` to delete it)."""
    props = copy.deepcopy(dict(resource.props))
    node: Any = props
    for part in path[:-1]:
        node = node.setdefault(part, {}) if isinstance(node, dict) else node[part]
    if value is _DELETE:
        if isinstance(node, dict):
            node.pop(path[-1], None)
        else:
            del node[path[-1]]
    else:
        node[path[-1]] = value
    return replace(resource, props=props)


def replace_in(stack: Stack, old: Resource, new: Resource) -> Stack:
    """The stack with one resource swapped for its mutated copy."""
    return Stack([new if r is old else r for r in stack.resources])


def check(config: StackConfig, today: dt.date | None = None, rules: Sequence[Rule] | None = None) -> Report:
    """Plan and judge a config with the whole catalog (or ``rules``)."""
    from mlinfra.policies.check import all_rules

    result = planned(config)
    return evaluate(result.plan, config, list(rules if rules is not None else all_rules()), today=today)
