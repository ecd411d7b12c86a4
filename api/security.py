"""API keys and rate limits for /v1/*; health endpoints and the UI stay outside them.

`Guard` backs a dependency on every /v1 route: it checks `Authorization: Bearer <key>`
when keys are configured, then counts the request against the caller's budget.

Rate limiting uses the process's one `rag.ratelimit.RateLimiter` (the `limits` library,
moving window, in memory), the same the chat UI counts its questions with, so a client
address has one budget across both. slowapi is not used: it wants a decorator and a
`request` argument on every endpoint and answers 429 in its own body shape, whereas one
dependency given to every /v1 route raises our ApiError (with Retry-After).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import ApiError, rate_limited_message
from rag.access import key_matches, parse_list
from rag.ratelimit import RateLimiter, address_key
from rag.settings import Settings

bearer = HTTPBearer(
    auto_error=False,
    description="Needed on /v1/* only when the server sets CAREERBOT_API_KEYS.",
)




class Guard:
    def __init__(self, settings: Settings, limiter: RateLimiter) -> None:
        self._keys = [k.encode() for k in parse_list(settings.api_keys)]
        self.limiter = limiter

    @property
    def auth_required(self) -> bool:
        return bool(self._keys)

    def _key_matches(self, given: str) -> bool:
        return key_matches(self._keys, given)

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
        left = self.limiter.hit(who)
        if left is None:
            return
        wait = max(1, math.ceil(left))
        raise ApiError(429, "rate_limited", rate_limited_message(self.limiter.per_minute, wait),
                       headers={"Retry-After": str(wait)})

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
    return address_key(request.client.host if request.client else None)


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
            app, allow_origins=list(origins), allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type"], expose_headers=["Retry-After"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_api_path(scope.get("path", "")):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
