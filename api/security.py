"""API keys and rate limits for /v1/*; health endpoints and the UI stay outside them.

`Guard` backs a dependency on every /v1 route: it checks `Authorization: Bearer <key>`
when keys are configured, then counts the request against the caller's budget.

Rate limiting uses the `limits` library (the engine behind slowapi) with a moving window in
process memory. slowapi itself is not used: it wants a decorator and a `request` argument
on every endpoint and answers 429 in its own body shape, whereas one dependency given to
every /v1 route raises our ApiError (with Retry-After). Memory storage
means the budget is per process; several replicas would each allow the full rate.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Sequence

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import ApiError
from rag.settings import Settings

bearer = HTTPBearer(
    auto_error=False,
    description="Needed on /v1/* only when the server sets CAREERBOT_API_KEYS.",
)


def parse_list(value: str) -> list[str]:
    """A comma-separated setting as a list, blanks dropped."""
    return [v.strip() for v in value.split(",") if v.strip()]


class Guard:
    def __init__(self, settings: Settings) -> None:
        self._keys = [k.encode() for k in parse_list(settings.api_keys)]
        self.per_minute = settings.rate_limit_per_minute
        self._item = RateLimitItemPerMinute(max(1, self.per_minute))
        self._limiter = MovingWindowRateLimiter(MemoryStorage()) if self.per_minute else None

    @property
    def auth_required(self) -> bool:
        return bool(self._keys)

    def _key_matches(self, given: str) -> bool:
        candidate = given.encode()
        # Compare against every key, without stopping at a match, in constant time each.
        found = False
        for key in self._keys:
            found |= hmac.compare_digest(candidate, key)
        return found

    def identity(self, request: Request, creds: HTTPAuthorizationCredentials | None) -> str:
        """Who the request counts against: its key (hashed), else its client address.

        Raises 401 when keys are configured and the request has no valid one.
        """
        if not self._keys:
            return _client_ip(request)
        if creds is None or not creds.credentials:
            raise ApiError(
                401, "unauthorized",
                "missing API key: send the header Authorization: Bearer <key>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not self._key_matches(creds.credentials):
            raise ApiError(401, "unauthorized", "invalid API key",
                           headers={"WWW-Authenticate": "Bearer"})
        return "key:" + hashlib.sha256(creds.credentials.encode()).hexdigest()[:16]

    def limit(self, who: str) -> None:
        if self._limiter is None or self._limiter.hit(self._item, who):
            return
        reset = self._limiter.get_window_stats(self._item, who).reset_time
        wait = max(1, math.ceil(reset - time.time()))
        raise ApiError(
            429, "rate_limited",
            f"rate limit of {self.per_minute} requests per minute exceeded; retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )

    def check(self, request: Request, creds: HTTPAuthorizationCredentials | None) -> None:
        try:
            who = self.identity(request, creds)
        except ApiError:
            self.limit(_client_ip(request))  # failed attempts count against the address
            raise
        self.limit(who)


def _client_ip(request: Request) -> str:
    # The peer address; behind a reverse proxy, uvicorn's --proxy-headers (with
    # --forwarded-allow-ips) makes it the client's.
    return "ip:" + (request.client.host if request.client else "unknown")


API_PATHS = ("/v1/", "/healthz", "/readyz", "/openapi.json", "/docs", "/redoc")


def is_api_path(path: str) -> bool:
    return path.startswith(API_PATHS)


class ApiCORS:
    """Starlette's CORSMiddleware for the API's paths only; other paths (the UI mount,
    which has its own CORS policy) pass through untouched.

    Always installed, so with no origins configured the API is closed: a preflight from
    any origin gets 400 here instead of reaching the UI mount, whose permissive policy
    would otherwise answer for the API paths it catches (e.g. OPTIONS /v1/chat).
    """

    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app, allow_origins=list(origins), allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"], expose_headers=["Retry-After"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_api_path(scope.get("path", "")):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
