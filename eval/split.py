"""Split a question set once: train 60%, dev 20%, test 20%, grouped by guide section.

    python -m eval.split NEW.jsonl [--old OLD.jsonl] --out eval/datasets/questions.jsonl

Questions about the same guide section (their `section` field) go to the same split, so a
near-duplicate of a test question is never trained on. Groups are ordered by a hash of
their name (a fixed seed, no look at the questions' content or at any system output) and
dealt to the split furthest below its share. Unanswerable questions have no section; each
is its own group.

`--old` items (an earlier set whose "dev" split was tuned on and whose "heldout" split has
been seen) go to train and dev only: dev -> train, heldout -> dev. The test split holds
only new questions.

This made the first split only. Each later blind set is added with `eval.merge`: it
becomes the test split and the seen one joins train.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

SHARES = {"train": 0.6, "dev": 0.2, "test": 0.2}
SEED = "careerbot-split-1"


def _group(row: dict[str, Any]) -> str:
    sec = str(row.get("section") or "")
    return sec if sec and sec != "none" and row.get("answerable", True) else f"id:{row['id']}"


def split(rows: list[dict[str, Any]]) -> dict[str, str]:
    """id -> split, for the new rows."""
    groups: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        groups[_group(r)].append(r["id"])
    order = sorted(groups, key=lambda g: hashlib.sha256(f"{SEED}:{g}".encode()).hexdigest())
    counts = dict.fromkeys(SHARES, 0)
    out: dict[str, str] = {}
    for g in order:
        total = sum(counts.values()) + len(groups[g])
        # the split furthest below its share once this group is added
        name = min(SHARES, key=lambda s: (counts[s] + len(groups[g])) / total - SHARES[s])
        counts[name] += len(groups[g])
        for i in groups[g]:
            out[i] = name
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("new", type=Path)
    ap.add_argument("--old", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    keep = {"id", "question", "kind", "answerable", "evidence", "facts", "key_facts", "shape",
            "section", "history", "tags"}
    new = [json.loads(x) for x in args.new.read_text().splitlines() if x.strip()]
    where = split(new)
    out = []
    if args.old:
        for line in args.old.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                r["split"] = {"dev": "train", "heldout": "dev"}.get(r["split"], r["split"])
                out.append(r)
    for r in new:
        row = {k: v for k, v in r.items() if k in keep}
        row["split"] = where[r["id"]]
        out.append(row)
    args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out))
    counts: dict[str, int] = defaultdict(int)
    for r in out:
        counts[r["split"]] += 1
    print(dict(counts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
