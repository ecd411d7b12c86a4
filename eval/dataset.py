"""The question set format, its loader and validator.

One JSON object per line (`eval/datasets/*.jsonl`):
    {"id", "question", "kind": timeline|degree|salary|tooling|other, "answerable": bool,
     "evidence": [{"doc": doc_id, "quote": exact text}], "facts": [str],
     "key_facts": [str], "shape": yesno|list|figure|comparison|fact|howto|explain|"",
     "section": "doc_id#heading path", "history": [{"role": "user"|"assistant",
     "content": str}], "tags": [str], "split": "train"|"dev"|"test"}
`key_facts` are the facts the first line of a right answer carries (the verdict, the
figure, the items); `section` groups near-duplicates so a split never separates them.
Items made from feedback (`careerbot feedback export`, eval.feedback) also carry
`answer_given` (the answer that was voted on) and `origin` (the vote: id, time, channel,
comment, the citations given).

An answerable item with neither evidence nor facts is *unlabelled*: a candidate waiting
for a person to fill in what a right answer holds (or to set `answerable` to false).
`careerbot eval` lists such items and scores the others; the validator skips them.
Evidence is (document, exact quote), not chunk ids, so the set survives re-chunking: a
retrieved chunk is relevant when its span overlaps an evidence span.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

DATASETS = Path(__file__).resolve().parent / "datasets"
DEFAULT_SET = DATASETS / "questions.jsonl"

Kind = Literal["timeline", "degree", "salary", "tooling", "other"]


class Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid")
    doc: str
    quote: str = Field(min_length=1)


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: str


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    question: str = Field(min_length=1)
    kind: Kind
    answerable: bool
    evidence: list[Evidence] = []
    facts: list[str] = []
    key_facts: list[str] = []
    shape: str = ""
    section: str = ""
    history: list[Turn] = []
    tags: list[str] = []
    split: Literal["train", "dev", "test"] = "dev"
    answer_given: str = ""
    origin: dict[str, Any] = {}

    @property
    def lead_facts(self) -> list[str]:
        """What the first line must carry: the key facts, else any fact."""
        return self.key_facts or self.facts

    @property
    def unlabelled(self) -> bool:
        """Answerable, yet nothing says what a right answer holds: not scored."""
        return self.answerable and not self.evidence and not self.facts


class DatasetError(ValueError):
    pass


def load_items(path: Path = DEFAULT_SET) -> list[Item]:
    items: list[Item] = []
    errors: list[str] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            items.append(Item.model_validate_json(line))
        except ValidationError as e:
            errors.append(f"{path.name}:{n}: {e.errors()[0]['loc']}: {e.errors()[0]['msg']}")
    if errors:
        raise DatasetError("\n".join(errors))
    return items


def spans(item: Item, texts: dict[str, str]) -> list[tuple[str, int, int]]:
    """(doc, start, end) of every evidence quote (first occurrence) in the canonical texts."""
    out = []
    for ev in item.evidence:
        pos = texts.get(ev.doc, "").find(ev.quote)
        if pos >= 0:
            out.append((ev.doc, pos, pos + len(ev.quote)))
    return out


def in_evidence(doc: str, start: int, end: int, ev: list[tuple[str, int, int]]) -> bool:
    """Whether the span overlaps one of the evidence `spans`: the label the answer model
    and the query adapter are fitted on."""
    return any(d == doc and a < end and start < b for d, a, b in ev)


def validate(items: list[Item], texts: dict[str, str]) -> list[str]:
    """Problems that make an item unusable: quotes not in the cited document, and the like."""
    problems = []
    seen: set[str] = set()
    for it in items:
        if it.id in seen:
            problems.append(f"{it.id}: duplicate id")
        seen.add(it.id)
        if it.unlabelled:
            continue  # listed by `careerbot eval`, not scored
        if it.answerable and not it.evidence:
            problems.append(f"{it.id}: answerable but has no evidence")
        if not it.answerable and (it.evidence or it.facts):
            problems.append(f"{it.id}: unanswerable items carry no evidence or facts")
        if any(k not in it.facts for k in it.key_facts):
            problems.append(f"{it.id}: key_facts must be among the facts")
        for ev in it.evidence:
            if ev.doc not in texts:
                problems.append(f"{it.id}: unknown document {ev.doc!r}")
            elif ev.quote not in texts[ev.doc]:
                problems.append(f"{it.id}: quote not found in {ev.doc}: {ev.quote!r}")
    return problems


def dump_items(items: list[Item], path: Path) -> None:
    # The feedback fields only where there is something in them: the hand-made set's lines
    # stay as they were.
    path.write_text("".join(
        json.dumps(i.model_dump(exclude={k for k in ("answer_given", "origin")
                                         if not getattr(i, k)}), ensure_ascii=False) + "\n"
        for i in items))
