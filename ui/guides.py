"""The "Guides" tab: the indexed guides, upload (drag and drop) and delete with a
confirmation step; and the notice in the chat when the guides changed.

The tab works through a `GuideAdmin`, which the composition (api.app) hands in: the same
`ingest.sources.Guides` the admin API uses, so an upload here takes the same lock, the same
validation and the same incremental ingest. The UI imports nothing of ingest or api.

Who may change guides from the browser: the tab's writes follow the API's rule for admin
calls without a key: loopback clients only, unless `CAREERBOT_ADMIN_KEYS` is set, in which
case the key must be typed into the tab. Guide titles are shown as plain text (a Dataframe
of strings) or escaped, so nothing in an uploaded guide can run script in the page.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import gradio as gr

from rag.access import AdminRule

log = logging.getLogger("careerbot.ui")

COLUMNS = ["Title", "Publisher", "Date", "Chunks", "Ingested", "Id"]
FILE_TYPES = [".txt", ".md", ".markdown", ".html", ".htm", ".json", ".pdf"]


class Change(Protocol):
    @property
    def doc_id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def chunks(self) -> int: ...


class GuideAdmin(Protocol):
    """What the tab needs (ingest.sources.Guides is one)."""

    def list(self) -> Sequence[Mapping[str, Any]]: ...

    def put(self, name: str | None, raw: bytes | None, meta: dict[str, Any] | None = None,
            doc_id: str | None = None) -> Change: ...

    def delete(self, doc_id: str) -> Change: ...


class GuidesTab:
    def __init__(self, admin: GuideAdmin, rule: AdminRule, generation: Any = None) -> None:
        self.admin = admin
        self.rule = rule
        # () -> str: the index generation, so the chat can say when the guides changed
        self.generation = generation or (lambda: "")

    # ------------------------------------------------------------ reading
    def rows(self) -> list[list[Any]]:
        try:
            docs = self.admin.list()
        except Exception as e:  # the store is down: the tab says so instead of failing
            log.warning("ui: cannot list guides: %s", e)
            return []
        return [[str(d.get("title") or d["doc_id"]), str(d.get("publisher") or ""),
                 str(d.get("date") or ""), int(d.get("chunks") or 0),
                 str(d.get("ingested") or "").replace("T", " ").replace("+00:00", " UTC"),
                 str(d["doc_id"])] for d in docs]

    def refresh(self) -> tuple[Any, Any]:
        rows = self.rows()
        return (gr.Dataframe(value=rows or None, headers=COLUMNS),
                gr.Dropdown(choices=[(f"{r[0]} ({r[5]})", r[5]) for r in rows], value=None))

    # ------------------------------------------------------------ writing
    def _allowed(self, key: str | None, request: gr.Request | None) -> str | None:
        """None when this caller may change guides, else why not (the API's rule)."""
        # An invisible key box (no admin keys set) sends None.
        why = self.rule.refusal(getattr(getattr(request, "client", None), "host", None),
                                (key or "").strip())
        if why is None:
            return None
        return why[0].upper() + why[1:] + ("; type it above." if self.rule.keys else ".")

    def upload(self, files: Sequence[str] | str | None, title: str, key: str,
               request: gr.Request, progress: gr.Progress = gr.Progress()  # noqa: B008
               ) -> tuple[str, Any, Any, Any, str]:
        """Each file in turn (they queue behind the ingest lock); a bad file is reported
        and skipped, the others go in."""
        if (why := self._allowed(key, request)) is not None:
            return (f"⚠️ {html.escape(why)}", *self.refresh(), None, "")
        paths = [files] if isinstance(files, str) else list(files or [])
        if not paths:
            return ("Choose or drop a file first.", *self.refresh(), None, "")
        lines = []
        for p in progress.tqdm(paths, desc="Indexing"):
            path = Path(p)
            name = path.name
            meta = {"title": title.strip()} if title.strip() and len(paths) == 1 else {}
            try:
                result = self.admin.put(name, path.read_bytes(), meta)
            except ValueError as e:  # ingest.sources.SourceError: the reason to show
                lines.append(f"❌ {html.escape(name)}: {html.escape(str(e))}")
                continue
            except Exception as e:
                log.exception("ui: upload of %s failed", name)
                lines.append(f"❌ {html.escape(name)}: could not be indexed ({type(e).__name__})")
                continue
            lines.append(f"✅ {html.escape(result.title)}: {result.status}"
                         + (f", {result.chunks} passages" if result.chunks >= 0 else ""))
        return ("\n\n".join(lines), *self.refresh(), None, "")

    def ask_delete(self, doc_id: str | None) -> tuple[Any, Any]:
        if not doc_id:
            return gr.Markdown("Pick a guide to delete.", visible=True), gr.Row(visible=False)
        title = next((r[0] for r in self.rows() if r[5] == doc_id), doc_id)
        return (gr.Markdown(f"Delete **{html.escape(title)}**? Its passages will no longer "
                            "be cited. The file is removed from the corpus folder.",
                            visible=True), gr.Row(visible=True))

    def delete(self, doc_id: str | None, key: str, request: gr.Request
               ) -> tuple[Any, Any, Any, Any]:
        hide = gr.Row(visible=False)
        if (why := self._allowed(key, request)) is not None:
            return gr.Markdown(f"⚠️ {html.escape(why)}"), hide, *self.refresh()
        if not doc_id:
            return gr.Markdown("Pick a guide to delete."), hide, *self.refresh()
        try:
            result = self.admin.delete(doc_id)
        except ValueError as e:
            return gr.Markdown(f"❌ {html.escape(str(e))}"), hide, *self.refresh()
        except Exception as e:
            log.exception("ui: delete of %s failed", doc_id)
            return (gr.Markdown(f"❌ could not delete ({type(e).__name__})"), hide,
                    *self.refresh())
        return gr.Markdown(f"🗑️ Deleted {html.escape(result.title)}."), hide, *self.refresh()

    @staticmethod
    def cancel() -> tuple[Any, Any]:
        return gr.Markdown("Not deleted.", visible=True), gr.Row(visible=False)

    # ------------------------------------------------------------ the chat's notice
    def baseline(self) -> str:
        try:
            return str(self.generation())
        except Exception:
            return ""

    def notice(self, seen: str) -> tuple[Any, str]:
        """A line above the chat once the guides changed since the page loaded (an upload
        here, the folder watcher, another process's ingest)."""
        now = self.baseline()
        if not seen or not now or now == seen:
            return gr.Markdown(visible=False), seen or now
        return (gr.Markdown("ℹ️ The guides changed since this page was opened: new answers "
                            "use the current guides (see the Guides tab).", visible=True), seen)


def build_tab(tab: GuidesTab) -> tuple[Any, Any]:
    """The tab's components and events; call inside a `gr.Tab` of the page's Blocks. Returns
    the table and the delete picker, which the page fills on load (`GuidesTab.refresh`)."""
    gr.Markdown("The guides answers are drawn from. Upload a guide (.txt, .md, .html, .json "
                "or .pdf) to add it, or a file with an indexed guide's name to replace it.")
    table = gr.Dataframe(headers=COLUMNS, datatype=["str", "str", "str", "number", "str",
                                                    "str"],
                         interactive=False, wrap=True, elem_id="cb-guide-table",
                         show_search="search")
    with gr.Row():
        with gr.Column(scale=3):
            files = gr.File(label="Drop guides here", file_count="multiple",
                            file_types=FILE_TYPES, elem_id="cb-guide-upload")
        with gr.Column(scale=2):
            title = gr.Textbox(label="Title (optional, one file)", elem_id="cb-guide-title")
            key = gr.Textbox(label="Admin key", type="password", visible=bool(tab.rule.keys),
                             elem_id="cb-guide-key")
            upload = gr.Button("Upload and index", variant="primary", elem_id="cb-guide-send")
    status = gr.Markdown(elem_id="cb-guide-status")
    with gr.Row(equal_height=True):
        pick = gr.Dropdown(label="Guide to delete", choices=[], elem_id="cb-guide-pick",
                           scale=3)
        remove = gr.Button("Delete…", variant="stop", elem_id="cb-guide-delete", scale=1)
    confirm_text = gr.Markdown(visible=False, elem_id="cb-guide-confirm-text")
    with gr.Row(visible=False) as confirm_row:
        confirm = gr.Button("Yes, delete it", variant="stop", elem_id="cb-guide-confirm")
        cancel = gr.Button("Cancel", elem_id="cb-guide-cancel")

    private = {"api_visibility": "private"}
    upload.click(tab.upload, [files, title, key], [status, table, pick, files, title],
                 concurrency_limit=1, concurrency_id="guides", **private)  # type: ignore[arg-type]
    remove.click(tab.ask_delete, [pick], [confirm_text, confirm_row], **private)  # type: ignore[arg-type]
    confirm.click(tab.delete, [pick, key], [confirm_text, confirm_row, table, pick],
                  concurrency_limit=1, concurrency_id="guides", **private)  # type: ignore[arg-type]
    cancel.click(tab.cancel, None, [confirm_text, confirm_row], **private)  # type: ignore[arg-type]
    return table, pick
