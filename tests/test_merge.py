"""The next blind set joins the question set: repeats dropped, quotes mapped, splits moved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eval.merge import NEAR_TAG, locate, main, merge

# A made-up guide, not one of the corpus's: these tests are about the merge, not the guides.
TEXT = ("Gardening basics\n\nCompost needs greens and browns in equal measure.\n"
        "Water it weekly \u2013 more in summer.\nTools: a fork, a bin, gloves")
TEXTS = {"doc": TEXT}


def row(i: str, question: str, split: str | None = None, quote: str = "greens and browns",
        facts: tuple[str, ...] = ("greens and browns",), **kw: Any) -> dict[str, Any]:
    r: dict[str, Any] = {
        "id": i, "question": question, "history": [], "kind": "other", "shape": "fact",
        "answerable": True, "evidence": [{"doc": "doc", "quote": quote}],
        "facts": list(facts), "key_facts": list(facts[:1]), "section": "doc#Gardening basics",
        "tags": [], **kw}
    if split:
        r["split"] = split
    return r


OLD = [row("o1", "what goes into a compost heap", "train"),
       row("o2", "how often should compost be watered", "dev"),
       row("o3", "which tools does a compost bin need", "test")]


def test_locate_maps_raw_markup_to_the_parsed_text() -> None:
    assert locate(TEXT, "greens and browns") == "greens and browns"
    # a JSON escape and an HTML entity, as a writer copies them from a raw JSON/HTML file
    assert locate(TEXT, "Water it weekly \\u2013 more") == "Water it weekly \u2013 more"
    assert locate(TEXT, "Water it weekly &#8211; more") == "Water it weekly \u2013 more"
    # markdown emphasis and a line break the parsed text does not have
    assert locate(TEXT, "**Compost** needs greens\nand browns") == \
        "Compost needs greens and browns"
    assert locate(TEXT, "<li>a fork, a bin</li>") == "a fork, a bin"
    assert locate(TEXT, "nothing like this") is None


def test_new_set_becomes_test_and_the_old_test_joins_train() -> None:
    new = [row("n1", "is a garden fork worth buying for a beginner gardener", quote="a fork"),
           row("n2", "what goes into a compost heap exactly"),  # 6 of its 7 words in o1: a repeat
           row("n3", "what goes into a heap of compost, roughly, for a small yard")]
    m = merge(OLD, new, TEXTS)
    assert m.problems == []
    splits = {r["id"]: r["split"] for r in m.rows}
    assert splits == {"o1": "train", "o2": "dev", "o3": "train", "n1": "test", "n3": "test"}
    assert m.dropped == ["n2"] and m.kept == 2
    tags = {r["id"]: r["tags"] for r in m.rows}
    # n3 has 6 of its 11 words in o1 (0.55): new enough, not tagged
    assert NEAR_TAG not in tags["n3"] and NEAR_TAG not in tags["n1"]
    assert new[0].get("split") is None  # the caller's rows are not changed


def test_a_new_question_repeating_an_earlier_new_one_is_dropped_untagged() -> None:
    new = [row("n1", "how much water does a compost heap need in summer"),
           row("n2", "how much water does a compost heap need in the summer?"),  # a twin
           row("n3", "how much water does a heap need when it is dry")]  # 7 of 11 words
    m = merge(OLD, new, TEXTS)
    assert m.problems == [] and m.twins == ["n2"] and m.dropped == []
    tags = {r["id"]: r["tags"] for r in m.rows if r["split"] == "test"}
    assert set(tags) == {"n1", "n3"}
    assert all(NEAR_TAG not in t for t in tags.values())  # near each other, not an old one


def test_refresh_dev_moves_the_old_test_to_dev_and_the_old_dev_to_train() -> None:
    new = [row("n1", "is a garden fork worth buying for a beginner gardener", quote="a fork")]
    m = merge(OLD, new, TEXTS, refresh_dev=True)
    assert m.problems == []
    assert {r["id"]: r["split"] for r in m.rows} == {"o1": "train", "o2": "train",
                                                     "o3": "dev", "n1": "test"}


def test_near_repeats_are_kept_and_tagged() -> None:
    # 4 of 6 words in o2's question: between NEAR and REPEAT
    m = merge(OLD, [row("n1", "how often should compost sit around")], TEXTS)
    assert m.dropped == [] and m.near == 1
    assert m.rows[-1]["tags"] == [NEAR_TAG]


def test_follow_ups_are_compared_with_their_user_turns() -> None:
    hist = [{"role": "user", "content": "what goes into a compost heap"},
            {"role": "assistant", "content": "Greens and browns."}]
    m = merge(OLD, [row("n1", "and", history=hist, tags=["followup"])], TEXTS)
    assert m.dropped == ["n1"]


def test_questions_the_app_shows_are_dropped() -> None:
    own = ["EXAMPLES = [\n  'Is a garden   fork worth buying?',\n]"]
    new = [row("n1", "is a garden fork worth buying?", quote="a fork"),
           row("n2", "do worms help", history=[
               {"role": "user", "content": "Is a garden fork worth buying?"},
               {"role": "assistant", "content": "Yes."}], tags=["followup"]),
           row("n3", "is a fork needed")]
    m = merge(OLD, new, TEXTS, own)
    assert m.shown == ["n1", "n2"] and [r["id"] for r in m.rows][-1] == "n3"


def test_quotes_and_facts_are_rewritten_to_the_parsed_text() -> None:
    m = merge(OLD, [row("n1", "do i water it every day in july",
                        quote="Water it weekly \\u2013 more in summer",
                        facts=("more in summer", "weekly \\u2013 more"))], TEXTS)
    assert m.problems == [] and m.mapped == 1
    new = m.rows[-1]
    assert new["evidence"][0]["quote"] == "Water it weekly \u2013 more in summer"
    assert new["facts"] == ["more in summer", "weekly \u2013 more"]


def test_problems_write_nothing(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "doc.txt").write_text(TEXT, encoding="utf-8")
    dataset = tmp_path / "questions.jsonl"
    before = "".join(json.dumps(r) + "\n" for r in OLD)
    dataset.write_text(before, encoding="utf-8")
    bad = tmp_path / "new.jsonl"
    bad.write_text(json.dumps(row("n1", "any quote about roses", quote="roses bloom")) + "\n"
                   + json.dumps(row("o1", "a reused id for something else")) + "\n")
    args = [str(bad), "--dataset", str(dataset), "--corpus", str(corpus),
            "--repo", str(tmp_path), "--write"]
    assert main(args) == 1
    assert dataset.read_text(encoding="utf-8") == before


def test_write(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "doc.txt").write_text(TEXT, encoding="utf-8")
    dataset = tmp_path / "questions.jsonl"
    dataset.write_text("".join(json.dumps(r) + "\n" for r in OLD), encoding="utf-8")
    new = tmp_path / "new.jsonl"
    new.write_text(json.dumps(row("n1", "is a garden fork worth buying", quote="a fork"))
                   + "\n")
    # --repo: not this checkout, whose tracked files (this test among them) hold the
    # question below and would drop it
    args = [str(new), "--dataset", str(dataset), "--corpus", str(corpus), "--repo",
            str(tmp_path)]
    assert main(args) == 0  # a dry run by default
    assert len(dataset.read_text().splitlines()) == 3
    assert main([*args, "--write"]) == 0
    rows = [json.loads(x) for x in dataset.read_text(encoding="utf-8").splitlines()]
    assert [(r["id"], r["split"]) for r in rows] == [
        ("o1", "train"), ("o2", "dev"), ("o3", "train"), ("n1", "test")]
