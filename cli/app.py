"""The ``mlinfra`` command: thin on purpose: parse, call the library, render.

Heavy modules (pydantic models, Pulumi, provider SDKs) are imported inside commands so that
``mlinfra --help`` starts fast.
"""

from __future__ import annotations

import typer

from mlinfra.cli import config_cmds, engine_cmds, plan_cmd, policy_cmds

app = typer.Typer(
    name="mlinfra",
    help="Typed config → complete ML platform on GCP, AWS or on-prem Kubernetes, with policy checks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(config_cmds.app)
app.add_typer(plan_cmd.app)
app.add_typer(policy_cmds.app)
app.add_typer(engine_cmds.app)


def main() -> None:
    """Console-script entry point."""
    app()
