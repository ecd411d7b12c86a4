"""The `careerbot` command. Settings are read from the environment here, once; every command
receives the process's `Services` (rag.services) built from them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError

from api import discovery, feedback_cli
from api.app import EMPTY_INDEX, create_app, unknown_sources
from api.errors import STORE_ERRORS
from api.remote import Remote, RemoteError
from eval.cli import run_eval
from ingest.pipeline import IngestError, is_stale, update_index
from ingest.progress import progress_for
from ingest.sources import Guides
from ingest.watch import CorpusWatcher
from rag.explain import explain_search
from rag.services import Services
from rag.settings import Settings
from rag.store import Mode, Store

T = TypeVar("T")

app = typer.Typer(
    help="careerbot: answers about becoming an ML engineer, from indexed guides.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Problems of the user's setup (missing corpus, locked or unreachable store, unreadable model
# path): reported in one line, since a traceback would not help fix them.
EXPECTED_ERRORS: tuple[type[Exception], ...] = (IngestError, OSError, RemoteError,
                                                 *STORE_ERRORS)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
QuietOpt = Annotated[bool, typer.Option(
    "--quiet", "-q", help="No progress on stderr (a bar in a terminal, log lines otherwise).")]
ServerOpt = Annotated[str | None, typer.Option(
    "--server", metavar="URL", help="Go through this careerbot server's API [default: the "
    "server running on this data dir, if any; else open the index directly].")]


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@contextmanager
def opened_store(services: Services) -> Iterator[Store]:
    """The services' store, opened now and closed on exit; expected failures inside become
    one-line errors."""
    try:
        try:
            yield services.store
        finally:
            services.close()
    except EXPECTED_ERRORS as e:
        fail(str(e) or type(e).__name__)


@app.callback()
def _services(ctx: typer.Context) -> None:
    try:
        settings = Settings()
    except ValidationError as e:
        fail("invalid CAREERBOT_* setting: " + "; ".join(
            f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()
        ))
    # Opens nothing and loads no model yet: each command takes what it uses.
    ctx.obj = Services(settings)


def _print_report(report: dict[str, Any]) -> None:
    d, c = report["documents"], report["chunks"]
    typer.echo(f"documents: {d['added']} added, {d['updated']} updated, {d['deleted']} "
               f"deleted, {d['unchanged']} unchanged")
    typer.echo(f"chunks:    {c['added']} added, {c['deleted']} deleted, {c['unchanged']} "
               "unchanged")
    typer.echo(f"embedded:  {report['embedded']} chunks + {report['units_embedded']} answer "
               f"pieces in {report['seconds']:.2f} s ({report['chunks_per_s']:.1f} chunks/s, "
               f"{report['texts_per_s']:.1f} texts/s)")
    if report["failed"]:
        typer.echo(f"failed:    {len(report['failed'])} file(s), not indexed:")
        for f in report["failed"]:
            typer.echo(f"  {f['file']}: {f['reason']}")


def _remote(services: Services, server: str | None) -> Remote | None:
    """The server to go through: `--server`, else the one holding this data dir (its
    embedded store is locked to it), else None: the command opens the index itself."""
    if server:
        return Remote(server, services.settings)
    found = discovery.find(services.settings.data_dir)
    if found is None:
        return None
    typer.echo(f"(through the server at {found.url}, which holds {services.settings.data_dir})",
               err=True)
    return Remote(found.url, services.settings)


def _remotely(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except RemoteError as e:
        fail(str(e))


@app.command()
def ingest(ctx: typer.Context, as_json: JsonOpt = False, quiet: QuietOpt = False,
           server: ServerOpt = None) -> None:
    """Index the corpus folder; only new or changed guides are embedded."""
    _index(ctx.obj, False, as_json, quiet, server)


@app.command()
def reindex(ctx: typer.Context, as_json: JsonOpt = False, quiet: QuietOpt = False,
            server: ServerOpt = None) -> None:
    """Rebuild the whole index into a new generation and switch to it when complete.

    Queries keep being served from the old index during the rebuild; if it fails, the old
    index stays live. Use it after changing the model or to compact a long-lived index.
    """
    _index(ctx.obj, True, as_json, quiet, server)


def _index(services: Services, full: bool, as_json: bool, quiet: bool,
           server: str | None) -> None:
    remote = _remote(services, server)
    if remote is not None:
        report = _remotely(lambda: remote.ingest(full))
    else:
        with opened_store(services):
            report = update_index(services, progress_for(quiet=quiet), full=full).to_dict()
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        _print_report(report)


@app.command()
def sources(ctx: typer.Context, as_json: JsonOpt = False, server: ServerOpt = None) -> None:
    """List the indexed guides."""
    services: Services = ctx.obj
    remote = _remote(services, server)
    if remote is not None:
        docs = _remotely(remote.sources)
    else:
        with opened_store(services) as store:
            docs = [dict(d) for d in store.list_docs()]
    if as_json:
        typer.echo(json.dumps({"sources": docs}, indent=2, ensure_ascii=False))
        return
    if not docs:
        typer.echo(f"no guides: the {EMPTY_INDEX}")
    for d in docs:
        by = f" ({d['publisher']})" if d.get("publisher") else ""
        typer.echo(f"{d['doc_id']}: {d['title']}{by}, {d['chunks']} chunks"
                   + (f", {d['date']}" if d.get("date") else ""))


def _retrieve(services: Services, query: str, top_k: int, mode: Mode,
              sources: list[str] | None, server: str | None, explain: bool = False
              ) -> dict[str, Any]:
    """`{"results": [...]}` as the API answers /v1/search, each result with `explain` and
    the whole with `explain` ({query, mode, depth}) when asked; through a server or not."""
    query = query.strip()
    if not query:
        fail("the query is empty")
    remote = _remote(services, server)
    if remote is not None:
        return _remotely(lambda: remote.search(query, top_k, mode, sources, explain))
    with opened_store(services) as store:
        if store.count() == 0:
            fail(f"the {EMPTY_INDEX}")
        if sources and (problem := unknown_sources(store, sources)):
            fail(problem)
        if explain:
            found = explain_search(services.retriever, query, top_k=top_k, mode=mode,
                                   sources=sources)
            return found.response()
        hits = services.retriever.search(query, top_k=top_k, mode=mode, sources=sources)
        return {"results": [h.to_dict() for h in hits]}


def _excerpt(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


@app.command()
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="What to look for.")],
    top_k: Annotated[int | None, typer.Option("--top-k", "-k", min=1, max=20,
                                              help="Passages to show [default: settings]")] = None,
    mode: Annotated[Mode, typer.Option(help="Ranking: hybrid, dense or sparse.")] = "hybrid",
    source: Annotated[list[str] | None, typer.Option(
        "--source", help="Only this doc id (repeatable).")] = None,
    as_json: JsonOpt = False,
    server: ServerOpt = None,
    explain: Annotated[bool, typer.Option(
        "--explain", help="Show each passage's rank and score in the dense, sparse and "
        "fused lists and the words it matched.")] = False,
) -> None:
    """Show the passages that best match QUERY."""
    services: Services = ctx.obj
    found = _retrieve(services, query, top_k or services.settings.top_k, mode, source, server,
                      explain)
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    if "explain" in found:
        how = found["explain"]
        typer.echo(f"searched: {how['query']!r} ({how['mode']}; each list {how['depth']} "
                   "deep)\n")
    hits = found["results"]
    if not hits:
        typer.echo("no matching passages")
    for rank, h in enumerate(hits, 1):
        typer.echo(f"{rank}. [{h['score']:.4f}] {h['title']} › {h['section'] or '(top)'}  "
                   f"({h['doc_id']} {h['start']}:{h['end']})")
        if "explain" in h:
            typer.echo(f"   {explain_line(h['explain'])}")
        typer.echo(f"   {_excerpt(h['text'])}\n")


def explain_line(r: Mapping[str, Any]) -> str:
    """"fused #1 · dense #2 (0.502) · sparse #19 (2.28) · pieces #1 (0.660) · matched: python"."""
    def place(name: str, fmt: str) -> str:
        rank, score = r.get(f"{name}_rank"), r.get(f"{name}_score")
        return f"{name} –" if rank is None else f"{name} #{rank} ({score:{fmt}})"

    parts = [place("fused", ".4f"), place("dense", ".3f"), place("sparse", ".2f"),
             place("pieces", ".3f")]
    terms = ", ".join(r.get("matched_terms") or []) or "none"
    return " · ".join(parts) + f" · matched: {terms}"


def _load_history(path: Path | None) -> list[dict[str, str]]:
    """Earlier turns from a JSON file: [{"role": "user"|"assistant", "content": "..."}]."""
    if path is None:
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        fail(f"cannot read history file {path}: {e}")
    if isinstance(data, dict):
        data = data.get("history", data.get("messages"))
    if not isinstance(data, list) or not all(
        isinstance(t, dict) and t.get("role") in ("user", "assistant")
        and isinstance(t.get("content"), str) for t in data
    ):
        fail(f'{path}: expected a JSON list of {{"role": "user"|"assistant", "content": "..."}}')
    return data


@app.command()
def ask(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="Your question.")],
    history: Annotated[Path | None, typer.Option(
        "--history", help="JSON file with earlier turns, for follow-up questions.")] = None,
    source: Annotated[list[str] | None, typer.Option(
        "--source", help="Only this doc id (repeatable).")] = None,
    as_json: JsonOpt = False,
    server: ServerOpt = None,
) -> None:
    """Answer QUESTION from the guides, with numbered sources."""
    services: Services = ctx.obj
    question = question.strip()
    if not question:
        fail("the question is empty")
    turns = _load_history(history)
    remote = _remote(services, server)
    if remote is not None:
        answer = _remotely(lambda: remote.ask(question, turns, source))
    else:
        with opened_store(services) as store:
            if store.count() == 0:
                fail(f"the {EMPTY_INDEX}")
            if source and (problem := unknown_sources(store, source)):
                fail(problem)
            answer = services.bot.ask(question, turns, sources=source).to_dict()
    if as_json:
        typer.echo(json.dumps(answer, indent=2, ensure_ascii=False))
        return
    if answer["abstained"]:
        typer.echo("[not covered by the guides]")
    typer.echo(answer["answer"])
    if answer["citations"]:
        typer.echo("\nSources:")
        for c in answer["citations"]:
            where = c["url"] or c["doc_id"]
            typer.echo(f"  [{c['n']}] {c['title']} › {c['section']} ({where}, chars "
                       f"{c['start']}-{c['end']})")
    typer.echo(f"\n(kind: {answer['intent']}; {answer['timings_ms']['total']:.0f} ms)")


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Interface [default: settings, 127.0.0.1]")]
    = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535,
                                             help="Port [default: settings, 8000]")] = None,
    watch: Annotated[bool | None, typer.Option(
        "--watch/--no-watch", help="Ingest changes to the corpus folder while serving "
        "[default: settings, on].")] = None,
) -> None:
    """Serve the HTTP API, ingesting first when the index is empty or out of date; then
    keep the index in step with the corpus folder (files added, edited or deleted)."""
    import uvicorn

    services: Services = ctx.obj
    settings = services.settings
    host, port = host or settings.host, port or settings.port
    # One store for ingest and app: the embedded store's folder is locked to one client.
    with opened_store(services) as store:
        if store.count() == 0 or is_stale(settings, store, services.embedder):
            typer.echo("index is empty or out of date; ingesting...")
            try:
                _print_report(update_index(services, progress_for()).to_dict())
            except IngestError as e:
                if store.count() == 0:
                    raise
                typer.echo(f"warning: ingest failed ({e}); serving the existing index", err=True)
        watcher = None
        if settings.watch if watch is None else watch:
            guides = Guides(services)

            def changed(paths: set[Path]) -> None:
                names = ", ".join(sorted(p.name for p in paths))
                report = guides.sync()
                d = report.documents
                if d.added or d.updated or d.deleted or report.failed:
                    typer.echo(f"corpus changed ({names}): {d.added} added, {d.updated} "
                               f"updated, {d.deleted} deleted"
                               + (f", {len(report.failed)} failed" if report.failed else ""),
                               err=True)

            watcher = CorpusWatcher(settings.corpus_dir, changed, settings.watch_debounce_ms)
            watcher.start()
        # The address for `careerbot ask` & co. in another terminal (api.discovery).
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        discovery.write(settings.data_dir, f"http://{shown}:{port}")
        def stop() -> None:
            discovery.remove(settings.data_dir)
            if watcher is not None:
                watcher.stop()

        try:
            uvicorn.run(create_app(settings, services=services, on_shutdown=stop), host=host,
                        port=port)
        finally:
            stop()  # also when the app never started (a port in use)


app.command("eval")(run_eval)
app.add_typer(feedback_cli.app, name="feedback")


def main() -> None:
    app(prog_name="careerbot")
