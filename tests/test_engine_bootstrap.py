"""The Pulumi engine built by scripts/bootstrap-engine, proven end to end (docs/engine.md).

Tests marked ``engine`` need that build: they use the one in the bootstrap cache (``scripts/bootstrap-engine
--json``), or a bootstrap build whose ``bin`` is on PATH. Without one they FAIL and say how to build it: a
missing engine is never a silent skip. Deselect them with ``-m "not engine"`` where the engine is not wanted.

Every engine run here is offline: a local file backend, a passphrase secrets provider, automatic plugin
downloads disabled, ambient plugins ignored (the Kubernetes provider must come from the plugin cache), and a
Kubernetes provider in render mode (manifests written to a directory, no cluster).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BOOTSTRAP = ROOT / "scripts" / "bootstrap-engine"
SECURITY_PACK = ROOT / "policies" / "security"
HOW_TO_BUILD = (
    "the Pulumi engine is not built. Run `scripts/bootstrap-engine` (needs Go; builds the Pulumi CLI, the Python "
    "language host and the Kubernetes provider from the Go module proxy into ~/.cache/mlinfra/engine, or "
    "$MLINFRA_ENGINE_CACHE; about 15 minutes cold on 2 cores, seconds once cached), then re-run. "
    "See docs/engine.md."
)
STACK = "engine-proof"  # no stacks/engine-proof.yaml: the policy pack judges with the catalog's levels


@dataclass(frozen=True)
class Engine:
    bin: Path
    pulumi_version: str
    kubernetes_version: str

    @property
    def root(self) -> Path:
        """The PulumiCommand root: the directory whose bin/ holds pulumi."""
        return self.bin.parent

    def env(self, state: Path) -> dict[str, str]:
        """Variables for an offline engine run with state under ``state``."""
        env = {k: v for k, v in os.environ.items()
               if k not in {"MLINFRA_STACK_FILE", "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK", "PULUMI_ACCESS_TOKEN",
                            "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE_FILE"}}
        state.mkdir(parents=True, exist_ok=True)
        env.update({
            "PATH": f"{self.bin}{os.pathsep}{env.get('PATH', '')}",
            "PULUMI_BACKEND_URL": state.as_uri(),
            "PULUMI_CONFIG_PASSPHRASE": "engine-proof-passphrase",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_PYTHON_CMD": sys.executable,  # the Python that has pulumi, pulumi_kubernetes and mlinfra
        })
        return env


def _find_engine() -> Engine:
    result = subprocess.run([str(BOOTSTRAP), "--json"], capture_output=True, text=True, check=False)
    if result.returncode == 0:
        manifest = json.loads(result.stdout)
    else:
        pulumi = shutil.which("pulumi")
        path_manifest = Path(pulumi).resolve().parent.parent / "engine.json" if pulumi else None
        if path_manifest is None or not path_manifest.is_file():
            pytest.fail(f"{HOW_TO_BUILD}\n{result.stderr.strip()}", pytrace=False)
        manifest = json.loads(path_manifest.read_text(encoding="utf-8"))
    return Engine(Path(manifest["bin"]), manifest["pulumi_version"], manifest["kubernetes_provider_version"])


@functools.cache
def built_engine() -> Engine:
    """The engine, or a test failure (not a fixture error, not a skip) that says how to build it."""
    return _find_engine()


def configmap_program(render_dir: Path, provider_version: str | None, *, unlabelled_namespace: bool = False) \
        -> Callable[[], None]:
    """A Kubernetes provider in render mode and a ConfigMap through it (optionally a Namespace that the security
    pack's k8s-namespace-pod-security-enforce rule rejects). ``provider_version=None``: the SDK's default."""

    def program() -> None:
        import pulumi
        import pulumi_kubernetes as k8s

        # The provider is requested at the version the bootstrap installed: the SDK would otherwise ask for
        # its own version (pulumi_kubernetes 4.34.2), which is not in the plugin cache.
        provider = k8s.Provider("render", render_yaml_to_directory=str(render_dir),
                                opts=pulumi.ResourceOptions(version=provider_version))
        config_map = k8s.core.v1.ConfigMap(
            "settings", metadata={"name": "mlinfra-engine-proof", "namespace": "default"},
            data={"greeting": "hello from the engine"}, opts=pulumi.ResourceOptions(provider=provider))
        if unlabelled_namespace:
            k8s.core.v1.Namespace("unlabelled", metadata={"name": "unlabelled"},
                                  opts=pulumi.ResourceOptions(provider=provider))
        pulumi.export("configMap", config_map.metadata["name"])

    return program


def rendered(render_dir: Path) -> list[dict]:
    return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(render_dir.rglob("*.yaml"))]


# ----- Automation API scenarios, each in its own Python process ----------------------------------------------
# An inline program whose preview fails leaves the SDK's unfinished run_in_stack coroutine behind; its finalizer
# raises when the garbage collector gets to it, and on CPython 3.11.7 that can land inside an unrelated
# ast.parse and break it ("AST constructor recursion depth mismatch"). A child process per scenario keeps that
# out of the test runner, the way `mlinfra up` will run the engine from its own process.


def _stack(work: Path, root: str, program: Callable[[], None]):
    from pulumi import automation as auto

    command = auto.PulumiCommand(root=root)  # runs the Automation API's version check
    work.mkdir(parents=True, exist_ok=True)
    options = auto.LocalWorkspaceOptions(
        work_dir=str(work), pulumi_command=command, env_vars=dict(os.environ),
        project_settings=auto.ProjectSettings(name="mlinfra-engine-proof", runtime="python",
                                              backend=auto.ProjectBackend(url=os.environ["PULUMI_BACKEND_URL"])))
    return auto.create_or_select_stack(stack_name=STACK, project_name="mlinfra-engine-proof", program=program,
                                       opts=options)


def scenario_up_up_destroy(root: str, work: str, render_dir: str, version: str) -> dict:
    render = Path(render_dir)
    stack = _stack(Path(work), root, configmap_program(render, version))
    first = stack.up(on_output=lambda _line: None)
    after_first = rendered(render)
    state = stack.export_stack().deployment["resources"]
    second = stack.up(on_output=lambda _line: None)
    destroyed = stack.destroy(on_output=lambda _line: None)
    stack.workspace.remove_stack(STACK)
    return {
        "first": {"result": first.summary.result, "changes": first.summary.resource_changes,
                  "outputs": {k: v.value for k, v in first.outputs.items()}, "rendered": after_first},
        "provider_versions": [r["inputs"].get("version") for r in state if r["type"] == "pulumi:providers:kubernetes"],
        "second": {"changes": second.summary.resource_changes},
        "destroy": {"changes": destroyed.summary.resource_changes, "rendered": rendered(render)},
    }


def scenario_preview(root: str, work: str, render_dir: str, version: str | None, unlabelled_namespace: bool,
                     policy_packs: list[str]) -> dict:
    from pulumi import automation as auto

    stack = _stack(Path(work), root, configmap_program(Path(render_dir), version,
                                                       unlabelled_namespace=unlabelled_namespace))
    lines: list[str] = []
    try:
        stack.preview(policy_packs=policy_packs or None, on_output=lines.append)
    except auto.CommandError as error:
        return {"ok": False, "output": "\n".join(lines), "error": str(error)}
    return {"ok": True, "output": "\n".join(lines), "error": ""}


SCENARIOS: dict[str, Callable[..., dict]] = {"up_up_destroy": scenario_up_up_destroy, "preview": scenario_preview}


def run_scenario(engine: Engine, tmp_path: Path, name: str, **kwargs: object) -> dict:
    """Run SCENARIOS[name](root, work, **kwargs) in a child Python with the engine's environment."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    result_file = tmp_path / f"{name}-result.json"
    args = {"root": str(engine.root), "work": str(tmp_path / "work"), **kwargs}
    child = subprocess.run([sys.executable, __file__, name, json.dumps(args), str(result_file)],
                           env=engine.env(tmp_path / "state"), capture_output=True, text=True, check=False,
                           timeout=600)
    assert child.returncode == 0, f"scenario {name} failed:\n{child.stdout}\n{child.stderr}"
    return json.loads(result_file.read_text(encoding="utf-8"))


# ----- the bootstrap script itself (no engine needed) --------------------------------------------------------


def test_bootstrap_without_go_says_how_to_get_it(tmp_path: Path) -> None:
    tools = tmp_path / "bin"  # what the script needs before it looks for go, and no go
    tools.mkdir()
    for tool in ("bash", "dirname"):
        (tools / tool).symlink_to(shutil.which(tool) or f"/bin/{tool}")
    env = {"PATH": str(tools), "HOME": str(tmp_path), "MLINFRA_ENGINE_CACHE": str(tmp_path / "cache")}
    result = subprocess.run([str(BOOTSTRAP)], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 1, result.stderr
    assert "the Go toolchain is not on PATH" in result.stderr
    assert not (tmp_path / "cache").exists()


def test_print_path_without_a_build_says_how_to_build(tmp_path: Path) -> None:
    env = {**os.environ, "MLINFRA_ENGINE_CACHE": str(tmp_path / "cache"), "PULUMI_HOME": str(tmp_path / "home")}
    result = subprocess.run([str(BOOTSTRAP), "--print-path"], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "run scripts/bootstrap-engine" in result.stderr


# ----- the engine ----------------------------------------------------------------------------------------------


@pytest.mark.engine
def test_cli_passes_the_automation_api_version_check(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = built_engine()
    from pulumi import automation as auto
    from pulumi.automation._minimum_version import _MINIMUM_VERSION

    monkeypatch.delenv("PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK", raising=False)
    command = auto.PulumiCommand(root=str(engine.root))
    assert str(command.version) == engine.pulumi_version
    assert command.version >= _MINIMUM_VERSION
    assert command.version.major == 3


@pytest.mark.engine
def test_inline_program_renders_then_no_changes_then_destroys(tmp_path: Path) -> None:
    engine = built_engine()
    run = run_scenario(engine, tmp_path, "up_up_destroy", render_dir=str(tmp_path / "rendered"),
                       version=engine.kubernetes_version)

    first = run["first"]
    assert first["result"] == "succeeded"
    assert first["changes"] == {"create": 3}  # stack, provider, ConfigMap
    assert first["outputs"] == {"configMap": "mlinfra-engine-proof"}
    assert [(m["kind"], m["metadata"]["name"], m["data"]) for m in first["rendered"]] == [
        ("ConfigMap", "mlinfra-engine-proof", {"greeting": "hello from the engine"})]
    assert run["provider_versions"] == [engine.kubernetes_version]

    assert run["second"]["changes"] == {"same": 3}

    assert run["destroy"]["changes"] == {"delete": 3}
    assert run["destroy"]["rendered"] == []


@pytest.mark.engine
def test_the_sdks_own_provider_version_is_not_substituted(tmp_path: Path) -> None:
    """Without an explicit version the SDK asks for its own (pulumi_kubernetes' version); the engine looks for
    exactly that version in the plugin cache and, with downloads disabled, stops: it never substitutes another
    installed version. Hence the explicit version on every Kubernetes provider (docs/engine.md)."""
    from importlib.metadata import version

    engine = built_engine()
    sdk_version = version("pulumi_kubernetes")
    assert sdk_version != engine.kubernetes_version
    run = run_scenario(engine, tmp_path, "preview", render_dir=str(tmp_path / "rendered"), version=None,
                       unlabelled_namespace=False, policy_packs=[])
    assert not run["ok"]
    assert f"no resource plugin 'pulumi-resource-kubernetes' found in the workspace at version v{sdk_version}" \
        in run["error"]


@pytest.mark.engine
def test_inline_preview_runs_the_security_pack(tmp_path: Path) -> None:
    engine = built_engine()
    clean = run_scenario(engine, tmp_path / "clean", "preview", render_dir=str(tmp_path / "r1"),
                         version=engine.kubernetes_version, unlabelled_namespace=False,
                         policy_packs=[str(SECURITY_PACK)])
    assert clean["ok"], clean["error"]
    assert "mlinfra-security" in clean["output"]

    bad = run_scenario(engine, tmp_path / "bad", "preview", render_dir=str(tmp_path / "r2"),
                       version=engine.kubernetes_version, unlabelled_namespace=True,
                       policy_packs=[str(SECURITY_PACK)])
    assert not bad["ok"]
    assert "[mandatory]" in bad["error"]
    assert "k8s-namespace-pod-security-enforce" in bad["error"]


@pytest.mark.engine
def test_cli_preview_of_a_project_with_the_security_pack(tmp_path: Path) -> None:
    """`pulumi preview --policy-pack policies/security` on a Pulumi.yaml project: the language host runs the
    program (Run) and the pack (RunPlugin)."""
    engine = built_engine()
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: mlinfra-engine-proof\nruntime: python\n", encoding="utf-8")
    (project / "__main__.py").write_text(textwrap.dedent(f"""\
        import pulumi
        import pulumi_kubernetes as k8s

        provider = k8s.Provider("render", render_yaml_to_directory={str(tmp_path / "rendered")!r},
                                opts=pulumi.ResourceOptions(version={engine.kubernetes_version!r}))
        k8s.core.v1.ConfigMap("settings", metadata={{"name": "mlinfra-engine-proof", "namespace": "default"}},
                              data={{"greeting": "hello"}}, opts=pulumi.ResourceOptions(provider=provider))
        if pulumi.Config().get_bool("unlabelledNamespace"):
            k8s.core.v1.Namespace("unlabelled", opts=pulumi.ResourceOptions(provider=provider))
        """), encoding="utf-8")
    env = engine.env(tmp_path / "state")

    def pulumi(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(engine.bin / "pulumi"), *args, "--non-interactive"], cwd=project, env=env,
                              capture_output=True, text=True, check=False, timeout=600)

    assert pulumi("stack", "init", STACK).returncode == 0
    clean = pulumi("preview", "--policy-pack", str(SECURITY_PACK))
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "mlinfra-security" in clean.stdout
    assert "+ 3 to create" in clean.stdout

    assert pulumi("config", "set", "unlabelledNamespace", "true").returncode == 0
    bad = pulumi("preview", "--policy-pack", str(SECURITY_PACK))
    assert bad.returncode != 0
    assert "k8s-namespace-pod-security-enforce" in bad.stdout
    assert "mandatory" in bad.stdout
    assert not (tmp_path / "rendered").exists()  # a preview renders nothing


if __name__ == "__main__":  # a scenario in a child process: NAME ARGS_JSON RESULT_FILE
    _name, _args, _result = sys.argv[1:4]
    Path(_result).write_text(json.dumps(SCENARIOS[_name](**json.loads(_args))), encoding="utf-8")
