"""How a command line finds the server that holds the data dir.

The embedded store is locked by the process that opened it, so `careerbot ask` beside a
running `careerbot serve` cannot open it. `serve` writes `server.json` in the data dir
(its address and pid) once it listens and removes it on exit; the command line reads it,
checks that the pid is alive and the address answers, and then goes through the HTTP API.
A file left by a killed server fails those checks and is ignored (and removed).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

FILE_NAME = "server.json"


@dataclass(frozen=True)
class ServerInfo:
    url: str
    pid: int


def write(data_dir: Path, url: str, pid: int | None = None) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / FILE_NAME
    tmp = path.with_name(f".{FILE_NAME}.{os.getpid()}")
    tmp.write_text(json.dumps({"url": url, "pid": pid or os.getpid()}))
    os.replace(tmp, path)
    return path


def remove(data_dir: Path, pid: int | None = None) -> None:
    """Remove the file if it is this process's (a second server must not remove the first's)."""
    info = _read(data_dir / FILE_NAME)
    if info is not None and info.pid == (pid or os.getpid()):
        (data_dir / FILE_NAME).unlink(missing_ok=True)


def _read(path: Path) -> ServerInfo | None:
    try:
        d = json.loads(path.read_text())
        return ServerInfo(str(d["url"]), int(d["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def find(data_dir: Path) -> ServerInfo | None:
    """The running server of `data_dir`, if any: the file exists, its pid lives and its
    address answers /healthz. A stale file is removed."""
    import httpx

    path = data_dir / FILE_NAME
    info = _read(path)
    if info is None:
        return None
    if not _alive(info.pid):
        path.unlink(missing_ok=True)
        return None
    try:
        ok = httpx.get(f"{info.url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        ok = False
    return info if ok else None
