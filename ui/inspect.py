"""The Inspect tab: one query searched three ways, side by side (hybrid, dense, sparse),
each passage with its section, its text, its rank and score in every list and the words
it matched (rag.explain). HTML is escaped as in ui.render."""

from __future__ import annotations

import re
from collections.abc import Mapping

from rag import sparse
from rag.explain import Explained, Ranks
from ui.render import _e

COLUMNS = (
    ("hybrid", "Hybrid", "what the chat reads: the lists below and MaxSim over sentence-sized "
     "pieces, fused by reciprocal rank"),
    ("dense", "Dense", "meaning: cosine similarity of embeddings"),
    ("sparse", "Sparse", "keywords: BM25 over stemmed words"),
)
_WORD = re.compile(r"[a-z0-9]+(?:[.+#][a-z0-9]+)*[+#]*", re.IGNORECASE)  # as rag.sparse
EXCERPT = 600  # characters of a passage shown before "more"

EMPTY = ('<div class="cb-inspect cb-empty">Type a question to see what each retriever '
         "finds for it: hybrid search (what the chat answers from), dense search alone and "
         "sparse search alone, each passage with its rank in every list.</div>")


def _place(label: str, rank: int | None, score: float | None, digits: int) -> str:
    if rank is None:
        return f'<span class="cb-rank cb-miss" title="not in the {label} list">{label} –</span>'
    return (f'<span class="cb-rank" title="{label} score {score:.{digits}f}">{label} '
            f"#{rank}</span>")


def _highlight(text: str, matched: set[str]) -> str:
    """The text, escaped, with the words whose terms the query shares marked."""
    out, last = [], 0
    for m in _WORD.finditer(text):
        terms = sparse.terms(m.group(0))
        if terms and terms[0] in matched:
            out += [_e(text[last:m.start()]), f"<mark>{_e(m.group(0))}</mark>"]
            last = m.end()
    out.append(_e(text[last:]))
    return "".join(out)


def _card(rank: int, hit_score: float, title: str, section: str, text: str, doc: str,
          span: tuple[int, int], r: Ranks) -> str:
    matched = {t for w in r.matched_terms for t in sparse.terms(w)}
    body = _highlight(text[:EXCERPT], matched)
    if len(text) > EXCERPT:
        body += ('<details><summary>more</summary>'
                 f"{_highlight(text[EXCERPT:], matched)}</details>")
    terms = (" ".join(f'<span class="cb-term">{_e(w)}</span>' for w in r.matched_terms)
             or '<span class="cb-miss">no shared words</span>')
    ranks = " ".join([_place("fused", r.fused_rank, r.fused_score, 4),
                      _place("dense", r.dense_rank, r.dense_score, 3),
                      _place("sparse", r.sparse_rank, r.sparse_score, 2),
                      _place("pieces", r.pieces_rank, r.pieces_score, 3)])
    return (f'<li class="cb-ins-hit"><div class="cb-ins-head"><span class="cb-src-n">#{rank}'
            f'</span> <span class="cb-ins-score">{hit_score:.4f}</span> {ranks}</div>'
            f'<div class="cb-src-title">{_e(title)}</div>'
            f'<div class="cb-src-section">§ {_e(section or "(top)")}</div>'
            f'<div class="cb-ins-terms">matched: {terms}</div>'
            f'<div class="cb-ins-text">{body}</div>'
            f'<div class="cb-src-where">{_e(doc)} · characters {span[0]}–{span[1]}</div></li>')


def render_inspect(found: Mapping[str, Explained]) -> str:
    """The three columns (one per mode present in `found`)."""
    if not found:
        return EMPTY
    any_view = next(iter(found.values()))
    cols = []
    for mode, name, what in COLUMNS:
        view = found.get(mode)
        if view is None:
            continue
        items = "".join(
            _card(i, h.score, h.title, h.section, h.text, h.doc_id, (h.start, h.end), r)
            for i, (h, r) in enumerate(zip(view.hits, view.ranks, strict=True), 1))
        inner = (f'<ol class="cb-ins-list">{items}</ol>' if items
                 else '<p class="cb-empty">Nothing found: no passage shares a word with '
                 "the query.</p>")
        cols.append(f'<section class="cb-ins-col" data-mode="{mode}"><h3>{name}</h3>'
                    f'<p class="cb-ins-what">{_e(what)}</p>{inner}</section>')
    head = (f'<p class="cb-ins-query">Searched: <code>{_e(any_view.query)}</code> '
            f"(each list {any_view.depth} deep; a dash: not in that list)</p>")
    return f'<div class="cb-inspect">{head}<div class="cb-ins-cols">{"".join(cols)}</div></div>'
