"""The catalog as a whole, and the offline evaluation semantics every rule shares: levels, waivers, unknowns."""

from __future__ import annotations

import datetime as dt
import pickle
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from mlinfra.policies.catalog import FRAMEWORKS, SEVERITIES, TARGETS, Resource, Rule, resource_rule, rule_by_id
from mlinfra.policies.check import all_rules, check_file, check_files, reference_issues
from mlinfra.policies.context import PolicyContext
from mlinfra.policies.docs import catalog_markdown
from mlinfra.policies.engine import effective_level, evaluate, run_resource_rule
from mlinfra.policies.rules import BUILTIN
from mlinfra.policies.testing import example
from mlinfra.stacks.config import PoliciesConfig, StackConfig
from mlinfra.stacks.loader import ConfigError, load_document

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (ROOT / "stacks").glob("*.yaml"))
TODAY = dt.date(2026, 11, 25)


# ----- the registry -----------------------------------------------------------------------------------------


def test_ids_are_unique_and_metadata_complete() -> None:
    rules = all_rules()
    ids = [r.id for r in rules]
    assert len(ids) == len(set(ids))
    for rule in rules:
        assert rule.severity in SEVERITIES and set(rule.targets) <= set(TARGETS)
        assert rule.title and rule.rationale and rule.fix and rule.doc, rule.id
        assert all(c.framework in FRAMEWORKS and c.id for c in rule.controls), rule.id
    for rule in BUILTIN:
        assert rule.id.split("-")[0] in {"gcp", "aws", "k8s", "residency", "stack"}, rule.id


def test_catalog_size_and_families() -> None:
    rules = BUILTIN
    security = [r for r in rules if r.pack == "security"]
    assert len(security) >= 40
    for vendor in ("gcp", "aws", "k8s"):
        assert any(r.id.startswith(f"{vendor}-") for r in security), vendor
    assert len([r for r in rules if r.pack == "residency"]) >= 8
    assert any(r.scope == "stack" for r in security)


def test_invalid_rule_metadata_is_refused() -> None:
    with pytest.raises(ValueError, match="kebab"):
        resource_rule(id="Bad_ID", title="t", severity="high", types=("gcp:*",), rationale="r", fix="f")(
            lambda res, ctx: iter(()))
    with pytest.raises(ValueError, match="severity"):
        resource_rule(id="gcp-x-y-z", title="t", severity="urgent", types=("gcp:*",),  # type: ignore[arg-type]
                      rationale="r", fix="f")(lambda res, ctx: iter(()))


def test_rules_pickle_by_id() -> None:
    rule = all_rules()[0]
    assert pickle.loads(pickle.dumps(rule)) is rule
    assert rule_by_id(rule.id) is rule


def test_docs_policies_md_is_fresh() -> None:
    committed = (ROOT / "docs" / "policies.md").read_text(encoding="utf-8")
    assert committed == catalog_markdown(BUILTIN), (
        "docs/policies.md is stale: run `mlinfra policy list --format markdown > docs/policies.md`")


# ----- every example environment passes -----------------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_have_no_mandatory_violation(path: Path) -> None:
    report = check_file(path, today=TODAY)
    assert report.mandatory == 0, [(f.rule.id, f.resource, f.message) for f in report.findings if f.blocking]
    assert not report.expired_waivers
    assert report.evaluations > report.resources


# ----- levels ----------------------------------------------------------------------------------------------------

_MANDATORY = rule_by_id("residency-gcp-location-allowed")
_ADVISORY = rule_by_id("residency-gcp-logging-bucket-location")


@pytest.mark.parametrize(("settings", "rule", "level"), [
    (None, _MANDATORY, "mandatory"),
    (PoliciesConfig(), _ADVISORY, "advisory"),
    (PoliciesConfig(enforcement="advisory"), _MANDATORY, "advisory"),
    (PoliciesConfig(enforcement="mandatory"), _ADVISORY, "mandatory"),
    (PoliciesConfig(enforcement="advisory", rules={_MANDATORY.id: "mandatory"}), _MANDATORY, "mandatory"),
    (PoliciesConfig(rules={_MANDATORY.id: "disabled"}), _MANDATORY, "disabled"),
])
def test_effective_level(settings: PoliciesConfig | None, rule: Rule, level: str) -> None:
    assert effective_level(rule, settings) == level


def _gcp_dev(**update: Any) -> StackConfig:
    data = example("gcp-dev").config.model_dump(mode="json")
    data.update(update)
    return StackConfig.model_validate(data)


def _relocated(config: StackConfig) -> Any:
    """gcp-dev's plan with one bucket moved to the US: a residency violation."""
    ex = example("gcp-dev")
    import dataclasses

    bucket = next(r for r in ex.plan.resources if r.type == "gcp:storage/bucket:Bucket")
    moved = dataclasses.replace(bucket, inputs={**bucket.inputs, "location": "US"})
    return dataclasses.replace(ex.plan, resources=[moved if r is bucket else r for r in ex.plan.resources]), moved


def test_environment_levels_decide_blocking() -> None:
    plan, moved = _relocated(example("gcp-dev").config)
    rules = [_MANDATORY]
    blocking = evaluate(plan, _gcp_dev(), rules, today=TODAY)
    assert blocking.failed and [f.resource for f in blocking.findings if f.blocking] == [moved.name]
    relaxed = evaluate(plan, _gcp_dev(policies={"rules": {_MANDATORY.id: "advisory"}}), rules, today=TODAY)
    assert not relaxed.failed and relaxed.advisory == 1
    off = evaluate(plan, _gcp_dev(policies={"rules": {_MANDATORY.id: "disabled"}}), rules, today=TODAY)
    assert off.findings == [] and off.rules == 0


