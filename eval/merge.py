"""Add the next blind question set: it becomes the test split, the old test split train.

    python -m eval.merge NEW.jsonl [NEW2.jsonl ...] [--dataset FILE] [--refresh-dev] [--write]

`eval.split` made the first three splits. Since then each round's test split is run once
and so is seen; the next set, written blind by helpers who read only the guides, takes
its place and the seen one joins train (dev stays as it is, so the gate's numbers stay
comparable), or, with `--refresh-dev`, becomes dev while the old dev joins train: a dev
split chosen on for many rounds comes to favour whatever was chosen on it, and a split
run once as test is the freshest one there is. This is that step, so it is done the same
way every round:

- **Repeats are dropped.** A new question whose words are, for the most part
  (`REPEAT`, 80%), the words of one earlier question (its user turns included) asks what
  was asked before: it would test what the system was tuned on, not something new. One
  that shares `NEAR` (60%) to 80% is kept and tagged `near_earlier`, so a report can be
  read with and without it. Word overlap rather than embedding similarity: it needs no
  model, is the same on every machine, and two questions about the same thing in
  different words are exactly what a test split should hold.
- **Twins are dropped too**: a new question that repeats one kept before it in the same
  set (two writers asking the same thing) would count one answer twice; the first is kept.
  It is not tagged near_earlier, which means near a question the system was tuned on.
- **Quotes are mapped to the parsed text.** Writers copy quotes from the raw files (HTML
  and JSON escapes in one guide, markdown in another); evidence must be an exact span of
  the canonical text ingest parses, which is what answers cite. A quote that cannot be
  found after decoding and stripping markup is reported and nothing is written.
- **Questions the app already shows are dropped**: a question found word for word in
  the repository's own files (UI examples, README, tests) was not written blind.
- New ids must be new; the result must pass `eval.dataset.validate`.

Nothing here reads the system's answers: only the question files, the old set and the
guides.
"""

from __future__ import annotations

import argparse
import copy
import html
import json
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.dataset import DEFAULT_SET, DatasetError, Item, validate

REPEAT = 0.8  # this share of a new question's words in one earlier question: a repeat
NEAR = 0.6  # from this share up to REPEAT: kept, tagged near_earlier
NEAR_TAG = "near_earlier"

_WORD = re.compile(r"\w+")


def _user_turns(row: dict[str, Any]) -> list[str]:
    return [row["question"], *(t["content"] for t in row.get("history", [])
                               if t.get("role") == "user")]


def question_words(row: dict[str, Any]) -> set[str]:
    """The words a user typed: the question and the user turns before it."""
    return set(_WORD.findall(" ".join(_user_turns(row)).lower()))


def repeat_share(words: set[str], earlier: list[set[str]]) -> float:
    """The largest share of `words` that one earlier question holds."""
    if not words:
        return 0.0
    return max((len(words & e) / len(words) for e in earlier), default=0.0)


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def in_own_files(question: str, own: Iterable[str]) -> bool:
    """Whether `question` is written in one of the app's own files (normalised texts)."""
    q = _norm(question)
    return bool(q) and any(q in t for t in own)


def _decode(s: str) -> str:
    """A quote copied from a raw file: JSON escapes ("\\/", "\\u2019") and HTML entities."""
    if "\\" in s:
        try:
            s = json.loads('"' + s.replace('"', '\\"').replace('\\\\"', '\\"') + '"')
        except json.JSONDecodeError:
            s = s.replace("\\/", "/")
    return html.unescape(s)


def _strip_markup(s: str) -> str:
    s = re.sub(r"<[^>]+>", " ", s)  # HTML tags
    s = s.replace("**", "").replace("`", "")  # markdown emphasis and code
    s = re.sub(r"(?m)^\s*[#>*]+\s*", "", s)  # heading, quote and bullet marks
    return re.sub(r"(?<=\s)\*(?=\s)", " ", s)


def locate(text: str, quote: str) -> str | None:
    """The span of `text` that `quote` was copied from, or None.

    Tried in order: the quote as written; decoded and without markup; the same words with
    any run of whitespace or bullet marks between them (the parsed text joins lines and
    drops list bullets the raw file has)."""
    if quote in text:
        return quote
    plain = _strip_markup(_decode(quote)).strip()
    if plain and plain in text:
        return plain
    words = [re.escape(w) for w in re.split(r"[\s•◦]+", plain) if w]
    if not words:
        return None
    m = re.search(r"[\s•◦]*".join(words), text)
    return m.group(0) if m else None


@dataclass
class Merged:
    rows: list[dict[str, Any]]  # the whole set, old rows first
    dropped: list[str] = field(default_factory=list)  # ids of repeats
    twins: list[str] = field(default_factory=list)  # ids repeating a kept new question
    shown: list[str] = field(default_factory=list)  # ids of questions the app's files hold
    near: int = 0
    mapped: int = 0  # quotes rewritten to the parsed text
    problems: list[str] = field(default_factory=list)  # nothing is written when any

    @property
    def kept(self) -> int:
        """New questions kept: the test split (the old one has moved to train)."""
        return sum(r["split"] == "test" for r in self.rows)


