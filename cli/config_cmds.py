"""Config commands: ``schema``, ``init``, ``validate``."""

from __future__ import annotations

import json
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from mlinfra.cli.common import EXIT_BAD_INPUT, err, fail, load_or_exit, write_output

app = typer.Typer()


class Target(StrEnum):
    """Targets ``init`` can write a starter config for."""

    gcp = "gcp"
    aws = "aws"
    onprem = "onprem"


def json_schema() -> dict[str, object]:
    """The stack file JSON Schema, generated from the pydantic models."""
    from mlinfra.stacks.config import StackConfig

    schema = StackConfig.model_json_schema()
    schema["required"] = ["apiVersion", *schema.get("required", [])]  # optional in Python, required in files
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "https://mlinfra.dev/stack.schema.json",
            **schema}


@app.command()
def schema(
    output: Annotated[str, typer.Option("--output", "-o", help="File to write, or '-' for stdout.")] = "-",
) -> None:
    """Write the JSON Schema of stack files (for editors and CI)."""
    write_output(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n", output)


@app.command()
def init(
    target: Annotated[Target, typer.Option("--target", "-t", help="Target platform.")],
    output: Annotated[Path, typer.Argument(help="Stack file to create.")] = Path("stack.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented, valid starter stack file for TARGET."""
    if output.exists() and not force:
        fail(f"{output} already exists; choose another path or pass --force", EXIT_BAD_INPUT)
    text = resources.files("mlinfra.stacks").joinpath("templates", f"{target.value}.yaml").read_text("utf-8")
    write_output(text, str(output))
    from mlinfra.stacks.program import BUILDABLE_TARGETS

    if target.value in BUILDABLE_TARGETS:
        typer.echo(f"wrote {output} ({target.value}); next: edit it, then mlinfra validate {output}")
    else:
        typer.echo(f"wrote {output} ({target.value}); note: this version plans and deploys "
                   f"{', '.join(BUILDABLE_TARGETS)} only, so validate will say the {target.value} target is "
                   "not available yet")


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Stack files to check.")],
) -> None:
    """Check stack files: schema, cross-field rules, residency, target capabilities, policy ids."""
    from mlinfra.policies.check import reference_issues
    from mlinfra.stacks.extensions import reference_issues as extension_issues
    from mlinfra.stacks.loader import load_document

    failed = False
    for path in files:
        try:
            config = load_or_exit(path, require_buildable=True)
        except typer.Exit:
            failed = True
            continue
        tree = load_document(path)[1]
        issues = reference_issues(config, tree, str(path)) + extension_issues(config, tree, str(path))
        if issues:
            for issue in issues:
                err(f"error: {issue}")
            failed = True
            continue
        pools = len(config.node_pools)
        typer.echo(f"ok: {path} ({config.target.cloud} {config.target.region}, {config.environment}, "
                   f"{len(config.clusters)} cluster(s), {pools} node pool(s))")
    if failed:
        raise typer.Exit(EXIT_BAD_INPUT)
