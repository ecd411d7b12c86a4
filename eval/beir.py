"""BEIR-format sets: loading, turning the corpus into files for our pipeline, scoring.

A BEIR folder holds `corpus.jsonl` ({"_id", "title", "text"}), `queries.jsonl`
({"_id", "text"}) and `qrels/test.tsv` (query-id, corpus-id, score; with a header line).
Each BEIR document becomes one guide file that our own pipeline parses, chunks and embeds;
a retrieved chunk counts as its BEIR document, and a document counts once, at the best
rank any of its chunks reached.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.parse import ParseError, parse_bytes
from rag.store import Hit


class BeirError(ValueError):
    """The folder is not a readable BEIR set; the message says what is wrong."""


@dataclass
class BeirDoc:
    id: str
    title: str
    text: str


@dataclass
class BeirSet:
    name: str
    docs: dict[str, BeirDoc]
    queries: dict[str, str]
    # query id -> {doc id: graded relevance}; only positive grades count as relevant
    qrels: dict[str, dict[str, int]]
    split: str = "test"
    problems: list[str] = field(default_factory=list)  # ids the qrels name but nothing defines

    def evaluated_queries(self) -> list[str]:
        """Queries that have text and at least one relevant document, in file order."""
        return [q for q in self.queries if any(s > 0 for s in self.qrels.get(q, {}).values())]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise BeirError(f"{path} is missing")
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise BeirError(f"{path.name}:{n}: not valid JSON ({e.msg})") from e
            if not isinstance(row, dict) or "_id" not in row:
                raise BeirError(f"{path.name}:{n}: expected an object with an '_id'")
            rows.append(row)
    return rows


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    if not path.is_file():
        raise BeirError(f"{path} is missing")
    out: dict[str, dict[str, int]] = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        cols = line.split("\t") if "\t" in line else line.split()
        if len(cols) == 4:  # TREC style: qid 0 docid score
            cols = [cols[0], cols[2], cols[3]]
        if len(cols) != 3:
            raise BeirError(f"{path.name}:{n}: expected query-id, corpus-id, score")
        try:
            score = int(float(cols[2]))
        except ValueError:
            if n == 1:  # the header
                continue
            raise BeirError(f"{path.name}:{n}: score {cols[2]!r} is not a number") from None
        out.setdefault(cols[0].strip(), {})[cols[1].strip()] = score
    return out


def load_beir(folder: Path, split: str = "test") -> BeirSet:
    if not folder.is_dir():
        raise BeirError(f"BEIR folder {folder} does not exist")
    docs = {}
    for row in _read_jsonl(folder / "corpus.jsonl"):
        did = str(row["_id"])
        docs[did] = BeirDoc(did, str(row.get("title") or "").strip(),
                            str(row.get("text") or "").strip())
    queries = {str(r["_id"]): str(r.get("text") or "").strip()
               for r in _read_jsonl(folder / "queries.jsonl")}
    queries = {q: t for q, t in queries.items() if t}
    qrels = _read_qrels(folder / "qrels" / f"{split}.tsv")
    problems = []
    for qid, rel in qrels.items():
        if qid not in queries:
            problems.append(f"qrels name query {qid!r}, which queries.jsonl does not define")
        for did in rel:
            if did not in docs:
                problems.append(f"qrels of query {qid!r} name document {did!r}, which "
                                "corpus.jsonl does not define")
    # Queries without judgements are not evaluated (the BEIR convention).
    queries = {q: t for q, t in queries.items() if q in qrels}
    if not docs:
        raise BeirError(f"{folder / 'corpus.jsonl'} holds no documents")
    return BeirSet(folder.name, docs, queries, qrels, split, problems)


# ---------------------------------------------------------------- corpus -> guide files


def _content(text: str) -> bytes:
    # Our parser sniffs the format from the content: a text opening with "{" or "[" would
    # be read as JSON. A zero-width space first keeps it plain text; the parser drops it.
    return (("\u200b" + text) if text[:1] in "{[" else text).encode("utf-8")


def write_corpus(beir: BeirSet, folder: Path) -> dict[str, str]:
    """Write each BEIR document as one guide file (plus a manifest with the titles) into
    `folder`; returns our doc id -> BEIR doc id. File names are numbered, since BEIR ids
    may hold characters our doc ids do not allow."""
    folder.mkdir(parents=True, exist_ok=True)
    mapping: dict[str, str] = {}
    entries = []
    for n, doc in enumerate(beir.docs.values()):
        ours = f"b{n:07d}"
        text = doc.text or doc.title
        if not text:
            continue  # nothing to index; qrels naming it simply cannot be found
        name = f"{ours}.txt"
        raw = _content(text)
        try:
            parse_bytes(raw, name)
        except ParseError:
            # e.g. one short Title Case line, which plain text reads as a bare heading;
            # Markdown reads it as a paragraph.
            name = f"{ours}.md"
        (folder / name).write_bytes(raw)
        # Without a title the file name would become one and be embedded with every chunk.
        title = doc.title or " ".join(text.split()[:12])
        entries.append({"file": name, "title": title})
        mapping[ours] = doc.id
    (folder / "manifest.json").write_text(json.dumps({"documents": entries}), encoding="utf-8")
    return mapping


def doc_ranking(hits: Sequence[Hit], mapping: dict[str, str], k: int) -> list[str]:
    """BEIR doc ids in order of their best-ranked chunk, each once, at most k."""
    out: list[str] = []
    for h in hits:
        did = mapping.get(h.doc_id)
        if did is not None and did not in out:
            out.append(did)
            if len(out) == k:
                break
    return out
