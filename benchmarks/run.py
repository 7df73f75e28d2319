"""Benchmarks for the issue targets: measured and printed, never asserted.

    python benchmarks/run.py [--repeat N] [--envs 1,10,100] [--stack stacks/gcp-prod.yaml]

1. `mlinfra plan STACK` wall time vs the floor: a process that only imports pulumi and the provider
   modules that plan uses (target: plan <= 2x floor).
2. `mlinfra --help` start-up (target: < 0.3 s).
3. Planning N environments in one process (target: 100 environments < 60 s on 2 cores).
"""

from __future__ import annotations

import argparse
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


def _provider_modules(stack: Path) -> list[str]:
    """Provider SDK modules a plan of ``stack`` imports (measured in a child process)."""
    code = (
        "import sys\n"
        "from mlinfra.stacks.loader import load\n"
        "from mlinfra.stacks.program import plan\n"
        f"plan(load({str(stack)!r}))\n"
        "mods = sorted({'.'.join(m.split('.')[:2]) for m in sys.modules if m.startswith(('pulumi_gcp.', "
        "'pulumi_aws.', 'pulumi_kubernetes.')) and not m.split('.')[1].startswith('_')})\n"
        "print(' '.join(mods))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    return out.stdout.split()


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

    modules = _provider_modules(stack)
    floor = _time_cmd([sys.executable, "-c", "import pulumi; " + "; ".join(f"import {m}" for m in modules)],
                      args.repeat)
    plan = _time_cmd([*mlinfra, "plan", str(stack), "--quiet"], args.repeat)
    help_ = _time_cmd([*mlinfra, "--help"], args.repeat)
    print(f"provider modules in the floor: {', '.join(modules)}")
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
