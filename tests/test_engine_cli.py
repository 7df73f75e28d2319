"""Engine verbs without running the engine: missing CLI, prompts, state and secrets locations, messages."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlinfra.cli.app import app
from mlinfra.cli.engine_cmds import stack_file
from mlinfra.stacks import engine
from mlinfra.stacks.loader import load

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
LOCAL = ROOT / "stacks" / "local.yaml"


def test_missing_engine_is_bad_input_with_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("MLINFRA_PULUMI_BIN", raising=False)
    result = runner.invoke(app, ["preview", str(LOCAL)])
    assert result.exit_code == 2, result.output
    assert "Pulumi CLI is not installed" in result.output and "scripts/bootstrap-engine" in result.output
    assert "Traceback" not in result.output


def test_explicit_engine_dir_must_hold_pulumi(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLINFRA_PULUMI_BIN", str(tmp_path))
    with pytest.raises(engine.EngineMissing, match="has no pulumi executable"):
        engine.pulumi_bin_dir()


def test_up_without_terminal_needs_yes_before_touching_anything(tmp_path: Path) -> None:
    result = runner.invoke(app, ["up", str(LOCAL)], input="")
    assert result.exit_code == 2 and "--yes" in result.output


def test_bad_stack_file_is_located_and_nothing_runs(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(LOCAL.read_text().replace("render_to:", "render_too:"))
    result = runner.invoke(app, ["up", str(bad), "--yes"])
    assert result.exit_code == 2 and f"{bad}:" in result.output and "render_too" in result.output


def test_environment_names_mean_stack_files() -> None:
    assert stack_file("local") == Path("stacks/local.yaml")
    assert stack_file("stacks/gcp-dev.yaml") == Path("stacks/gcp-dev.yaml")
    assert stack_file("other/dir/env.yml") == Path("other/dir/env.yml")


def test_default_state_and_workspace_live_under_the_project() -> None:
    env = engine.environment(load(LOCAL), LOCAL)
    assert env.project_dir == ROOT
    assert env.backend_url == (ROOT / ".mlinfra" / "state").as_uri()
    assert env.work_dir == ROOT / ".mlinfra" / "work" / "local"
    assert env.secrets_provider == "passphrase"
    assert engine.environment(load(LOCAL), LOCAL, backend="s3://b/p").backend_url == "s3://b/p"
    prod = engine.environment(load(ROOT / "stacks" / "aws-prod.yaml"), ROOT / "stacks" / "aws-prod.yaml")
    assert prod.backend_url.startswith("s3://") and prod.secrets_provider.startswith("awskms://")


def test_passphrase_file_is_created_once_private_with_a_warning(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    (tmp_path / "stacks").mkdir()
    file = tmp_path / "stacks" / "local.yaml"
    file.write_text(LOCAL.read_text())
    env = engine.environment(load(file), file)
    warnings: list[str] = []
    first = engine.passphrase_env(env, warnings.append)
    path = Path(first["PULUMI_CONFIG_PASSPHRASE_FILE"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(path.read_text().strip()) >= 32
    assert len(warnings) == 1 and "Keep it safe" in warnings[0]
    assert engine.passphrase_env(env, warnings.append) == first and len(warnings) == 1
    os.chmod(path, 0o644)
    with pytest.raises(engine.EngineError, match="chmod 600"):
        engine.passphrase_env(env, warnings.append)
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "from-env")
    assert engine.passphrase_env(env, warnings.append) == {}


def test_render_dir_is_resolved_from_where_mlinfra_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    config = load(LOCAL)
    env = engine.environment(config, LOCAL)
    monkeypatch.chdir(ROOT)
    assert engine.render_relative(config, env).target.render_to == config.target.render_to
    monkeypatch.chdir(ROOT / "stacks")
    assert engine.render_relative(config, env).target.render_to == "../.mlinfra/render/local"


def test_prod_needs_remote_state_and_kms(tmp_path: Path) -> None:
    text = (ROOT / "stacks" / "aws-prod.yaml").read_text()
    start = text.index("backend:")
    end = text.index("target:")
    path = tmp_path / "prod.yaml"
    path.write_text(text[:start] + text[end:])
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "backend.url: prod state lives in a remote backend" in result.output
    assert "backend.secrets_provider: prod secrets are encrypted with a KMS key" in result.output
