"""`mlinfra policy check|list`: exit codes (0 clean, 1 violation or expired waiver, 2 bad input) and outputs."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mlinfra.cli.app import app
from mlinfra.policies.check import all_rules

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
LOCAL = ROOT / "stacks" / "local.yaml"
ONPREM = ROOT / "stacks" / "onprem-prod.yaml"


RAISED = "k8s-namespace-default-deny"  # advisory in the catalog; local.yaml's add-on namespaces break it


def _violating(tmp_path: Path, extra: str = "") -> Path:
    """local.yaml raising an advisory rule it breaks to mandatory: a blocking violation."""
    text = LOCAL.read_text() + f"\npolicies:\n  rules:\n    {RAISED}: mandatory\n"
    path = tmp_path / "violating.yaml"
    path.write_text(text + extra)
    return path


def test_clean_environments_exit_0() -> None:
    result = runner.invoke(app, ["policy", "check", str(LOCAL), str(ONPREM)])
    assert result.exit_code == 0, result.output
    assert "local" in result.stdout and "onprem" in result.stdout


def test_mandatory_violation_exits_1_and_names_rule_file_and_line(tmp_path: Path) -> None:
    path = _violating(tmp_path)
    result = runner.invoke(app, ["policy", "check", str(LOCAL), str(path), "--format", "json"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    ids = {f["rule"] for env in data["environments"] for f in env["findings"]}
    assert RAISED in ids
    clean, violating = data["environments"]
    assert clean["verdict"] == "pass" and violating["verdict"] == "fail"
    finding = next(f for f in violating["findings"] if f["rule"] == RAISED)
    assert finding["file"] == str(path) and finding["line"] and finding["level"] == "mandatory"


def test_expired_waiver_exits_1(tmp_path: Path) -> None:
    waiver = ("\nwaivers:\n  - {policy: residency-onprem-site-allowed, resource: '*', reason: moving sites this "
              "quarter, owner: platform@example.com, expires: 2020-01-01}\n")
    path = tmp_path / "expired.yaml"
    path.write_text(LOCAL.read_text() + waiver)
    result = runner.invoke(app, ["policy", "check", str(path)])
    assert result.exit_code == 1, result.output


def test_waiver_that_holds_exits_0_and_is_reported(tmp_path: Path) -> None:
    waiver = (f"\nwaivers:\n  - {{policy: {RAISED}, resource: '*', reason: add-on network policies next "
              "quarter, owner: platform@example.com, expires: 2030-01-01}\n")
    path = _violating(tmp_path, waiver)
    result = runner.invoke(app, ["policy", "check", str(path), "--format", "json", "--today", "2026-11-25"])
    assert result.exit_code == 0, result.output
    assert "platform@example.com" in result.stdout


@pytest.mark.parametrize("args", [
    ["policy", "check", "does-not-exist.yaml"],
    ["policy", "check", str(LOCAL), "--format", "yaml"],
    ["policy", "check", str(LOCAL), "--format", "json", "--format", "sarif"],
    ["policy", "check", str(LOCAL), "--today", "tomorrow"],
    ["policy", "list", "--target", "azure"],
])
def test_bad_input_exits_2_without_traceback(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "error" in result.output.lower()


def test_invalid_stack_file_is_located(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(LOCAL.read_text().replace("render_to:", "render_too:"))
    result = runner.invoke(app, ["policy", "check", str(path), str(LOCAL)])
    assert result.exit_code == 2
    assert f"{path}:" in result.output and "render_too" in result.output and "nothing was judged" in result.output


def test_several_formats_to_files(tmp_path: Path) -> None:
    path = _violating(tmp_path)
    sarif, junit, md = tmp_path / "out.sarif", tmp_path / "junit.xml", tmp_path / "summary.md"
    result = runner.invoke(app, ["policy", "check", str(path), "-f", "github", "-f", f"sarif={sarif}",
                                 "-f", f"junit={junit}", "-f", f"markdown={md}"])
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("::error ")
    assert json.loads(sarif.read_text())["version"] == "2.1.0"
    assert ET.fromstring(junit.read_text()).iter("failure")
    assert RAISED in md.read_text()


def test_pack_filter(tmp_path: Path) -> None:
    path = _violating(tmp_path)
    assert runner.invoke(app, ["policy", "check", str(path), "--pack", "security"]).exit_code == 1
    result = runner.invoke(app, ["policy", "check", str(path), "--pack", "residency"])
    assert result.exit_code == 0 and RAISED not in result.stdout


def test_list_formats() -> None:
    table = runner.invoke(app, ["policy", "list"])
    assert table.exit_code == 0 and f"{len(all_rules())} rules" in table.stdout
    data = json.loads(runner.invoke(app, ["policy", "list", "--format", "json", "--pack", "residency"]).stdout)
    assert data and all(r["pack"] == "residency" for r in data)
    aws = json.loads(runner.invoke(app, ["policy", "list", "--format", "json", "--target", "aws"]).stdout)
    assert aws and all("aws" in r["targets"] for r in aws)


def test_committed_ci_examples_use_real_commands() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "policy-check.yml").read_text())
    runs = " ".join(step.get("run", "") for step in workflow["jobs"]["policy"]["steps"])
    assert "mlinfra policy check" in runs and "sarif=" in runs
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    for hook in hooks:
        command = hook["entry"].split()
        assert command[0] == "mlinfra"
        assert runner.invoke(app, [*command[1:], "--help"]).exit_code == 0
