"""`careerbot eval`: retrieval and answer evaluation (registered by api.cli, which hands it
the process's `Services` as the context object; the user's index is never opened)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, NoReturn

import typer

from eval.beir import BeirError, load_beir
from eval.dataset import DEFAULT_SET, DatasetError, load_items, validate
from eval.report import compare_runs, headline, load_run, unlabelled_lines, write_run
from eval.run import EvalError, evaluate_beir, evaluate_ours, parse_modes
from ingest.parse import ParseError, parse_bytes
from ingest.pipeline import IngestError, corpus_files, doc_id_for
from rag.services import Services
from rag.settings import Settings

Split = Literal["train", "dev", "test", "all"]


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _log(message: str) -> None:
    typer.echo(message, err=True)


def corpus_texts(corpus_dir: Path) -> dict[str, str]:
    """Canonical text of every guide in the corpus folder, parsed as ingest parses it."""
    texts = {}
    for path in corpus_files(corpus_dir):
        try:
            texts[doc_id_for(path)] = parse_bytes(path.read_bytes(), path.name).text
        except ParseError:
            continue  # an item citing it is reported as citing an unknown document
    return texts


def _validate(settings: Settings, dataset: Path, beir: Path | None) -> None:
    if beir is not None:
        data = load_beir(beir)
        if data.problems:
            for p in data.problems:
                typer.echo(p, err=True)
            _fail(f"{beir}: {len(data.problems)} problem(s)")
        typer.echo(f"{beir}: {len(data.docs)} documents, {len(data.evaluated_queries())} "
                   f"judged queries, no problems")
        return
    try:
        items = load_items(dataset)
    except DatasetError as e:
        for line in str(e).splitlines():
            typer.echo(line, err=True)
        _fail(f"{dataset}: items do not match the format")
    problems = validate(items, corpus_texts(settings.corpus_dir))
    if problems:
        for p in problems:
            typer.echo(p, err=True)
        _fail(f"{dataset}: {len(problems)} problem(s) against {settings.corpus_dir}")
    splits = {s: sum(it.split == s for it in items) for s in ("train", "dev", "test")}
    unlabelled = [it for it in items if it.unlabelled]
    typer.echo(f"{dataset}: {len(items)} items valid against {settings.corpus_dir} ("
               + ", ".join(f"{k} {v}" for k, v in splits.items()) + ")"
               + (f"; {len(unlabelled)} unlabelled (not scored until their evidence and "
                  "facts are filled in)" if unlabelled else ""))


def run_eval(
    ctx: typer.Context,
    dataset: Annotated[Path | None, typer.Option(
        "--dataset",
        help="Our question set (JSONL; default: eval/datasets/questions.jsonl).")] = None,
    beir: Annotated[Path | None, typer.Option(
        "--beir", help="A BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv) "
        "instead of our set.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out",
        help="Folder the timestamped run folder goes into (default: DATA_DIR/eval-runs).")] = None,
    modes: Annotated[list[str] | None, typer.Option(
        "--modes", help="Retrieval modes, comma-separated or repeated "
        "(default: dense,sparse,hybrid).")] = None,
    split: Annotated[Split | None, typer.Option(
        help="Our set's split: train, dev, test, or all (the default: train, dev and both). "
        "The test split is for the final report: run it once, at the end.")] = None,
    k: Annotated[int, typer.Option("--k", min=1, max=100, help="Ranking cut-off.")] = 10,
    compare: Annotated[tuple[Path, Path] | None, typer.Option(
        "--compare", metavar="RUN_A RUN_B",
        help="Print what changed between two runs (folders or results.json).")] = None,
    check: Annotated[bool, typer.Option(
        "--validate", help="Only check the question set against the corpus (or the BEIR "
        "folder's ids); exit 1 listing the problems.")] = False,
    no_answers: Annotated[bool, typer.Option(
        "--no-answers", help="Retrieval only.")] = False,
) -> None:
    """Evaluate retrieval and answers on our question set or a BEIR-format set.

    The corpus is ingested into a temporary in-memory store (your index is not touched);
    a run folder with report.md, results.json and chart.png is written.
    """
    services: Services = ctx.obj
    settings = services.settings
    if compare is not None:
        try:
            a, b = load_run(compare[0]), load_run(compare[1])
        except ValueError as e:
            _fail(str(e))
        typer.echo(compare_runs(a, b, str(compare[0]), str(compare[1])), nl=False)
        return
    if beir is not None and (dataset is not None or split is not None):
        _fail("--dataset and --split apply to our question set, not to --beir")
    dataset = dataset or DEFAULT_SET
    try:
        if check:
            _validate(settings, dataset, beir)
            return
        mode_list = parse_modes(modes)
        if beir is not None:
            result = evaluate_beir(services, load_beir(beir), modes=mode_list, k=k, log=_log)
        else:
            result = evaluate_ours(services, dataset=dataset, modes=mode_list,
                                   split=split or "all", k=k, answers=not no_answers, log=_log)
        folder = write_run(result, out or settings.data_dir / "eval-runs")
    except (EvalError, DatasetError, BeirError, IngestError, OSError) as e:
        _fail(str(e) or type(e).__name__)
    for line in [*headline(result), *unlabelled_lines(result)]:
        typer.echo(line)
    if result["ingest"].get("failed"):
        typer.echo(f"warning: {len(result['ingest']['failed'])} file(s) failed to ingest; "
                   "see results.json", err=True)
    typer.echo(f"report: {folder / 'report.md'}")
