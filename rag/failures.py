"""What can keep a question from being answered, named once for every interface.

The API and the UI tell the same situations apart (the model still loading, the store
unreachable, the index empty, a client over its budget, a bug) and each words them its own
way: the API as an HTTP status and error code (api.errors, api.runtime), the UI as a
friendly note (ui.errors). Both classify with this module, so an exception that one of
them treats as "the store is down" is never a generic failure in the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import httpx
from qdrant_client.http.exceptions import ApiException

from rag.store import StoreError

# What an unreachable or broken store raises mid-question, in local and server mode.
STORE_ERRORS: tuple[type[Exception], ...] = (
    StoreError, ApiException, httpx.TransportError, ConnectionError, TimeoutError,
)

EMPTY_INDEX = "index is empty: run careerbot ingest"

Kind = Literal["starting", "model_failed", "store_down", "empty_index", "rate_limited",
               "internal"]


@dataclass(frozen=True)
class Failure:
    """Why a question cannot be answered. `detail` is for logs and API messages; the UI
    shows its own words for `kind`, never the detail."""

    kind: Kind
    detail: str = ""


def _status(exc: BaseException) -> int | None:
    for obj in (exc, getattr(exc, "response", None)):
        code = getattr(obj, "status_code", None)
        if isinstance(code, int):
            return code
    return None


def classify(exc: BaseException) -> Failure:
    """The failure an exception raised while answering stands for."""
    detail = str(exc) or type(exc).__name__
    if _status(exc) == 429 or "ratelimit" in type(exc).__name__.lower():
        return Failure("rate_limited", detail)
    if isinstance(exc, STORE_ERRORS):
        return Failure("store_down", detail)
    return Failure("internal", detail)
