"""Benchmarks for the issue targets: measured and printed, never asserted.

    python benchmarks/run.py [--repeat N] [--envs 1,10,100] [--stack stacks/gcp-prod.yaml]

1. `mlinfra plan STACK` wall time vs the floor: a process that only imports pulumi and the provider
   modules that plan uses (target: plan <= 2x floor).
2. `mlinfra --help` start-up (target: < 0.3 s).
3. Planning N environments in one process (target: 100 environments < 60 s on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _time_cmd(cmd: list[str], repeat: int) -> float:
    """Median wall time of a command over ``repeat`` runs (one warm-up run first)."""
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _floor_code(stack: Path) -> str:
    """Python code that imports pulumi and loads exactly the provider classes and functions a plan uses.

    Provider SDK submodules are lazy, so each is forced by touching the class or function the plan uses.
    """
    code = (
        "import json\n"
        "from mlinfra.stacks.loader import load\n"
        "from mlinfra.stacks.program import plan\n"
        f"p = plan(load({str(stack)!r}))\n"
        "print(json.dumps(sorted({r.type for r in p.resources if r.custom} | set(p.invokes))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    lines = ["import pulumi"]
    for token in json.loads(out.stdout):
        package, _, rest = token.partition(":")
        if package == "pulumi" or not rest:
            continue
        module, _, member = rest.partition(":")
        sdk = {"gcp": "pulumi_gcp", "aws": "pulumi_aws", "kubernetes": "pulumi_kubernetes"}[package]
        submodule = module.split("/")[0]
        attr = member if member[0].isupper() else re.sub(r"(?<!^)(?=[A-Z])", "_", member).lower()
        if package == "kubernetes":
            group, _, version = module.partition("/")
            if "." in group and not group.endswith(".k8s.io") and group != "helm.sh":
                where, attr = f"{sdk}.apiextensions", "CustomResource"  # custom resources of operators' CRDs
            else:
                where = f"{sdk}.{group.split('.')[0].replace('helm', 'helm')}.{version.replace('.', '_')}"
        else:
            where = sdk if submodule == "index" else f"{sdk}.{submodule}"
        lines.append(f"import {where}; {where}.{attr}")
    return "\n".join(dict.fromkeys(lines))


def _many(stack: Path, count: int) -> float:
    code = (
        "import time\n"
        "from mlinfra.stacks.loader import load\n"
        "from mlinfra.stacks.program import plan\n"
        f"cfg = load({str(stack)!r})\n"
        "start = time.perf_counter()\n"
        f"for i in range({count}):\n"
        "    plan(cfg.model_copy(update={'name': f'env-{i}'}))\n"
        "print(time.perf_counter() - start)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--envs", default="1,10,100")
    parser.add_argument("--stack", default="stacks/gcp-prod.yaml")
    args = parser.parse_args()
    stack = (ROOT / args.stack).resolve()
    mlinfra = [sys.executable, "-m", "mlinfra.cli"]

    floor_code = _floor_code(stack)
    floor = _time_cmd([sys.executable, "-c", floor_code], args.repeat)
    plan = _time_cmd([*mlinfra, "plan", str(stack), "--quiet"], args.repeat)
    help_ = _time_cmd([*mlinfra, "--help"], args.repeat)
    print("floor program:\n" + floor_code)
    print("| measurement | median | target |")
    print("|---|---|---|")
    print(f"| floor (import pulumi + provider modules) | {floor:.2f} s | |")
    print(f"| mlinfra plan {args.stack} | {plan:.2f} s ({plan / floor:.2f}x floor) | <= 2x floor |")
    print(f"| mlinfra --help | {help_:.3f} s | < 0.3 s |")
    for count in (int(n) for n in args.envs.split(",")):
        seconds = _many(stack, count)
        print(f"| plan {count} environment(s) in one process | {seconds:.2f} s ({seconds / count:.3f} s each) | "
              f"{'< 60 s' if count == 100 else ''} |")


if __name__ == "__main__":
    main()
