"""Report renderers: every format over several environments, with waived, expired and unknown findings.

Reports are built by hand (the catalog is still growing), plus one real ``check_file`` run. SARIF is
validated against the official OASIS SARIF 2.1.0 schema vendored in ``tests/data`` (see its README).
"""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mlinfra.policies import report as rp
from mlinfra.policies.catalog import CIS_GCP, CIS_GKE, Resource, Rule, cis
from mlinfra.policies.context import PolicyContext
from mlinfra.policies.engine import Finding, Report, WaiverStatus
from mlinfra.stacks.config import Waiver

DATA = Path(__file__).resolve().parent / "data"
ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((DATA / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
TODAY = dt.date(2030, 6, 1)
NASTY = 'a | b <b>bold</b> 50% done, key: value\nsecond line `tick` [eu] & "q"'


def _check(res: Resource, context: PolicyContext) -> Iterator[str]:
    """A check that never runs in these tests."""
    yield from ()


def _rule(id: str, *, severity: str = "high", enforcement: str = "mandatory", **kw: Any) -> Rule:
    return Rule(
        id=id, title=f"title of {id}", severity=severity, enforcement=enforcement,  # type: ignore[arg-type]
        pack=kw.get("pack", "security"), targets=kw.get("targets", ("gcp",)), types=("gcp:storage/bucket:Bucket",),
        controls=kw.get("controls", ()), rationale=f"why {id} matters", fix=f"fix for {id}", check=_check,
    )


VERSIONING = _rule("gcp-storage-bucket-versioning", controls=cis(CIS_GCP, "5.3"))
CMEK = _rule("gcp-storage-bucket-cmek", severity="critical", controls=(*cis(CIS_GCP, "5.1"), *cis(CIS_GKE, "5.9.1")))
LOGGING = _rule("gcp-storage-bucket-logging", severity="low", enforcement="advisory")
RESIDENCY = _rule("residency-gcp-location-allowed", severity="medium", pack="residency")
NEVER_FIRED = _rule("gcp-storage-bucket-public-access", severity="medium")
DISABLED = _rule("gcp-storage-bucket-retention", severity="low", enforcement="disabled")
CATALOG = (VERSIONING, CMEK, LOGGING, RESIDENCY, NEVER_FIRED, DISABLED)


def waiver(policy: str, resource: str, *, expires: dt.date, owner: str = "data-team@example.com",
           reason: str = "migration to the new bucket layout in progress") -> Waiver:
    return Waiver(policy=policy, resource=resource, reason=reason, owner=owner, expires=expires)


def finding(rule: Rule, resource: str, message: str, *, file: str = "stacks/prod.yaml", line: int | None = 10,
            level: str | None = None, urn: str | None = "default", **kw: Any) -> Finding:
    if urn == "default":
        urn = f"urn:pulumi:prod::mlinfra::gcp:storage/bucket:Bucket::{resource}"
    return Finding(
        rule=rule, level=level or ("advisory" if rule.enforcement == "advisory" else "mandatory"),  # type: ignore
        message=message, urn=urn, resource=resource, resource_type="gcp:storage/bucket:Bucket",
        config_path="storage.buckets[0]", file=file, line=line, **kw,
    )


HOLDING = waiver("gcp-storage-bucket-cmek", "ml-prod-scratch", expires=dt.date(2031, 1, 31))
EXPIRED = waiver("gcp-storage-bucket-versioning", "ml-prod-raw", expires=dt.date(2030, 1, 1), owner="ops@example.com")
UNUSED = waiver("gcp-storage-bucket-logging", "ml-prod-gone", expires=dt.date(2031, 1, 1))


def prod() -> Report:
    """Fails: an unknown-at-plan-time violation, one behind an expired waiver, and the expired waiver itself."""
    return Report(
        file="stacks/prod.yaml", environment="ml-prod",
        findings=[
            finding(CMEK, "ml-prod-models", "kmsKeyName: not known yet: cannot be judged before the update runs; "
                    "the rule fails closed", line=31, unknown=True),
            finding(VERSIONING, "ml-prod-raw", "versioning is off", line=40, expired_waiver=EXPIRED),
            finding(LOGGING, "ml-prod-raw", NASTY, line=40),
            finding(CMEK, "ml-prod-scratch", "no customer-managed key", line=52, waiver=HOLDING),
        ],
        waivers=[WaiverStatus(HOLDING, 0, 120, expired=False, used=1),
                 WaiverStatus(EXPIRED, 1, 125, expired=True, used=0),
                 WaiverStatus(UNUSED, 2, 130, expired=False, used=0)],
        resources=200, evaluations=400, rules=5,
    )


def dev() -> Report:
    """Clean."""
    return Report(file="stacks/dev.yaml", environment="ml-dev", resources=50, evaluations=90, rules=5)


def staging() -> Report:
    """Passes with advisories: one located nowhere (a stack rule on no resource), one in a Windows-style path."""
    return Report(
        file="stacks/staging.yaml", environment="ml-staging",
        findings=[
            finding(RESIDENCY, "ml-staging", "allow-list is empty", file="stacks/staging.yaml", line=None, urn=None,
                    level="advisory"),
            finding(LOGGING, "ml-staging-logs", "no access logs", file="stacks\\eu, west\\staging.yaml", line=7),
        ],
        resources=60, evaluations=100, rules=5,
    )


@pytest.fixture
def reports() -> list[Report]:
    return [prod(), dev(), staging()]


def validate_sarif(text: str) -> dict[str, Any]:
    data = json.loads(text)
    validator = jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
    return data


# ----- shared ----------------------------------------------------------------------------------------------


def test_formats_are_the_cli_names_and_render_nothing_gracefully() -> None:
    assert list(rp.FORMATS) == ["table", "json", "sarif", "junit", "github", "markdown"]
    for name, render in rp.FORMATS.items():
        out = render([], CATALOG)
        assert isinstance(out, str) and out, name
    validate_sarif(rp.sarif([], CATALOG))


def test_renderers_are_pure(reports: list[Report]) -> None:
    for name, render in rp.FORMATS.items():
        assert render(reports, CATALOG) == render(reports, CATALOG), name
    assert [r.environment for r in reports] == ["ml-prod", "ml-dev", "ml-staging"]


def test_fixture_counts_match_the_engine(reports: list[Report]) -> None:
    p = reports[0]
    assert (p.mandatory, p.advisory, p.waived, len(p.expired_waivers), p.failed) == (2, 1, 1, 1, True)
    assert not reports[1].failed and not reports[2].failed


def test_verdict_line() -> None:
    assert rp.verdict_line([prod(), dev(), staging()]) == (
        "FAILED (2 mandatory violations and 1 expired waiver in 1 of 3 environments)")
    assert rp.verdict_line([dev(), staging()]) == "PASSED (2 environments, 2 advisory findings, 0 waived)"
    only_expired = dev()
    only_expired.waivers = [WaiverStatus(EXPIRED, 0, 3, expired=True, used=0)]
    assert rp.verdict_line([only_expired]) == "FAILED (1 expired waiver in 1 of 1 environment)"


# ----- table -----------------------------------------------------------------------------------------------


def test_table_lists_everything_without_color(reports: list[Report]) -> None:
    out = rp.table(reports, CATALOG)
    flat = " ".join(out.split())  # cells wrap at spaces; read them back as one line
    assert "\x1b[" not in out
    assert all(len(line) <= 120 for line in out.splitlines())
    for text in ("ml-prod (stacks/prod.yaml) FAIL", "ml-dev (stacks/dev.yaml) PASS", "No findings.",
                 "gcp-storage-bucket-versioning", "stacks/prod.yaml:31", "mandatory (unknown)",
                 "its waiver expired on 2030-01-01", "[eu]", "<b>bold</b>", "50%",
                 "Waived (1)", "data-team@example.com", "2031-01-31",
                 "Expired waivers (1): each fails the check", "ops@example.com", "stacks/prod.yaml:125",
                 "Unused waiver at stacks/prod.yaml:130: gcp-storage-bucket-logging on 'ml-prod-gone'",
                 "mandatory 2, advisory 1, waived 1, expired waivers 1, unknown at plan time 1, evaluations 400, "
                 "resources 200, rules 5",
                 "Total: 3 environments, 1 failed",
                 "mlinfra policy check: FAILED (2 mandatory violations and 1 expired waiver in 1 of 3 environments)"):
        assert text in flat, text
    # blocking rows come before advisory ones
    assert out.index("gcp-storage-bucket-cmek") < out.index("gcp-storage-bucket-logging")
    for rule_id in ("gcp-storage-bucket-cmek", "gcp-storage-bucket-versioning", "residency-gcp-location-allowed"):
        assert rule_id in out  # at 120 columns ids and locations are not folded


def test_table_color_and_width() -> None:
    colored = rp.table([prod()], CATALOG, color=True)
    assert "\x1b[" in colored
    narrow = rp.table([prod()], CATALOG, width=80)
    assert all(len(line) <= 80 for line in narrow.splitlines())
    assert "Total:" not in narrow  # one environment: no totals block, just the verdict


# ----- json ------------------------------------------------------------------------------------------------


def test_json_document(reports: list[Report]) -> None:
    data = json.loads(rp.json_report(reports, CATALOG))
    assert data["format"] == "mlinfra-policy-report/v1" and data["verdict"] == "fail"
    assert data["tool"]["name"] == "mlinfra"
    assert data["totals"] == {"environments": 3, "resources": 310, "evaluations": 590, "mandatory": 2,
                              "advisory": 3, "waived": 1, "expired_waivers": 1, "unknown": 1,
                              "failed_environments": 1}
    prod_env, dev_env, staging_env = data["environments"]
    assert [e["verdict"] for e in data["environments"]] == ["fail", "pass", "pass"]
    assert prod_env["file"] == "stacks/prod.yaml" and prod_env["name"] == "ml-prod"
    assert prod_env["counts"] == {"mandatory": 2, "advisory": 1, "waived": 1, "expired_waivers": 1, "unknown": 1,
                                  "resources": 200, "evaluations": 400, "rules": 5}
    by_key = {(f["rule"], f["resource"]): f for f in prod_env["findings"]}
    unknown = by_key["gcp-storage-bucket-cmek", "ml-prod-models"]
    assert unknown["unknown"] is True and unknown["status"] == "violation" and unknown["blocking"] is True
    assert unknown["severity"] == "critical" and unknown["level"] == "mandatory" and unknown["line"] == 31
    assert unknown["urn"].endswith("::ml-prod-models") and unknown["type"] == "gcp:storage/bucket:Bucket"
    assert unknown["config_path"] == "storage.buckets[0]" and "waiver" not in unknown
    waived = by_key["gcp-storage-bucket-cmek", "ml-prod-scratch"]
    assert waived["status"] == "waived" and waived["blocking"] is False
    assert waived["waiver"] == {"reason": HOLDING.reason, "owner": "data-team@example.com", "expires": "2031-01-31"}
    assert by_key["gcp-storage-bucket-versioning", "ml-prod-raw"]["expired_waiver"]["expires"] == "2030-01-01"
    assert by_key["gcp-storage-bucket-logging", "ml-prod-raw"]["message"] == NASTY
    assert [(w["policy"], w["expired"], w["used"], w["line"]) for w in prod_env["waivers"]] == [
        ("gcp-storage-bucket-cmek", False, 1, 120), ("gcp-storage-bucket-versioning", True, 0, 125),
        ("gcp-storage-bucket-logging", False, 0, 130)]
    assert dev_env["findings"] == [] and dev_env["waivers"] == []
    assert staging_env["findings"][0]["line"] is None or staging_env["findings"][1]["line"] is None


def test_json_findings_order_blocking_advisory_waived() -> None:
    data = json.loads(rp.json_report([prod()], CATALOG))
    statuses = [(f["blocking"], f["status"]) for f in data["environments"][0]["findings"]]
    assert statuses == [(True, "violation"), (True, "violation"), (False, "violation"), (False, "waived")]


# ----- sarif -----------------------------------------------------------------------------------------------


def test_the_vendored_schema_is_the_oasis_one_and_it_bites() -> None:
    assert SCHEMA["id"] == "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
    data = json.loads(rp.sarif([prod()], CATALOG))
    del data["runs"][0]["results"][0]["message"]
    data["runs"][0]["results"][1]["level"] = "fatal"
    with pytest.raises(AssertionError):
        validate_sarif(json.dumps(data))


def test_sarif_is_valid_against_the_official_schema(reports: list[Report]) -> None:
    data = validate_sarif(rp.sarif(reports, CATALOG))
    assert data["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json" and data["version"] == "2.1.0"
    assert len(data["runs"]) == 1
    driver = data["runs"][0]["tool"]["driver"]
    assert driver["name"] == "mlinfra" and driver["version"]


def test_sarif_rules_are_the_catalog_rules_with_results(reports: list[Report]) -> None:
    run = json.loads(rp.sarif(reports, CATALOG))["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    # catalog order, only rules with results, then the synthetic expired-waiver rule
    assert [r["id"] for r in rules] == ["gcp-storage-bucket-versioning", "gcp-storage-bucket-cmek",
                                        "gcp-storage-bucket-logging", "residency-gcp-location-allowed",
                                        "mlinfra-waiver-expired"]
    cmek = rules[1]
    assert cmek["name"] == "GcpStorageBucketCmek"
    assert cmek["shortDescription"]["text"] == "title of gcp-storage-bucket-cmek"
    assert cmek["fullDescription"]["text"] == "why gcp-storage-bucket-cmek matters"
    assert "fix for gcp-storage-bucket-cmek" in cmek["help"]["text"]
    assert "CIS GCP 3.0.0 5.1" in cmek["help"]["text"] and "CIS GKE 1.7.0 5.9.1" in cmek["help"]["text"]
    assert cmek["defaultConfiguration"]["level"] == "error"
    assert cmek["properties"]["security-severity"] == "9.5"
    assert {"security", "critical", "gcp", "CIS GCP 3.0.0 5.1"} <= set(cmek["properties"]["tags"])
    assert rules[2]["defaultConfiguration"]["level"] == "warning"
    assert rules[2]["properties"]["security-severity"] == "3.0"
    assert rules[3]["properties"]["security-severity"] == "5.5" and "residency" in rules[3]["properties"]["tags"]
    assert rules[0]["properties"]["security-severity"] == "8.0"
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_sarif_disabled_rule_maps_to_none() -> None:
    report = Report(file="s.yaml", environment="e", findings=[finding(DISABLED, "b", "m", level="advisory")])
    data = validate_sarif(rp.sarif([report], CATALOG))
    assert data["runs"][0]["tool"]["driver"]["rules"][0]["defaultConfiguration"]["level"] == "none"


def test_sarif_results(reports: list[Report]) -> None:
    results = json.loads(rp.sarif(reports, CATALOG))["runs"][0]["results"]
    assert len(results) == 4 + 1 + 2  # prod findings, prod's expired waiver, staging findings
    by = {(r["ruleId"], r["locations"][0]["logicalLocations"][0]["name"]): r for r in results}

    unknown = by["gcp-storage-bucket-cmek", "ml-prod-models"]
    assert unknown["level"] == "error" and "suppressions" not in unknown
    assert unknown["properties"]["unknown"] is True
    physical = unknown["locations"][0]["physicalLocation"]
    assert physical == {"artifactLocation": {"uri": "stacks/prod.yaml"}, "region": {"startLine": 31}}
    assert unknown["locations"][0]["logicalLocations"][0]["fullyQualifiedName"].endswith("::ml-prod-models")

    waived = by["gcp-storage-bucket-cmek", "ml-prod-scratch"]
    assert waived["suppressions"] == [{
        "kind": "external", "status": "accepted",
        "justification": f"{HOLDING.reason} (owner: data-team@example.com; expires 2031-01-31)",
        "properties": {"owner": "data-team@example.com", "expires": "2031-01-31"}}]

    advisory = by["gcp-storage-bucket-logging", "ml-prod-raw"]
    assert advisory["level"] == "warning" and advisory["message"]["text"] == NASTY

    expired = by["mlinfra-waiver-expired", "ml-prod-raw"]
    assert expired["level"] == "error"
    assert expired["locations"][0]["physicalLocation"]["region"] == {"startLine": 125}
    assert "expired on 2030-01-01" in expired["message"]["text"] and "ops@example.com" in expired["message"]["text"]
    assert "expired on 2030-01-01" in by["gcp-storage-bucket-versioning", "ml-prod-raw"]["message"]["text"]

    nowhere = by["residency-gcp-location-allowed", "ml-staging"]
    assert "region" not in nowhere["locations"][0]["physicalLocation"]
    assert "fullyQualifiedName" not in nowhere["locations"][0]["logicalLocations"][0]
    windows = by["gcp-storage-bucket-logging", "ml-staging-logs"]
    assert windows["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "stacks/eu,%20west/staging.yaml"

    prints = [r["partialFingerprints"]["mlinfraFinding/v1"] for r in results]
    assert len(set(prints)) == len(prints)
    again = json.loads(rp.sarif([prod()], CATALOG))["runs"][0]["results"]
    assert {r["partialFingerprints"]["mlinfraFinding/v1"] for r in again} <= set(prints)


def test_sarif_fingerprint_is_rule_urn_message() -> None:
    one = finding(VERSIONING, "b", "versioning is off", line=3)
    moved = finding(VERSIONING, "b", "versioning is off", line=99)
    other = finding(VERSIONING, "b", "another message", line=3)

    def fp(f: Finding) -> str:
        report = Report(file="s.yaml", environment="e", findings=[f])
        return json.loads(rp.sarif([report], CATALOG))["runs"][0]["results"][0]["partialFingerprints"][
            "mlinfraFinding/v1"]

    assert fp(one) == fp(moved) != fp(other)


@pytest.mark.parametrize(("given", "uri"), [
    ("stacks/gcp-prod.yaml", "stacks/gcp-prod.yaml"),
    ("stacks\\gcp-prod.yaml", "stacks/gcp-prod.yaml"),
    ("./my stacks/prod#1.yaml", "./my%20stacks/prod%231.yaml"),
    ("/work/main/stacks/prod.yaml", "file:///work/main/stacks/prod.yaml"),
    ("C:\\repo\\stacks\\prod.yaml", "file:///C:/repo/stacks/prod.yaml"),
])
def test_artifact_uri(given: str, uri: str) -> None:
    assert rp.artifact_uri(given) == uri


def test_sarif_information_uri_when_declared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rp, "information_uri", lambda: "https://example.org/mlinfra")
    data = validate_sarif(rp.sarif([prod()], CATALOG))
    assert data["runs"][0]["tool"]["driver"]["informationUri"] == "https://example.org/mlinfra"


def test_sarif_without_expired_waivers_has_no_synthetic_rule() -> None:
    data = validate_sarif(rp.sarif([staging(), dev()], CATALOG))
    ids = [r["id"] for r in data["runs"][0]["tool"]["driver"]["rules"]]
    assert "mlinfra-waiver-expired" not in ids and "gcp-storage-bucket-public-access" not in ids


# ----- junit -----------------------------------------------------------------------------------------------


def test_junit_structure(reports: list[Report]) -> None:
    root = ET.fromstring(rp.junit(reports, CATALOG))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("8", "3", "1")
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["ml-prod (stacks/prod.yaml)", "ml-dev (stacks/dev.yaml)",
                                               "ml-staging (stacks/staging.yaml)"]
    prod_suite, dev_suite, staging_suite = suites
    assert (prod_suite.get("tests"), prod_suite.get("failures"), prod_suite.get("skipped")) == ("5", "3", "1")
    cases = {c.get("name"): c for c in prod_suite.iter("testcase")}
    unknown = cases["gcp-storage-bucket-cmek [ml-prod-models]"]
    assert unknown.find("failure").get("type") == "unknown-at-plan-time"
    assert unknown.get("file") == "stacks/prod.yaml" and unknown.get("line") == "31"
    skipped = cases["gcp-storage-bucket-cmek [ml-prod-scratch]"].find("skipped")
    assert skipped.get("message").startswith("waived: no customer-managed key")
    assert "data-team@example.com" in skipped.get("message") and "2031-01-31" in skipped.get("message")
    advisory = cases["gcp-storage-bucket-logging [ml-prod-raw]"]
    assert advisory.find("failure") is None and advisory.find("skipped") is None
    assert NASTY in advisory.find("system-out").text
    expired = cases["waiver gcp-storage-bucket-versioning [ml-prod-raw]"]
    assert expired.find("failure").get("type") == "expired-waiver" and expired.get("line") == "125"
    behind_expired = cases["gcp-storage-bucket-versioning [ml-prod-raw]"].find("failure")
    assert "expired on 2030-01-01" in behind_expired.get("message")
    assert [c.get("name") for c in dev_suite.iter("testcase")] == ["all rules"]
    assert dev_suite.get("tests") == "1" and dev_suite.get("failures") == "0"
    assert all(c.find("failure") is None for c in staging_suite.iter("testcase"))
    located_nowhere = next(c for c in staging_suite.iter("testcase") if "ml-staging]" in c.get("name"))
    assert located_nowhere.get("line") is None


def test_junit_escapes_and_drops_what_xml_cannot_carry() -> None:
    bad = 'ctrl \x07 \x00 char & <tag> "quoted"'
    report = Report(file="s&<>.yaml", environment='env "x"', findings=[finding(VERSIONING, "b<1>", bad)])
    text = rp.junit([report], CATALOG)
    root = ET.fromstring(text)  # would raise on unescaped markup or control characters
    case = root.find("testsuite/testcase")
    assert case.get("name") == "gcp-storage-bucket-versioning [b<1>]"
    assert case.find("failure").get("message") == 'ctrl \ufffd \ufffd char & <tag> "quoted"'
    assert root.find("testsuite").get("file") == "s&<>.yaml"


# ----- github ----------------------------------------------------------------------------------------------


def test_github_commands(reports: list[Report]) -> None:
    lines = rp.github(reports, CATALOG).splitlines()
    commands = [line for line in lines if line.startswith("::")]
    assert len(commands) == 7
    assert lines[-1] == ("mlinfra policy check: FAILED (2 mandatory violations and 1 expired waiver in 1 of 3 "
                         "environments)")
    kinds = [c.split(" ", 1)[0] for c in commands]
    assert kinds == ["::error", "::error", "::warning", "::notice", "::error", "::warning", "::warning"]
    assert commands[0].startswith(
        "::error file=stacks/prod.yaml,line=31,title=gcp-storage-bucket-cmek::[ml-prod] ml-prod-models: kmsKeyName")
    notice = commands[3]
    assert "waived until 2031-01-31 (owner: data-team@example.com; reason: " in notice
    assert commands[4].startswith("::error file=stacks/prod.yaml,line=125,title=mlinfra-waiver-expired::")
    # a finding located nowhere has no line property
    assert "::warning file=stacks/staging.yaml,title=residency-gcp-location-allowed::" in commands[5] + commands[6]


def test_github_escaping(reports: list[Report]) -> None:
    commands = [c for c in rp.github(reports, CATALOG).splitlines() if c.startswith("::")]
    advisory = commands[2]
    assert "50%25 done, key: value%0Asecond line" in advisory  # data: %, CR, LF only
    windows = next(c for c in commands if "ml-staging-logs" in c)
    assert windows.startswith("::warning file=stacks/eu%2C west/staging.yaml,line=7,")  # properties: , and :
    assert rp.escape_data("a%b\r\nc") == "a%25b%0D%0Ac"
    assert rp.escape_property("x:y,z%\n") == "x%3Ay%2Cz%25%0A"
    assert all("\n" not in c and "\r" not in c for c in commands)


# ----- markdown --------------------------------------------------------------------------------------------


def test_markdown_comment(reports: list[Report]) -> None:
    out = rp.markdown(reports, CATALOG)
    assert out.startswith("## mlinfra policy check: FAILED (2 mandatory violations and 1 expired waiver in 1 of 3 "
                          "environments)\n")
    assert "| ml-prod | `stacks/prod.yaml` | **FAIL** | 2 | 1 | 1 | 1 | 1 | 200 | 400 |" in out
    assert "| ml-dev | `stacks/dev.yaml` | pass | 0 | 0 | 0 | 0 | 0 | 50 | 90 |" in out
    prod_part = out[out.index("### ml-prod"):out.index("### ml-staging")]
    order = [prod_part.index(h) for h in ("#### Blocking (2)", "#### Advisory (1)", "#### Waived (1)",
                                          "#### Expired waivers (1)", "#### Unused waivers (1)")]
    assert order == sorted(order)
    assert "### ml-dev" not in out  # nothing to detail
    assert "| `gcp-storage-bucket-cmek` | ml-prod-models | `stacks/prod.yaml:31` |" in out
    assert "(unknown at plan time)" in out
    assert "| `gcp-storage-bucket-versioning` | ml-prod-raw | `stacks/prod.yaml:125` | ops@example.com | 2030-01-01 |" \
        in out
    # cell escaping: no stray column breaks, raw HTML or line breaks inside a row
    assert "a \\| b &lt;b&gt;bold&lt;/b&gt; 50% done, key: value<br>second line `tick` [eu] &amp; \"q\"" in out
    assert "truncated" not in out


def test_markdown_rows_have_consistent_columns(reports: list[Report]) -> None:
    out = rp.markdown(reports, CATALOG)
    blocks = [b for b in out.split("\n\n") if b.startswith("| ")]
    assert blocks
    for block in blocks:
        widths = {len(line.replace("\\|", "").split(" | ")) for line in block.splitlines()}
        assert len(widths) == 1, block


def test_markdown_truncates_to_the_limit() -> None:
    many = Report(file="stacks/big.yaml", environment="ml-big", resources=5000, evaluations=9000,
                  findings=[finding(VERSIONING, f"bucket-{i:04d}", "versioning is off " + "x" * 200, line=i)
                            for i in range(1000)])
    full = rp.markdown([many], CATALOG, max_chars=10**9)
    assert len(full) > rp.GITHUB_COMMENT_LIMIT and "truncated" not in full
    cut = rp.markdown([many, prod()], CATALOG)
    assert len(cut) <= rp.GITHUB_COMMENT_LIMIT
    assert cut.startswith("## mlinfra policy check: FAILED")
    assert "| ml-prod |" in cut  # the tally of every environment survives
    assert "Details truncated to fit a GitHub comment" in cut
    shown = cut.count("| `gcp-storage-bucket-versioning` | bucket-")
    assert f"{1000 - shown + 6} more rows not shown" in cut  # the rest of big, plus all 6 detail rows of prod
    small = rp.markdown([prod()], CATALOG, max_chars=1500)
    assert len(small) <= 1500 and "more row" in small


# ----- a real environment ----------------------------------------------------------------------------------


def test_every_format_on_a_real_check(tmp_path: Path) -> None:
    from mlinfra.policies.check import all_rules, check_file

    real = check_file("stacks/gcp-prod.yaml" if Path("stacks/gcp-prod.yaml").exists()
                      else ROOT / "stacks" / "gcp-prod.yaml", today=TODAY)
    reports = [real, prod()]
    catalog = list(all_rules())
    data = validate_sarif(rp.sarif(reports, catalog))
    ids = {r["id"] for r in data["runs"][0]["tool"]["driver"]["rules"]}
    assert {f.rule.id for f in real.findings} <= ids
    doc = json.loads(rp.json_report(reports, catalog))
    assert doc["environments"][0]["counts"]["resources"] == real.resources > 0
    assert len(doc["environments"][0]["findings"]) == len(real.findings)
    ET.fromstring(rp.junit(reports, catalog))
    assert real.environment in rp.table(reports, catalog)
    assert real.environment in rp.markdown(reports, catalog)
    assert rp.github(reports, catalog).endswith("\n")
