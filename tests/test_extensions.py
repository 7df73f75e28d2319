"""Extension points, through the worked example package examples/acme-mlinfra-ext: a custom component referenced
from the config and a custom policy rule, found through entry points, planned and checked like built-ins.

The example is installed into a temporary directory (never into the test environment) and the CLI runs with it
on PYTHONPATH, the way a platform team's CI would after `pip install acme-mlinfra-ext`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlinfra.cli.app import app

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "acme-mlinfra-ext"
STACK = EXAMPLE / "stacks" / "gcp-audit.yaml"


@pytest.fixture(scope="module")
def with_extension(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    target = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                           str(EXAMPLE)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(target), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlinfra.cli", *args], env=env, capture_output=True, text=True,
                          timeout=600, cwd=ROOT)


def test_custom_component_is_planned_with_the_target_provider(with_extension: dict[str, str]) -> None:
    assert _cli(with_extension, "validate", str(STACK)).returncode == 0
    result = _cli(with_extension, "plan", str(STACK), "--json", "-")
    assert result.returncode == 0, result.stderr
    resources = json.loads(result.stdout)["resources"]
    (component,) = [r for r in resources if r["type"] == "acme:index:AuditArchive"]
    assert component["name"] == "ml-dev-audit" and component["config_path"] == "extensions[0]"
    (bucket,) = [r for r in resources if r["parent"] == component["urn"]]
    assert bucket["type"] == "gcp:storage/bucket:Bucket" and bucket["inputs"]["retentionPolicy"]
    assert bucket["provider"] and "pulumi:providers:gcp" in bucket["provider"]  # the target's provider


def test_custom_rule_runs_with_the_catalog(with_extension: dict[str, str], tmp_path: Path) -> None:
    listed = json.loads(_cli(with_extension, "policy", "list", "-f", "json").stdout)
    assert "acme-gcp-storage-audit-retention" in {r["id"] for r in listed}
    clean = _cli(with_extension, "policy", "check", str(STACK))
    assert clean.returncode == 0, clean.stdout + clean.stderr
    short = tmp_path / "short.yaml"
    short.write_text(STACK.read_text().replace("retention_days: 400", "retention_days: 30"))
    result = _cli(with_extension, "policy", "check", str(short), "-f", "json")
    assert result.returncode == 1, result.stdout + result.stderr
    findings = [f for env in json.loads(result.stdout)["environments"] for f in env["findings"]]
    (finding,) = [f for f in findings if f["rule"] == "acme-gcp-storage-audit-retention"]
    assert finding["level"] == "mandatory" and "30 days" in finding["message"]
    assert finding["config_path"] == "extensions[0]" and finding["line"]


def test_custom_rule_is_in_the_crossguard_pack(with_extension: dict[str, str]) -> None:
    code = ("from mlinfra.policies.crossguard import build_policies\n"
            "print(sorted(p.name for p in build_policies('security') if p.name.startswith('acme-')))\n")
    done = subprocess.run([sys.executable, "-c", code], env=with_extension, capture_output=True, text=True)
    assert done.returncode == 0 and "acme-gcp-storage-audit-retention" in done.stdout, done.stderr


def test_invalid_settings_are_located(with_extension: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(STACK.read_text().replace("retention_days: 400", "retention_days: forever"))
    result = _cli(with_extension, "validate", str(bad))
    assert result.returncode == 2
    assert "extensions[0].settings.retention_days" in result.stderr and "Traceback" not in result.stderr


def test_missing_extension_is_bad_input_naming_it() -> None:
    result = CliRunner().invoke(app, ["validate", str(STACK)])
    assert result.exit_code == 2
    assert "unknown component 'audit-archive'" in result.output and "mlinfra.components" in result.output
    assert "unknown transform 'acme-owner-label'" in result.output
    planned = CliRunner().invoke(app, ["plan", str(STACK)])
    assert planned.exit_code == 2 and "unknown transform 'acme-owner-label'" in planned.output


def test_transform_labels_every_resource_that_takes_labels(with_extension: dict[str, str]) -> None:
    result = _cli(with_extension, "plan", str(STACK), "--json", "-")
    assert result.returncode == 0, result.stderr
    labelled = [r for r in json.loads(result.stdout)["resources"]
                if r["type"].startswith("gcp:") and isinstance(r["inputs"].get("labels"), dict)]
    assert labelled and all(r["inputs"]["labels"].get("acme-owner") == "ml-dev" for r in labelled)
    assert "gcp:storage/bucket:Bucket" in {r["type"] for r in labelled}


def test_missing_transform_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text((ROOT / "stacks" / "gcp-dev.yaml").read_text() + "\ntransforms: [acme-ownr-label]\n")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2 and "unknown transform 'acme-ownr-label'" in result.output


def test_replaced_component_is_built_instead_of_the_builtin(with_extension: dict[str, str]) -> None:
    result = _cli(with_extension, "plan", str(STACK), "--json", "-")
    assert result.returncode == 0, result.stderr
    resources = json.loads(result.stdout)["resources"]
    buckets = [r for r in resources if r["type"] == "mlinfra:gcp:GcsBucket"]
    owners = [r for r in resources if r["type"] == "gcp:storage/bucketObject:BucketObject"]
    assert buckets and {o["parent"] for o in owners} == {b["urn"] for b in buckets}
    assert all(o["inputs"]["name"] == "OWNERS" for o in owners)


def test_replacement_must_subclass_the_builtin(with_extension: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(STACK.read_text().replace("GcsBucket: acme-bucket", "GcsBucket: audit-archive"))
    result = _cli(with_extension, "validate", str(bad))
    assert result.returncode == 2 and "must subclass GcsBucket" in result.stderr, result.stderr
    typo = tmp_path / "typo.yaml"
    typo.write_text(STACK.read_text().replace("GcsBucket: acme-bucket", "GcsBuckt: acme-bucket"))
    result = _cli(with_extension, "validate", str(typo))
    assert result.returncode == 2 and "did you mean 'GcsBucket'" in result.stderr, result.stderr
