"""The careerbot HTTP API as the bot uses it: POST /v1/chat and POST /v1/feedback, failures
as user-facing text."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

log = logging.getLogger("careerbot.discord")

MAX_QUESTION_CHARS = 2000
MAX_HISTORY_TURNS = 20
MAX_TURN_CHARS = 4000
MAX_ANSWER_CHARS = 20_000
MAX_BODY_BYTES = 60 * 1024  # the API takes 64 KiB; leave room for the headers' sake


class CareerbotError(Exception):
    """The API could not answer; str(e) is written for the person who asked."""


def _server_message(resp: httpx.Response) -> str:
    try:
        err = resp.json()["error"]
        return str(err["message"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {resp.status_code}"


class CareerbotClient:
    def __init__(
        self, base_url: str, api_key: str | None = None, *, timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def chat(
        self, message: str, history: Sequence[Mapping[str, str]] = (), *,
        session_id: str | None = None,
    ) -> dict[str, Any]:
        """The API's answer {answer, citations, intent, abstained, ...}."""
        turns = [{"role": t["role"], "content": t["content"][:MAX_TURN_CHARS]}
                 for t in history][-MAX_HISTORY_TURNS:]
        body: dict[str, Any] = {"message": message, "history": turns}
        if session_id:
            body["session_id"] = session_id[:128]
        # 20 turns of 4,000 characters would exceed the API's 64 KiB body limit: drop the
        # oldest turns until the request fits.
        while turns and len(json.dumps(body).encode()) > MAX_BODY_BYTES:
            turns.pop(0)
        return await self._post("/v1/chat", body)

    async def feedback(
        self, question: str, answer: str, vote: str, *,
        history: Sequence[Mapping[str, str]] = (), citations: Sequence[Mapping[str, Any]] = (),
        ref: str | None = None,
    ) -> str:
        """Store a vote (up or down) on an answer; returns the record's id."""
        turns = [{"role": t["role"], "content": t["content"][:MAX_TURN_CHARS]}
                 for t in history][-MAX_HISTORY_TURNS:]
        body: dict[str, Any] = {
            "question": question[:MAX_QUESTION_CHARS], "answer": answer[:MAX_ANSWER_CHARS],
            "vote": vote, "history": turns, "citations": list(citations)[:50],
            "ref": ref, "channel": "discord"}
        while turns and len(json.dumps(body).encode()) > MAX_BODY_BYTES:
            turns.pop(0)
        return str((await self._post("/v1/feedback", body))["id"])

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            resp = await self._http.post(path, json=body)
        except httpx.TimeoutException as e:
            log.warning("careerbot API timed out: %r", e)
            raise CareerbotError("careerbot took too long to answer; please try again.") from e
        except httpx.TransportError as e:
            log.warning("careerbot API unreachable: %r", e)
            raise CareerbotError(
                "careerbot's API is unreachable right now; please try again later."
            ) from e
        if resp.status_code in (200, 201):
            data: dict[str, Any] = resp.json()
            return data
        why = _server_message(resp)
        log.warning("careerbot API answered %s: %s", resp.status_code, why)
        if resp.status_code == 429:
            wait = resp.headers.get("Retry-After")
            raise CareerbotError("Too many questions at once; please try again"
                                 + (f" in {wait} s." if wait else " in a minute."))
        if resp.status_code in (401, 403):
            raise CareerbotError("This bot's API key was refused; please tell the bot's "
                                 "operator (CAREERBOT_API_KEY).")
        if resp.status_code == 503:
            raise CareerbotError(f"careerbot is not ready: {why}. Please try again shortly.")
        if resp.status_code >= 500:
            raise CareerbotError("careerbot failed to answer this one; please try again.")
        raise CareerbotError(f"careerbot could not take this question: {why}")