# ----- waivers ---------------------------------------------------------------------------------------------------


def _waiver(resource: str, expires: dt.date, policy: str = _MANDATORY.id) -> dict[str, Any]:
    return {"policy": policy, "resource": resource, "reason": "temporary: data migration to EU",
            "owner": "platform@example.com", "expires": expires.isoformat()}


def test_waived_findings_are_counted_not_dropped() -> None:
    plan, moved = _relocated(example("gcp-dev").config)
    report = evaluate(plan, _gcp_dev(waivers=[_waiver(moved.name, TODAY)]), [_MANDATORY], today=TODAY)
    assert not report.failed and report.waived == 1 and report.mandatory == 0
    (finding,) = report.findings
    assert finding.waived and finding.waiver is not None and finding.waiver.owner == "platform@example.com"
    assert report.waivers[0].used == 1 and not report.waivers[0].expired


@pytest.mark.parametrize("pattern", ["*", "ml-dev-raw*", "URN"])
def test_waiver_matches_name_glob_and_urn(pattern: str) -> None:
    plan, moved = _relocated(example("gcp-dev").config)
    resource = moved.urn if pattern == "URN" else pattern
    report = evaluate(plan, _gcp_dev(waivers=[_waiver(resource, TODAY)]), [_MANDATORY], today=TODAY)
    assert report.waived == 1, [f.resource for f in report.findings]


def test_expired_waiver_fails_even_when_it_matches_nothing() -> None:
    plan, moved = _relocated(example("gcp-dev").config)
    yesterday = TODAY - dt.timedelta(days=1)
    report = evaluate(plan, _gcp_dev(waivers=[_waiver(moved.name, yesterday)]), [_MANDATORY], today=TODAY)
    assert report.failed and report.mandatory == 1 and len(report.expired_waivers) == 1
    assert report.findings[0].expired_waiver is not None
    clean = evaluate(example("gcp-dev").plan, _gcp_dev(waivers=[_waiver("nothing-like-this", yesterday)]),
                     [_MANDATORY], today=TODAY)
    assert clean.mandatory == 0 and clean.failed


def test_unused_waiver_is_reported() -> None:
    report = evaluate(example("gcp-dev").plan, _gcp_dev(waivers=[_waiver("nothing-like-this", TODAY)]),
                      [_MANDATORY], today=TODAY)
    assert report.waivers[0].used == 0 and not report.failed


def test_unknown_policy_ids_are_located_bad_input(tmp_path: Path) -> None:
    text = (ROOT / "stacks" / "gcp-dev.yaml").read_text()
    text = text.replace("waivers: []", "waivers:\n  - {policy: residency-gcp-locaton-allowed, resource: '*', "
                        "reason: testing the check, owner: me@example.com, expires: 2030-01-01}")
    path = tmp_path / "dev.yaml"
    path.write_text(text)
    config, tree = load_document(path)
    (issue,) = reference_issues(config, tree, str(path))
    assert issue.path == "waivers[0].policy" and "did you mean 'residency-gcp-location-allowed'" in issue.message
    assert issue.line == text.splitlines().index("waivers:") + 2
    with pytest.raises(ConfigError):
        check_file(path)


# ----- unknowns and rule errors ------------------------------------------------------------------------------


def test_unknown_value_fails_closed_and_says_so() -> None:
    bucket = example("gcp-dev").first("gcp:storage/bucket:Bucket")
    unknown = Resource(bucket.type, {**bucket.props, "location": UNKNOWN_STRING_VALUE}, bucket.urn, bucket.name)
    (outcome,) = run_resource_rule(_MANDATORY, unknown, PolicyContext(allowed_regions=("eu",)))
    assert outcome.unknown and "can't be known" in outcome.message and "fails closed" in outcome.message


def test_has_treats_unknown_as_set() -> None:
    res = Resource("gcp:x/y:Z", {"a": {"b": UNKNOWN_STRING_VALUE}, "e": ""}, "urn", "n")
    assert res.has("a", "b") and res.has("a") and not res.has("e") and not res.has("missing", "deeper")


def test_a_crashing_rule_is_a_violation_not_a_crash() -> None:
    @resource_rule(id="gcp-test-rule-crash", title="t", severity="low", types=("gcp:*",), rationale="r", fix="f")
    def crash(res: Resource, context: PolicyContext) -> Any:
        """Crashes."""
        raise KeyError("boom")

    bucket = example("gcp-dev").first("gcp:storage/bucket:Bucket")
    (outcome,) = run_resource_rule(crash, bucket, PolicyContext())
    assert "rule error" in outcome.message and "KeyError" in outcome.message


def test_parallel_check_matches_serial() -> None:
    paths = [ROOT / "stacks" / "local.yaml", ROOT / "stacks" / "onprem-prod.yaml"]
    serial = check_files(paths, today=TODAY)
    parallel = check_files(paths, today=TODAY, jobs=2)
    summary = [[(f.rule.id, f.urn, f.level) for f in r.findings] for r in serial]  # type: ignore[union-attr]
    assert summary == [[(f.rule.id, f.urn, f.level) for f in r.findings] for r in parallel]  # type: ignore[union-attr]
    assert [r.evaluations for r in serial] == [r.evaluations for r in parallel]  # type: ignore[union-attr]


def test_every_rule_has_fixtures_in_a_policy_test() -> None:
    text = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").glob("test_policy_*.py"))
    missing = [r.id for r in BUILTIN if f'"{r.id}"' not in text and f"'{r.id}'" not in text]
    assert not missing, f"rules without fixtures: {missing}"
