"""One rate limiter per process, shared by the API and the chat UI.

A client's requests count against one budget whichever way they come in: an address that
asks through the UI and through POST /v1/chat gets `per_minute` in total, not twice that.
`Services` holds the one instance; the API's guard and the UI's callbacks both call `hit`
with a key from `address_key` (or, on the API with keys configured, the key's own).

It uses the `limits` library (the engine behind slowapi) with a moving window in process
memory, so the budget is per process: several replicas would each allow the full rate.
"""

from __future__ import annotations

import time

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


def address_key(host: str | None) -> str:
    """The budget key of a client address (the API and the UI must spell it alike)."""
    return "ip:" + (host or "unknown")


class RateLimiter:
    """At most `per_minute` hits per key in any 60 s; 0: no limit."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._item = RateLimitItemPerMinute(max(1, per_minute))
        self._limiter = MovingWindowRateLimiter(MemoryStorage()) if per_minute > 0 else None

    def hit(self, key: str) -> float | None:
        """None when allowed (and counted), else the seconds until `key` may try again."""
        if self._limiter is None or self._limiter.hit(self._item, key):
            return None
        reset = self._limiter.get_window_stats(self._item, key).reset_time
        return max(0.0, reset - time.time())