def _moved(split: str | None, refresh_dev: bool) -> str | None:
    if split == "test":
        return "dev" if refresh_dev else "train"
    return "train" if split == "dev" and refresh_dev else split


def merge(old: list[dict[str, Any]], new: list[dict[str, Any]],
          texts: dict[str, str], own: Iterable[str] = (), refresh_dev: bool = False
          ) -> Merged:
    """`new` as the test split; `old`'s test split moved to train, or with `refresh_dev`
    to dev, the old dev joining train. `texts`: the guides' parsed text by document;
    `own`: the app's own files. Pure: the caller writes."""
    own = [_norm(t) for t in own]
    earlier = [question_words(r) for r in old]
    kept: list[set[str]] = []  # the new questions kept so far
    ids = {r["id"] for r in old}
    out = Merged([{**r, "split": _moved(r.get("split"), refresh_dev)} for r in old])
    for row in new:
        row = copy.deepcopy(row)  # the caller's rows stay as they were
        if row["id"] in ids:
            out.problems.append(f"{row['id']}: id already in the set")
            continue
        ids.add(row["id"])
        words = question_words(row)
        share = repeat_share(words, earlier)
        if share >= REPEAT:
            out.dropped.append(row["id"])
            continue
        if repeat_share(words, kept) >= REPEAT:
            out.twins.append(row["id"])
            continue
        if any(in_own_files(t, own) for t in _user_turns(row)):
            out.shown.append(row["id"])
            continue
        if share >= NEAR and NEAR_TAG not in row.get("tags", []):
            row["tags"] = [*row.get("tags", []), NEAR_TAG]
            out.near += 1
        for ev in row.get("evidence", []):
            found = locate(texts.get(ev["doc"], ""), ev["quote"])
            if found is None:
                out.problems.append(f"{row['id']}: quote not found in {ev['doc']}: "
                                    f"{ev['quote']!r}")
            elif found != ev["quote"]:
                ev["quote"] = found
                out.mapped += 1
        row["facts"] = [_decode(f) for f in row.get("facts", [])]
        row["key_facts"] = [_decode(f) for f in row.get("key_facts", [])]
        row["split"] = "test"
        out.rows.append(row)
        kept.append(words)
    if not out.problems:
        try:
            items = [Item.model_validate(r) for r in out.rows]
        except ValueError as e:
            out.problems.append(f"not in the question format: {e}")
        else:
            out.problems += validate(items, texts)
    return out


def own_files(root: Path) -> list[str]:
    """The text of the repository's tracked files, less the question set and the guides
    (which hold the questions and their quotes by design)."""
    try:
        names = subprocess.run(["git", "-C", str(root), "ls-files"], capture_output=True,
                               text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return []
    out = []
    for name in names:
        if name.startswith(("corpus/", "eval/datasets/")):
            continue
        try:
            out.append((root / name).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue  # images and other binary files
    return out


def _read(path: Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()
                if x.strip()]
    except (OSError, json.JSONDecodeError) as e:
        raise DatasetError(f"{path}: {e}") from e


def main(argv: list[str] | None = None) -> int:
    from eval.cli import corpus_texts  # the guides parsed as ingest parses them
    from rag.settings import Settings

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("new", type=Path, nargs="+", help="the new set's verified files")
    ap.add_argument("--dataset", type=Path, default=DEFAULT_SET)
    ap.add_argument("--corpus", type=Path, help="the guides (default: the settings')")
    ap.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent,
                    help="the checkout whose tracked files new questions must not be in "
                    "(default: this one)")
    ap.add_argument("--refresh-dev", action="store_true",
                    help="the old test split becomes dev and the old dev joins train")
    ap.add_argument("--write", action="store_true", help="write the merged set (else report)")
    args = ap.parse_args(argv)
    try:
        old = _read(args.dataset)
        new = [r for p in args.new for r in _read(p)]
    except DatasetError as e:
        print(e)
        return 1
    texts = corpus_texts(args.corpus or Settings().corpus_dir)
    own = own_files(args.repo)
    if not own:
        print("not a git checkout: questions were not checked against the app's own files")
    m = merge(old, new, texts, own, refresh_dev=args.refresh_dev)
    for p in m.problems:
        print(p)
    test = [r for r in m.rows if r["split"] == "test"]
    print(f"kept {m.kept} (unanswerable {sum(not r['answerable'] for r in test)}, "
          f"follow-ups {sum(bool(r.get('history')) for r in test)}, {NEAR_TAG} {m.near}), "
          f"dropped {len(m.dropped)} repeats, {len(m.twins)} twins and {len(m.shown)} the "
          f"app's files hold, "
          f"{m.mapped} quotes mapped to the parsed text")
    if m.problems:
        print(f"{len(m.problems)} problem(s): nothing written")
        return 1
    counts = {s: sum(r["split"] == s for r in m.rows) for s in ("train", "dev", "test")}
    if args.write:
        args.dataset.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                                        for r in m.rows), encoding="utf-8")
        print(f"wrote {args.dataset}: {counts}")
    else:
        print(f"would write {counts} (--write to write)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
