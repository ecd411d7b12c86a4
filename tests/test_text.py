"""rag.text's rules beyond the answerer's (tests/test_blocks.py has those): typed text,
chat messages, answer sentences and figures."""

from __future__ import annotations

import pytest

from rag.text import (
    answer_sentences,
    fact_found,
    loose_sentence_ends,
    normalise,
    normalise_figures,
    strip_item_markers,
    typed_sentences,
    ungrounded_figures,
)


def test_typed_sentences_split_whatever_case_follows() -> None:
    assert typed_sentences("ok. how about boston?\n\nand SF… thanks!") == [
        "ok.", "how about boston?", "and SF…", "thanks!"]
    assert typed_sentences('He said "stop." Then left.') == ['He said "stop."', "Then left."]
    assert typed_sentences("  \n ") == []


def test_loose_sentence_ends_are_offsets_after_the_space() -> None:
    text = "One. *Two!* three"
    assert loose_sentence_ends(text) == [5, 12]
    assert text[12:] == "three"


def test_answer_sentences_drop_list_markers_and_keep_citations() -> None:
    answer = "Plan:\n1. Learn Python [1]. Then SQL. [2]\n- Ship a project [3]\n**Bold** claim."
    assert answer_sentences(answer) == [
        "Plan:", "Learn Python [1].", "Then SQL. [2]", "Ship a project [3]", "**Bold** claim."]
    # guide-style boundaries: an abbreviation before a lower-case word does not split
    assert answer_sentences("Learn tools, e.g. numpy and pandas [1].") == [
        "Learn tools, e.g. numpy and pandas [1]."]


def test_strip_item_markers() -> None:
    assert strip_item_markers("1. 5 years\n  - 20% more\n2) ok\n-3 degrees") == (
        "5 years\n20% more\nok\n-3 degrees")


@pytest.mark.parametrize("amount", ["$122,000", "122,000", "$122000"])
def test_both_normalisations_agree_on_amounts(amount: str) -> None:
    assert normalise(amount) == normalise_figures(amount) == "122000"
    assert fact_found(amount, "about 122000 a year")
    assert ungrounded_figures(f"about {amount} a year [1]", ["pays $122,000"]) == []


def test_figures_the_validator_folds_further() -> None:
    passage = ["takes 6 to 9 months; 20 percent of roles"]
    assert ungrounded_figures("6-9 months [1], 20% [2]", passage) == []
    assert ungrounded_figures("9-12 months [1]", passage) == ["9-12 months"]
    assert normalise_figures("6 − 9") == "6-9"  # a minus sign is a dash to figures
