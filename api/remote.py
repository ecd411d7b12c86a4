"""The command line through a running server's HTTP API.

Used when `careerbot serve` holds the data dir (found by api.discovery) or `--server URL`
names one. The commands print the same either way: the server answers with the same
dicts the local path builds (`Answer.to_dict()`, `Hit.to_dict()`, guide records, the
ingest report). A chat key (the first of CAREERBOT_API_KEYS) is sent for reads, an admin
key (the first of CAREERBOT_ADMIN_KEYS) for an ingest; with none set, a loopback server
accepts both.
"""

from __future__ import annotations

from typing import Any

import httpx

from rag.access import parse_list
from rag.settings import Settings


class RemoteError(RuntimeError):
    """The server refused or could not be reached; the message is the server's reason."""


class Remote:
    def __init__(self, url: str, settings: Settings, timeout: float = 600.0) -> None:
        self.url = url.rstrip("/")
        self.chat_key = next(iter(parse_list(settings.api_keys)), "")
        self.admin_key = next(iter(parse_list(settings.admin_keys)), "")
        self.timeout = timeout

    def _call(self, method: str, path: str, key: str, json: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        try:
            r = httpx.request(method, self.url + path, json=json, headers=headers,
                              timeout=self.timeout)
        except httpx.HTTPError as e:
            raise RemoteError(f"cannot reach the server at {self.url}: {e}") from e
        if r.status_code >= 400:
            try:
                message = r.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = r.text[:200] or r.reason_phrase
            raise RemoteError(f"the server at {self.url} answered {r.status_code}: {message}")
        return r.json()

    def ask(self, question: str, history: list[dict[str, str]],
            sources: list[str] | None) -> dict[str, Any]:
        body: dict[str, Any] = {"message": question, "history": history}
        if sources:
            body["sources"] = sources
        out: dict[str, Any] = self._call("POST", "/v1/chat", self.chat_key, body)
        out.pop("session_id", None)
        return out

    def search(self, query: str, top_k: int, mode: str, sources: list[str] | None,
               explain: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {"query": query, "top_k": top_k, "mode": mode}
        if sources:
            body["sources"] = sources
        if explain:
            body["explain"] = True
        out: dict[str, Any] = self._call("POST", "/v1/search", self.chat_key, body)
        return out

    def sources(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v1/sources", self.chat_key)["sources"])

    def ingest(self, full: bool) -> dict[str, Any]:
        out: dict[str, Any] = self._call("POST", "/v1/ingest", self.admin_key, {"full": full})
        return out
