"""Who may change the guides over HTTP: `rag.access.AdminRule` (admin keys, separate from
chat keys; loopback only without them), answered as 401 (no key sent) or 403."""

from __future__ import annotations

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials

from api.errors import ApiError
from rag.access import AdminRule
from rag.settings import Settings


class AdminGuard:
    def __init__(self, settings: Settings) -> None:
        self.rule = AdminRule(settings)

    def check(self, request: Request, creds: HTTPAuthorizationCredentials | None) -> None:
        given = creds.credentials if creds else ""
        why = self.rule.refusal(request.client.host if request.client else None, given)
        if why is None:
            return
        if self.rule.keys and not given:
            raise ApiError(401, "unauthorized", f"{why}: send Authorization: Bearer <key>",
                           headers={"WWW-Authenticate": "Bearer"})
        raise ApiError(403, "forbidden", why)
