"""End to end through the real engine (tier 5): `mlinfra up/preview/outputs/destroy` on stacks/local.yaml.

The on-prem target in render mode needs no cluster: the Kubernetes provider writes manifests to a directory.
Helm charts cannot be fetched offline, so the test points `helm.mirror` at small local charts it creates
(one per chart the environment installs, each rendering a single ConfigMap); everything else is the real
program, the real CLI, the real policy packs and a local file backend.

Needs the Pulumi CLI and the Kubernetes provider plugin: `scripts/bootstrap-engine` builds them (docs/engine.md).
Without them these tests fail with that instruction; they are not skipped.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mlinfra.components.kubernetes.charts import CHARTS

pytestmark = pytest.mark.engine

ROOT = Path(__file__).resolve().parent.parent
PASSPHRASE = "e2e-test-passphrase"


def _engine_env() -> dict[str, str]:
    """The environment the CLI runs in: the bootstrapped engine on PATH, no plugin downloads."""
    env = dict(os.environ)
    env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "true"
    env["PULUMI_CONFIG_PASSPHRASE"] = PASSPHRASE
    env.pop("MLINFRA_STACK_FILE", None)
    bootstrap = subprocess.run([str(ROOT / "scripts" / "bootstrap-engine"), "--print-env"], capture_output=True,
                               text=True)
    if bootstrap.returncode != 0:
        pytest.fail("the engine is not built: run scripts/bootstrap-engine (docs/engine.md); it prints:\n"
                    + bootstrap.stderr)
    for line in bootstrap.stdout.splitlines():
        match = re.match(r"export (\w+)=(.*)$", line.strip())
        if match:
            value = match.group(2).strip("'\"").replace("$PATH", env.get("PATH", ""))
            env[match.group(1)] = value
    return env


@pytest.fixture(scope="module")
def engine_env() -> dict[str, str]:
    return _engine_env()


def _charts(mirror: Path) -> None:
    """A tiny local chart per pinned chart name: renders one ConfigMap."""
    for chart in {c.name for c in CHARTS.values()}:
        directory = mirror / chart
        (directory / "templates").mkdir(parents=True, exist_ok=True)
        (directory / "Chart.yaml").write_text(f"apiVersion: v2\nname: {chart}\nversion: 0.0.1\n")
        (directory / "templates" / "configmap.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-e2e\n"
            "data:\n  chart: {{ .Chart.Name }}\n")


def _project(tmp: Path, **changes: object) -> Path:
    """A project directory with stacks/local.yaml pointing its charts at local copies."""
    (tmp / "stacks").mkdir(parents=True, exist_ok=True)
    _charts(tmp / "charts")
    data = yaml.safe_load((ROOT / "stacks" / "local.yaml").read_text())
    data["helm"] = {"mirror": str(tmp / "charts")}
    data.update(changes)
    path = tmp / "stacks" / "local.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _mlinfra(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlinfra.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)


def _files(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): p.read_text(errors="replace") for p in directory.rglob("*") if p.is_file()}


def test_up_twice_change_one_field_outputs_and_destroy(engine_env: dict[str, str], tmp_path: Path) -> None:
    stack = _project(tmp_path)
    render = tmp_path / ".mlinfra" / "render" / "local"

    first = _mlinfra(engine_env, tmp_path, "up", str(stack), "--yes")
    assert first.returncode == 0, first.stdout + first.stderr
    rendered = _files(render)
    assert rendered, "up rendered no manifests"
    kinds = {doc.get("kind") for text in rendered.values() for doc in yaml.safe_load_all(text) if doc}
    assert {"Namespace", "ResourceQuota", "NetworkPolicy", "Tenant", "Cluster"} <= kinds
    assert (tmp_path / ".mlinfra" / "state").is_dir(), "no local state"
    assert "objectStore" in first.stdout or "=" in first.stdout  # outputs printed

    second = _mlinfra(engine_env, tmp_path, "up", str(stack), "--yes")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "no changes" in second.stdout, second.stdout

    # One config field changes: only what depends on it is updated.
    data = yaml.safe_load(stack.read_text())
    data["training"]["queues"][0]["cpus"] = 12
    stack.write_text(yaml.safe_dump(data, sort_keys=False))
    third = _mlinfra(engine_env, tmp_path, "up", str(stack), "--yes")
    assert third.returncode == 0, third.stdout + third.stderr
    changed = re.search(r"(\d+) to update", third.stdout)
    assert changed and 1 <= int(changed.group(1)) <= 3, third.stdout
    assert "to create" not in third.stdout and "to delete" not in third.stdout, third.stdout

    # Generated credentials: encrypted in the state, absent from logs and outputs; in the rendered files only
    # inside the one Secret manifest the object store reads (a Secret's data is base64 by nature: render mode
    # hands the directory to GitOps, see docs/engine.md), never in plain text.
    masked = _mlinfra(engine_env, tmp_path, "outputs", str(stack), "--json")
    assert masked.returncode == 0, masked.stderr
    password = _generated_password(engine_env, tmp_path, stack)
    assert len(password) >= 32
    state_text = "".join(_files(tmp_path / ".mlinfra" / "state").values())
    assert password not in state_text
    for run in (first, second, third, masked):
        assert password not in run.stdout + run.stderr
    rendered = _files(render)
    assert not [name for name, text in rendered.items() if password in text]
    encoded = base64.b64encode(password.encode()).decode()
    carriers = [name for name, text in rendered.items() if encoded in text or _decoded_contains(text, password)]
    assert len(carriers) == 1 and "secret" in carriers[0], carriers

    gone = _mlinfra(engine_env, tmp_path, "destroy", str(stack), "--yes")
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert not _files(render), "destroy left rendered manifests behind"


def _decoded_contains(text: str, needle: str) -> bool:
    """True when a base64 value in a Secret manifest decodes to text containing ``needle``."""
    for doc in yaml.safe_load_all(text):
        if isinstance(doc, dict) and doc.get("kind") == "Secret":
            for value in (doc.get("data") or {}).values():
                if needle in base64.b64decode(value).decode(errors="replace"):
                    return True
    return False


def _generated_password(env: dict[str, str], cwd: Path, stack: Path) -> str:
    """The object store root password, read back through the Automation API (decrypted)."""
    code = ("import json,sys\nfrom pathlib import Path\nfrom mlinfra.stacks.engine import environment, open_stack, "
            "GENERATED_OUTPUT\nfrom mlinfra.stacks.loader import load\n"
            f"f=Path({str(stack)!r}); s=open_stack(environment(load(f), f), warn=print, create=False)\n"
            "print(json.dumps(s.stack.outputs()[GENERATED_OUTPUT].value))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout.strip().splitlines()[-1])["objectStoreRootPassword"])


def test_mandatory_violation_stops_before_anything_renders(engine_env: dict[str, str], tmp_path: Path) -> None:
    stack = _project(tmp_path, policies={"rules": {"k8s-namespace-default-deny": "mandatory"}})
    result = _mlinfra(engine_env, tmp_path, "up", str(stack), "--yes")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "policy check failed" in result.stderr and "nothing was changed" in result.stderr
    assert not (tmp_path / ".mlinfra" / "render").exists()
    assert not (tmp_path / ".mlinfra" / "state").exists()


def test_destroy_keeps_protected_data_and_says_so(engine_env: dict[str, str], tmp_path: Path) -> None:
    stack = _project(tmp_path, environment="staging", protect_data=True)
    up = _mlinfra(engine_env, tmp_path, "up", str(stack), "--yes")
    assert up.returncode == 0, up.stdout + up.stderr
    before = _files(tmp_path / ".mlinfra" / "render" / "local")
    gone = _mlinfra(engine_env, tmp_path, "destroy", str(stack), "--yes")
    assert gone.returncode == 0, gone.stdout + gone.stderr
    warned = [line for line in gone.stderr.splitlines() if line.startswith("will not delete")]
    assert len(warned) == 2 and "kubernetes:minio.min.io/v2:Tenant" in warned[0] + warned[1], warned
    assert "kubernetes:postgresql.cnpg.io/v1:Cluster" in warned[0] + warned[1] and "protected" in warned[0]
    assert "kept 2 protected resources" in gone.stdout
    # The protected data stores stay, with what they depend on (their namespaces, secrets, certificates);
    # everything else is gone.
    left = _files(tmp_path / ".mlinfra" / "render" / "local")
    kinds = {doc.get("kind") for text in left.values() for doc in yaml.safe_load_all(text) if doc}
    assert {"Tenant", "Cluster"} <= kinds and not kinds & {"ResourceQuota", "ClusterQueue", "LocalQueue"}, kinds
    assert len(left) < len(before) / 2


def test_up_without_a_terminal_requires_yes(engine_env: dict[str, str], tmp_path: Path) -> None:
    stack = _project(tmp_path)
    result = _mlinfra(engine_env, tmp_path, "up", str(stack))
    assert result.returncode == 2 and "--yes" in result.stderr, result.stderr


def _privileged_chart(mirror: Path, chart: str) -> None:
    """Make one local chart render a privileged DaemonSet: invisible offline, seen by the engine's packs."""
    (mirror / chart / "templates" / "agent.yaml").write_text(
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: {{ .Release.Name }}-agent\nspec:\n"
        "  selector: {matchLabels: {app: agent}}\n  template:\n    metadata: {labels: {app: agent}}\n    spec:\n"
        "      containers:\n        - name: agent\n          image: registry.example/agent:1.0\n"
        "          securityContext: {privileged: true}\n")


