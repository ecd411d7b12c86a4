"""Who may change the guides: admin keys, separate from chat keys.

`CAREERBOT_ADMIN_KEYS` (Bearer) grants the writes of /v1/sources and /v1/ingest; a chat key
(`CAREERBOT_API_KEYS`) never does. With no admin keys configured, writes are accepted from
loopback clients only, so `make run` on a laptop works with nothing set and a server
exposed on a network does not let strangers replace its guides.
"""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials

from api.errors import ApiError
from rag.settings import Settings


def _keys(value: str) -> list[bytes]:
    return [k.strip().encode() for k in value.split(",") if k.strip()]


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host in ("localhost", "testclient"):  # Starlette's TestClient is a local caller
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class AdminGuard:
    def __init__(self, settings: Settings) -> None:
        self._keys = _keys(settings.admin_keys)

    def check(self, request: Request, creds: HTTPAuthorizationCredentials | None) -> None:
        if not self._keys:
            host = request.client.host if request.client else None
            if not is_loopback(host):
                raise ApiError(403, "forbidden", "changing guides is allowed from this "
                               "machine only; set CAREERBOT_ADMIN_KEYS to allow it remotely")
            return
        given = (creds.credentials if creds else "").encode()
        found = False
        for key in self._keys:  # every key compared, in constant time each
            found |= hmac.compare_digest(given, key)
        if not found:
            raise ApiError(401 if not given else 403, "unauthorized" if not given
                           else "forbidden", "an admin key is needed: send "
                           "Authorization: Bearer <one of CAREERBOT_ADMIN_KEYS>",
                           headers={"WWW-Authenticate": "Bearer"} if not given else None)
