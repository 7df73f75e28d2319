"""Names never collide: one URN per resource in a run (the engine refuses duplicates, so does the offline
runner), one physical name per resource type and scope, and the naming schemes keep user-chosen names apart
from the ones mlinfra adds (dead-letter topics, service-agent grants, node vs team service accounts)."""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pulumi
import pulumi_gcp as gcp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlinfra.components import provenance
from mlinfra.components.gcp import names
from mlinfra.components.platform import MlPlatform
from mlinfra.stacks.config import StackConfig
from mlinfra.stacks.loader import load
from mlinfra.stacks.offline import Plan, run_program
from mlinfra.stacks.program import plan as plan_config
from mlinfra.stacks.program import unbuildable_reason

STACKS = Path(__file__).resolve().parent.parent / "stacks"
ACCOUNT_ID = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
NAME = st.from_regex(r"^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$", fullmatch=True)

# Inputs that scope a physical name: node pools per cluster, keys per ring, NATs per router, ...
SCOPES = ("project", "cluster", "keyRing", "router", "region", "location")


def physical_collisions(plan: Plan) -> list[str]:
    """Physical identities used by more than one resource of a type."""
    seen: Counter[tuple[Any, ...]] = Counter()
    for r in plan.resources:
        if not (r.custom and r.type.startswith("gcp:")):
            continue
        i = r.inputs
        if r.type.lower().endswith("iammember"):  # a binding: target + role + member
            key: tuple[Any, ...] = (r.type, json.dumps(dict(i), sort_keys=True, default=str))
        elif any(k in i for k in ("name", "accountId", "datasetId", "service", "bucketId")):
            ident = i.get("name") or i.get("accountId") or i.get("datasetId") or i.get("bucketId") or i.get("service")
            key = (r.type, *(i.get(k) for k in SCOPES if k != "location" or r.type.startswith("gcp:kms")), ident)
        else:
            continue
        seen[key] += 1
    return [str(k) for k, n in seen.items() if n > 1]


def example_plans() -> list[tuple[str, Plan]]:
    found = []
    for path in sorted(STACKS.glob("*.yaml")):
        config = load(path)
        if unbuildable_reason(config) is None:
            found.append((path.name, plan_config(config)))
    return found


def test_every_example_plan_has_unique_urns_and_physical_names() -> None:
    plans = example_plans()
    assert {name for name, _ in plans} >= {"gcp-dev.yaml", "gcp-prod.yaml"}
    for name, plan in plans:
        urns = Counter(r.urn for r in plan.resources)
        assert not [u for u, n in urns.items() if n > 1], name
        assert not physical_collisions(plan), name


def test_duplicate_urns_are_refused() -> None:
    def program() -> None:
        with provenance.source("events.topics[0]"):
            gcp.pubsub.Topic("same", name="a")
        with provenance.source("events.topics[1]"):
            gcp.pubsub.Topic("same", name="b")

    urn = "urn:pulumi:dev::mlinfra::gcp:pubsub/topic:Topic::same"
    made_by = "made by 'events.topics[0]' and 'events.topics[1]'"
    with pytest.raises(ValueError, match=f"duplicate resource URN {re.escape(urn)}: .*{re.escape(made_by)}"):
        run_program(program, project="mlinfra", stack="dev")


def test_same_name_under_different_parent_types_is_allowed() -> None:
    class _A(pulumi.ComponentResource):
        def __init__(self, name: str) -> None:
            super().__init__("mlinfra:test:A", name)
            gcp.pubsub.Topic("child", name="a", opts=pulumi.ResourceOptions(parent=self))

    def program() -> None:
        _A("a")
        gcp.pubsub.Topic("child", name="b")

    plan = run_program(program, project="mlinfra", stack="dev")
    assert len(plan.of_type("gcp:pubsub/topic:Topic")) == 2