def test_engine_packs_block_what_only_the_engine_sees(engine_env: dict[str, str], tmp_path: Path) -> None:
    """A chart renders a privileged container: the offline check cannot see it, the security pack stops `up`."""
    stack = _project(tmp_path)
    _privileged_chart(tmp_path / "charts", CHARTS["jobset"].name)
    offline = _mlinfra(engine_env, tmp_path, "policy", "check", str(stack))
    assert offline.returncode == 0, offline.stdout
    result = _mlinfra(engine_env, tmp_path, "up", str(stack), "--yes")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "k8s-pod-no-privileged" in result.stdout + result.stderr


def test_concurrent_up_gets_a_clear_locked_error(engine_env: dict[str, str], tmp_path: Path) -> None:
    stack = _project(tmp_path)
    first = subprocess.Popen([sys.executable, "-m", "mlinfra.cli", "up", str(stack), "--yes"], cwd=tmp_path,
                             env=engine_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    locks = tmp_path / ".mlinfra" / "state" / ".pulumi" / "locks"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(locks.rglob("*.json")) and first.poll() is None:
        time.sleep(0.05)
    assert any(locks.rglob("*.json")), "the first up never took the lock"
    second = _mlinfra(engine_env, tmp_path, "up", str(stack), "--yes")
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, out + err
    assert second.returncode == 1, second.stdout + second.stderr
    assert "is locked" in second.stderr and "another update" in second.stderr
    assert not any(locks.rglob("*.json")), "the lock was left behind"


def test_interrupt_cancels_cleanly_and_leaves_the_stack_usable(engine_env: dict[str, str], tmp_path: Path) -> None:
    stack = _project(tmp_path)
    running = subprocess.Popen([sys.executable, "-m", "mlinfra.cli", "up", str(stack), "--yes"], cwd=tmp_path,
                               env=engine_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    render = tmp_path / ".mlinfra" / "render" / "local"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (render.exists() and any(render.rglob("*.yaml"))):
        time.sleep(0.02)
    os.killpg(running.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's process group
    out, err = running.communicate(timeout=600)
    assert running.returncode in (0, 130), out + err  # it may have finished just before the signal
    locks = tmp_path / ".mlinfra" / "state" / ".pulumi" / "locks"
    assert not any(locks.rglob("*.json")), "an interrupted up left the stack locked"
    again = _mlinfra(engine_env, tmp_path, "up", str(stack), "--yes")
    assert again.returncode == 0, again.stdout + again.stderr
    settled = _mlinfra(engine_env, tmp_path, "preview", str(stack))
    assert settled.returncode == 0 and "no changes" in settled.stdout, settled.stdout + settled.stderr


def test_outputs_drift_and_stacks(engine_env: dict[str, str], tmp_path: Path) -> None:
    stack = _project(tmp_path)
    assert _mlinfra(engine_env, tmp_path, "up", str(stack), "--yes").returncode == 0
    outputs = _mlinfra(engine_env, tmp_path, "outputs", str(stack), "--json")
    data = json.loads(outputs.stdout)
    assert data["object_store.endpoint"].startswith("https://") and "mlinfraGeneratedCredentials" not in data
    drift = _mlinfra(engine_env, tmp_path, "drift", str(stack))  # render mode: nothing live to compare with
    assert drift.returncode == 2 and "target.render_to" in drift.stderr, drift.stdout + drift.stderr
    listed = _mlinfra(engine_env, tmp_path, "stacks", str(stack))
    assert listed.returncode == 0 and listed.stdout.startswith("local"), listed.stdout + listed.stderr
    events = _mlinfra(engine_env, tmp_path, "preview", str(stack), "--json")
    assert events.returncode == 0
    assert all(json.loads(line) for line in events.stdout.splitlines() if line.strip())
