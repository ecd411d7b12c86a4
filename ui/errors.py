"""What the chat shows when it cannot answer: friendly words, never a stack trace."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rag import failures
from rag.failures import Failure


@dataclass(frozen=True)
class Problem:
    title: str
    message: str
    kind: str = "error"  # css modifier: error | busy | info


STORE_DOWN = Problem(
    "The guides are unreachable right now",
    "careerbot could not reach its index of guides. Please try again in a minute; if it "
    "keeps happening, the server log says why.",
)
STARTING = Problem(
    "careerbot is still starting",
    "The language model or the index is still loading. Please ask again in a few seconds.",
    "busy",
)
EMPTY_INDEX = Problem(
    "No guides are indexed yet",
    "The index is empty. Run `careerbot ingest` (or restart with `make run`) and ask again.",
)
NO_GUIDES = Problem(
    "No guide selected",
    "Tick at least one guide under “Guides to search” so there is something to answer from.",
    "info",
)
INTERNAL = Problem(
    "Something went wrong",
    "careerbot could not answer this question. Please try again; if it keeps happening, "
    "the server log has the details.",
)


def rate_limited(retry_after: float | None = None) -> Problem:
    wait = (f"about {max(1, math.ceil(retry_after))} seconds" if retry_after
            else "a moment")
    return Problem(
        "Too many questions at once",
        f"You are asking faster than careerbot can keep up with. Please wait {wait} and "
        "ask again.",
        "busy",
    )


_NOTES = {"starting": STARTING, "model_failed": INTERNAL, "store_down": STORE_DOWN,
          "empty_index": EMPTY_INDEX, "internal": INTERNAL}


def problem_for(failure: Failure) -> Problem:
    """The note for a failure (rag.failures names them for the API and the UI alike)."""
    return rate_limited() if failure.kind == "rate_limited" else _NOTES[failure.kind]


def classify(exc: BaseException) -> Problem:
    """The note for an exception raised while answering."""
    return problem_for(failures.classify(exc))

