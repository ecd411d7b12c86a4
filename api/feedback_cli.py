"""`careerbot feedback list|export`: read the feedback log (rag.feedback) of the data dir.

Both read the log's files only (no store, no model), so they run beside a serving
`careerbot serve`. What counts is each vote's latest line (rag.feedback.latest).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import typer
from pydantic import ValidationError

from eval.dataset import DatasetError
from eval.feedback import export as export_candidates
from rag.feedback import latest
from rag.services import Services

app = typer.Typer(help="Votes on answers (UI thumbs, POST /v1/feedback, Discord reactions).",
                  no_args_is_help=True)

VoteOpt = Annotated[Literal["up", "down"] | None, typer.Option(
    "--vote", help="Only thumbs-up (up) or thumbs-down (down) votes.")]


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _votes(services: Services, vote: str | None) -> list[dict[str, Any]]:
    try:
        records = latest(services.feedback.read())
    except OSError as e:
        _fail(f"cannot read the feedback log {services.feedback.path}: {e}")
    return [r for r in records if vote is None or r.get("vote") == vote]


def _one_line(text: Any, limit: int = 70) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@app.command("list")
def list_votes(
    ctx: typer.Context,
    vote: VoteOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON: {\"items\": [...]}")]
    = False,
) -> None:
    """List the votes that count, oldest first."""
    services: Services = ctx.obj
    items = _votes(services, vote)
    if as_json:
        typer.echo(json.dumps({"items": items}, indent=2, ensure_ascii=False))
        return
    if not items:
        typer.echo(f"no votes{f' ({vote})' if vote else ''} in {services.feedback.path}")
        return
    for r in items:
        mark = "+" if r.get("vote") == "up" else "-"
        typer.echo(f"{mark} {r.get('ts', '')}  {r.get('channel', 'ui'):<7}  "
                   f"{_one_line(r.get('question'))}  ({r.get('id', '')[:12]})")
        if r.get("comment"):
            typer.echo(f"      comment: {_one_line(r['comment'], 100)}")
    ups = sum(r.get("vote") == "up" for r in items)
    typer.echo(f"\n{len(items)} vote(s): {ups} up, {len(items) - ups} down")


@app.command()
def export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="The JSONL file to write (items already "
                                      "in it are kept).")],
    vote: VoteOpt = None,
) -> None:
    """Turn votes into candidate evaluation items (the question set's format).

    Each candidate keeps the question, the history and the answer given, with evidence
    and facts left empty for a person to fill in; `careerbot eval --dataset FILE` scores
    the filled ones and lists the others. A thumbs-down is tagged `regression`.
    """
    services: Services = ctx.obj
    items = _votes(services, vote)
    try:
        added, kept = export_candidates(items, out)
    except (DatasetError, ValidationError) as e:
        _fail(f"{out} is not a question set file, so it was left as it is: "
              f"{str(e).splitlines()[0]}")
    except (OSError, UnicodeDecodeError) as e:
        _fail(f"cannot write {out}: {e}")
    downs = sum(r.get("vote") == "down" for r in items)
    typer.echo(f"{out}: {added} new candidate item(s) from {len(items)} vote(s) ({downs} "
               f"thumbs-down, tagged regression); {kept} item(s) already there, kept")
    typer.echo(f"next: fill in evidence and facts, then: careerbot eval --dataset {out}")
