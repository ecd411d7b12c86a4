"""Who may do what: key lists, constant-time key checks, loopback clients, and the rule for
changing guides. One home for these, used by the API (api.security, api.admin) and by the
UI's Guides tab, which imports nothing of the API."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Sequence

from rag.settings import Settings


def parse_list(value: str) -> list[str]:
    """A comma-separated setting as a list, blanks dropped."""
    return [v.strip() for v in value.split(",") if v.strip()]


def key_matches(keys: Sequence[bytes], given: str) -> bool:
    """Whether `given` is one of `keys`: compared against every key, without stopping at a
    match, in constant time each."""
    candidate = given.encode()
    found = False
    for key in keys:
        found |= hmac.compare_digest(candidate, key)
    return found


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host in ("localhost", "testclient"):  # Starlette's TestClient is a local caller
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class AdminRule:
    """Changing guides: a key of CAREERBOT_ADMIN_KEYS (never a chat key); with none set,
    loopback clients only, so `make run` on a laptop needs nothing and a server exposed
    on a network does not let strangers replace its guides."""

    LOOPBACK_ONLY = ("changing guides is allowed from this machine only; set "
                     "CAREERBOT_ADMIN_KEYS to allow it remotely")
    NEED_KEY = "an admin key is needed (one of CAREERBOT_ADMIN_KEYS)"

    def __init__(self, settings: Settings) -> None:
        self.keys = [k.encode() for k in parse_list(settings.admin_keys)]

    def refusal(self, host: str | None, key: str) -> str | None:
        """None when this caller may change guides, else why not."""
        if not self.keys:
            return None if is_loopback(host) else self.LOOPBACK_ONLY
        return None if key and key_matches(self.keys, key) else self.NEED_KEY