def test_dependencies_are_recorded_as_engine_urns_and_exported() -> None:
    def program() -> None:
        first = gcp.pubsub.Topic("first", name="first")
        gcp.pubsub.Topic("second", name="second", opts=pulumi.ResourceOptions(depends_on=[first]))

    plan = run_program(program, project="mlinfra", stack="dev")
    first, second = plan.named("first"), plan.named("second")
    assert second.dependencies == (first.urn,)
    assert first.dependencies == ()
    assert plan.to_json()["resources"][1]["dependencies"] == [first.urn]


# ----- the naming schemes --------------------------------------------------------------------------------
def _plan(raw: dict[str, Any]) -> Plan:
    config = StackConfig.model_validate(raw)
    return run_program(lambda: MlPlatform("env", config), project="mlinfra", stack="dev")


TRICKY: dict[str, Any] = {
    "name": "ml-dev",
    "target": {"cloud": "gcp", "project": "acme-ml-dev", "region": "europe-west4"},
    "clusters": [{"name": "main"}],
    "events": {"topics": [
        {"name": "x", "subscriptions": [{"name": "a-b"}, {"name": "a"}]},
        # what x's dead-letter topic and subscription used to be called
        {"name": "x-dead-letter", "subscriptions": [{"name": "sub"}]},
    ]},
    "iam": {"teams": [
        {"name": "main-nodes", "topics": {"x": "subscribe"}},   # the node SA used to be ml-dev-main-nodes
        {"name": "agent", "topics": {"x": "subscribe"}},        # the service agent's grants
        {"name": "dead-letter-agent", "topics": {"x": "publish"}},
        {"name": "c", "topics": {"x": "subscribe"}},            # x-a-b + c vs x-a + b-c
        {"name": "b-c", "topics": {"x": "subscribe"}},
    ]},
}


def test_user_names_never_collide_with_generated_ones() -> None:
    plan = _plan(copy.deepcopy(TRICKY))  # would raise on a duplicate URN
    assert not physical_collisions(plan)
    topics = {r.inputs["name"] for r in plan.of_type("gcp:pubsub/topic:Topic")}
    assert topics == {"ml-dev-x", "ml-dev-x.dead-letter", "ml-dev-x-dead-letter", "ml-dev-x-dead-letter.dead-letter"}
    subs = Counter(r.inputs["name"] for r in plan.of_type("gcp:pubsub/subscription:Subscription"))
    assert subs == Counter({"ml-dev-a-b": 1, "ml-dev-a": 1, "ml-dev-sub": 1, "ml-dev-x.dead-letter": 1,
                            "ml-dev-x-dead-letter.dead-letter": 1})
    accounts = {r.inputs["accountId"] for r in plan.of_type("gcp:serviceaccount/account:Account")}
    assert "ml-dev-main-nodes" in accounts and "ml-dev-main-nodes-team" in accounts
    assert len(accounts) == 6


@given(env=NAME, part=NAME)
def test_team_and_node_account_ids_are_valid_and_disjoint(env: str, part: str) -> None:
    team, node = names.team_account_id(env, part), names.node_account_id(env, part)
    for account in (team, node):
        assert ACCOUNT_ID.match(account), account
    assert team.endswith("-team") and team != node
    assert names.team_account_id(env, part) == team  # deterministic


@given(env=NAME, team=NAME, cluster=NAME)
def test_no_team_account_id_equals_any_node_account_id(env: str, team: str, cluster: str) -> None:
    assert names.team_account_id(env, team) != names.node_account_id(env, cluster)


def test_long_account_ids_are_shortened_with_a_stable_hash() -> None:
    long_env, long_team = "environment-name-quite-long", "team-name-that-is-long"
    first = names.team_account_id(long_env, long_team)
    assert len(first) == 30 and first == names.team_account_id(long_env, long_team)
    assert first != names.team_account_id(long_env, long_team + "x")
    assert names.node_account_id("ml-dev", "main") == "ml-dev-main-nodes"  # unchanged: no cluster replacement
