"""``plan``: what an environment would create, offline (no engine, no credentials)."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlinfra.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, fail, load_or_exit, write_output

if TYPE_CHECKING:
    from mlinfra.stacks.offline import Plan

app = typer.Typer()


@app.command()
def plan(
    file: Annotated[Path, typer.Argument(help="Stack file to plan.")],
    json_out: Annotated[
        str | None, typer.Option("--json", help="Write the plan as JSON to this file ('-' for stdout).")
    ] = None,
    graph: Annotated[
        str | None, typer.Option("--graph", help="Write a Mermaid diagram to this file ('-' for stdout).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the summary.")] = False,
) -> None:
    """Plan FILE offline: every resource the platform would create, as a tree and a summary."""
    config = load_or_exit(file, require_buildable=True)
    from mlinfra.stacks.program import plan as run_plan

    try:
        result = run_plan(config)
    except ValueError as exc:  # component-level input checks the schema cannot express
        fail(f"{file}: {exc}", EXIT_BAD_INPUT)
    except Exception as exc:  # a bug, not bad input: say so plainly; MLINFRA_DEBUG=1 shows the traceback
        if os.environ.get("MLINFRA_DEBUG"):
            raise
        fail(f"internal error while planning {file}: {type(exc).__name__}: {exc} (please report it; "
             "MLINFRA_DEBUG=1 shows the traceback)", EXIT_FAILED)
    to_stdout = "-" in (json_out, graph)
    if json_out:
        write_output(json.dumps(result.to_json(), indent=2, sort_keys=True) + "\n", json_out)
    if graph:
        from mlinfra.stacks.graph import to_mermaid

        write_output(to_mermaid(result), graph)
    if not to_stdout:
        if not quiet:
            _print_tree(result)
        typer.echo(_summary(result, file))


def _print_tree(result: Plan) -> None:
    from rich.console import Console
    from rich.tree import Tree

    from mlinfra.stacks.graph import short_type

    root = Tree(f"[bold]{result.project}/{result.stack}[/]")
    nodes: dict[str | None, Tree] = {None: root}
    for _, res in result.walk():
        style = "bold cyan" if not res.custom else ""
        label = f"[{style}]{res.name}[/] [dim]{short_type(res.type)}[/]" if style else \
            f"{res.name} [dim]{short_type(res.type)}[/]"
        if res.config_path and not res.custom:
            label += f" [green]← {res.config_path}[/]"
        nodes[res.urn] = nodes.get(res.parent, root).add(label)
    Console(highlight=False, soft_wrap=True).print(root)


def _summary(result: Plan, file: Path) -> str:
    custom = [r for r in result.resources if r.custom]
    components = len(result.resources) - len(custom)
    kinds = Counter(r.type.split(":")[0] for r in custom)
    by_kind = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    return (f"plan {file}: {len(custom)} resources to create ({by_kind}) in {components} components; "
            "offline, nothing deployed")
