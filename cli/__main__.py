"""``python -m mlinfra.cli`` runs the CLI (same as the ``mlinfra`` console script)."""

from mlinfra.cli.app import main

main()
