"""``policy``: check environments against the catalog offline (PR pipelines), list the catalog.

Exit codes: 0 clean, 1 a mandatory violation or an expired waiver, 2 bad input (nothing is judged then).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from mlinfra.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, err, fail, write_output

app = typer.Typer(name="policy", help="Policy checks: residency and security rules, offline or in CI.",
                  no_args_is_help=True)

FORMAT_NAMES = ("table", "json", "sarif", "junit", "github", "markdown")


class PackName(StrEnum):
    """Rule packs."""

    residency = "residency"
    security = "security"


class ListFormat(StrEnum):
    """Formats of ``policy list``."""

    table = "table"
    json = "json"
    markdown = "markdown"


def _outputs(formats: list[str]) -> list[tuple[str, str]]:
    """``--format NAME[=PATH]`` values → (name, destination) pairs; '-' is stdout."""
    pairs = []
    for value in formats or ["table"]:
        name, _, path = value.partition("=")
        if name not in FORMAT_NAMES:
            fail(f"--format: unknown format {name!r}; choose from {', '.join(FORMAT_NAMES)} (optionally =FILE)")
        pairs.append((name, path or "-"))
    if sum(1 for _n, dest in pairs if dest == "-") > 1:
        fail("--format: only one format can go to stdout; write the others to files (e.g. sarif=results.sarif)")
    return pairs


@app.command()
def check(
    files: Annotated[list[Path], typer.Argument(help="Stack files (environments) to check.")],
    formats: Annotated[list[str], typer.Option(
        "--format", "-f",
        help=f"Output format, repeatable: {', '.join(FORMAT_NAMES)}; NAME=FILE writes to a file. Default: table.",
    )] = [],  # noqa: B006 - typer reads the default
    packs: Annotated[list[PackName], typer.Option("--pack", help="Only this pack (repeatable). Default: all.")] = [],  # noqa: B006
    jobs: Annotated[int, typer.Option(
        "--jobs", "-j", min=0, help="Worker processes for many files; 0 = one per CPU. Default: 1.")] = 1,
    today: Annotated[str | None, typer.Option(
        help="Judge waiver expiry as of this date (YYYY-MM-DD). Default: today.")] = None,
) -> None:
    """Plan each FILE offline (no engine, no credentials) and judge it with the policy catalog."""
    outputs = _outputs(formats)
    as_of = _date(today)
    from mlinfra.policies.check import all_rules, check_files
    from mlinfra.policies.report import FORMATS

    workers = jobs or (os.cpu_count() or 1)
    results = check_files(files, packs=[p.value for p in packs], today=as_of, jobs=workers)  # type: ignore[misc]
    bad = [r for r in results if isinstance(r, list)]
    if bad:
        for issues in bad:
            for issue in issues:
                err(f"error: {issue}")
        fail(f"{len(bad)} of {len(files)} stack files could not be checked; nothing was judged")
    reports = [r for r in results if not isinstance(r, list)]
    rules = list(all_rules())
    for name, destination in outputs:
        if name == "table" and destination == "-" and sys.stdout.isatty():  # use the terminal's width
            text = FORMATS[name](reports, rules, width=max(120, shutil.get_terminal_size().columns))  # type: ignore[call-arg]
        else:
            text = FORMATS[name](reports, rules)  # type: ignore[arg-type]
        write_output(text if text.endswith("\n") else text + "\n", destination)
    failed = [r for r in reports if r.failed]
    if failed and all(dest != "-" for _n, dest in outputs):
        err(f"policy check failed in {len(failed)} of {len(reports)} environments")
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)


@app.command("list")
def list_rules(
    packs: Annotated[list[PackName], typer.Option("--pack", help="Only this pack (repeatable).")] = [],  # noqa: B006
    target: Annotated[str | None, typer.Option(help="Only rules for this target: gcp, aws or onprem.")] = None,
    output_format: Annotated[ListFormat, typer.Option("--format", "-f", help="table, json or markdown.")] = (
        ListFormat.table),
) -> None:
    """List the policy catalog: id, severity, default enforcement, targets, controls."""
    from mlinfra.policies.check import all_rules, select
    from mlinfra.policies.docs import catalog_markdown

    if target is not None and target not in ("gcp", "aws", "onprem"):
        fail(f"--target: unknown target {target!r}; choose gcp, aws or onprem")
    rules = select(all_rules(), packs=[p.value for p in packs], targets=[target] if target else [])  # type: ignore[misc]
    if output_format is ListFormat.json:
        typer.echo(json.dumps([{
            "id": r.id, "title": r.title, "severity": r.severity, "enforcement": r.enforcement, "pack": r.pack,
            "targets": list(r.targets), "scope": r.scope, "types": list(r.types),
            "controls": [str(c) for c in r.controls], "rationale": r.rationale, "fix": r.fix,
        } for r in rules], indent=2))
    elif output_format is ListFormat.markdown:
        typer.echo(catalog_markdown(rules), nl=False)
    else:
        width = max((len(r.id) for r in rules), default=2)
        for rule in rules:
            controls = ", ".join(str(c) for c in rule.controls) or "-"
            typer.echo(f"{rule.id:<{width}}  {rule.severity:<8}  {rule.enforcement:<9}  "
                       f"{','.join(rule.targets):<14}  {controls}")
        typer.echo(f"{len(rules)} rules")


def _date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(f"--today: {value!r} is not a date (YYYY-MM-DD)", EXIT_BAD_INPUT)
