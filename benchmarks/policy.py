"""Policy benchmarks: measured and printed, never asserted.

    python benchmarks/policy.py [--envs 100] [--jobs 2] [--rounds 20]

1. Rule throughput: resource-rule evaluations per second of the offline evaluator over already planned
   example environments (planning excluded) — target >= 50,000/s.
2. `mlinfra policy check` of N environment files (a mix of the shipped examples under distinct names), the
   whole command, planning included — target: 100 environments < 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ("gcp-prod", "aws-prod", "gcp-dev", "aws-dev", "onprem-prod", "local")


def throughput(rounds: int) -> tuple[int, float]:
    """(evaluations, seconds) of ``rounds`` evaluations of every example plan with the whole catalog."""
    from mlinfra.policies.check import all_rules
    from mlinfra.policies.engine import evaluate
    from mlinfra.policies.testing import example

    rules = list(all_rules())
    planned = [example(name) for name in EXAMPLES]
    evaluations = 0
    start = time.perf_counter()
    for _ in range(rounds):
        for ex in planned:
            evaluations += evaluate(ex.plan, ex.config, rules).evaluations
    return evaluations, time.perf_counter() - start


def many_environments(count: int, jobs: int) -> float:
    """Wall time of one `mlinfra policy check` over ``count`` stack files."""
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for index in range(count):
            source = EXAMPLES[index % len(EXAMPLES)]
            text = (ROOT / "stacks" / f"{source}.yaml").read_text(encoding="utf-8")
            text = re.sub(r"^name: .*$", f"name: env-{index:03d}", text, count=1, flags=re.M)
            path = Path(tmp) / f"env-{index:03d}.yaml"
            path.write_text(text, encoding="utf-8")
            files.append(str(path))
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "mlinfra.cli", "policy", "check", *files, "--jobs", str(jobs),
                               "--format", f"json={tmp}/out.json"], cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode not in (0, 1):
            raise SystemExit(f"policy check failed to run (exit {done.returncode}):\n{done.stderr}")
        return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    evaluations, seconds = throughput(args.rounds)
    print("| measurement | result | target |")
    print("|---|---|---|")
    print(f"| rule evaluations (offline evaluator, {evaluations} evaluations) | {evaluations / seconds:,.0f} /s | "
          ">= 50,000 /s |")
    wall = many_environments(args.envs, args.jobs)
    print(f"| mlinfra policy check, {args.envs} environments, --jobs {args.jobs} | {wall:.1f} s | < 60 s |")


if __name__ == "__main__":
    main()
