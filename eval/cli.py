"""`careerbot eval`: retrieval and answer evaluation (registered by api.cli)."""

from __future__ import annotations

import typer


def run_eval(ctx: typer.Context) -> None:
    """Evaluate retrieval and answers on our question set or a BEIR-format set."""
    typer.echo("error: evaluation is not available yet", err=True)
    raise typer.Exit(1)
