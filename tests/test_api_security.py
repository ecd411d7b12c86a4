"""API keys, rate limits and CORS on /v1/*; health endpoints and docs stay open."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from rag.settings import Settings
from rag.store import Store
from tests.conftest import FakeEmbedder
from tests.test_api import QUESTION, assert_error, index_corpus

V1_CALLS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/v1/chat", {"message": QUESTION}),
    ("POST", "/v1/search", {"query": QUESTION}),
    ("GET", "/v1/sources", None),
    ("GET", "/v1/sources/001_b99e32355209f981", None),
    ("POST", "/v1/chat/completions",
     {"model": "careerbot", "messages": [{"role": "user", "content": QUESTION}]}),
    ("GET", "/v1/models", None),
    ("GET", "/v1/models/careerbot", None),
]

Factory = Callable[..., Any]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Store]:
    return index_corpus(tmp_path_factory.mktemp("security"))


@pytest.fixture
def make_client(indexed: tuple[Settings, Store]) -> Factory:
    @contextmanager
    def make(client: tuple[str, int] = ("127.0.0.1", 50000), **overrides: Any
             ) -> Iterator[TestClient]:
        settings = indexed[0].model_copy(update=overrides)
        app = create_app(settings, store=indexed[1], embedder=FakeEmbedder())
        with TestClient(app, client=client) as c:
            yield c
    return make


def call(c: TestClient, method: str, path: str, body: dict[str, Any] | None,
         key: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return c.request(method, path, json=body, headers=headers)


def test_open_without_keys(make_client: Factory) -> None:
    with make_client() as c:
        for method, path, body in V1_CALLS:
            assert call(c, method, path, body).status_code == 200, path


def test_keys_required_on_v1_only(make_client: Factory) -> None:
    with make_client(api_keys="alpha-key, beta-key") as c:
        for method, path, body in V1_CALLS:
            r = call(c, method, path, body)
            msg = assert_error(r, 401, "unauthorized") if "completions" not in path and (
                "models" not in path) else r.json()["error"]["message"]
            assert r.status_code == 401 and "Authorization: Bearer" in msg, path
            assert r.headers["www-authenticate"] == "Bearer"
            assert call(c, method, path, body, key="wrong").status_code == 401
            assert call(c, method, path, body, key="alpha-key").status_code == 200, path
            assert call(c, method, path, body, key="beta-key").status_code == 200, path
        r = c.get("/v1/sources", headers={"Authorization": "Basic YWxwaGEta2V5"})
        assert r.status_code == 401
        r = c.get("/v1/sources", headers={"Authorization": "Bearer alpha-key "})
        assert r.status_code in (200, 401)  # never a 500
        for path in ("/healthz", "/readyz", "/openapi.json", "/docs"):
            assert c.get(path).status_code == 200, path
        spec = c.get("/openapi.json").json()
        assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_key_comparison_is_constant_time(make_client: Factory,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bytes] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        seen.append(b)
        return real(a, b)

    monkeypatch.setattr("rag.access.hmac.compare_digest", spy)  # where keys are compared
    with make_client(api_keys="k1,k2,k3") as c:
        assert call(c, "GET", "/v1/models", None, key="k1").status_code == 200
    assert seen == [b"k1", b"k2", b"k3"]  # every key compared, even after a match


def test_rate_limit_per_key(make_client: Factory) -> None:
    with make_client(api_keys="a,b", rate_limit_per_minute=3) as c:
        for _ in range(3):
            assert call(c, "GET", "/v1/sources", None, key="a").status_code == 200
        r = call(c, "POST", "/v1/chat", {"message": "x"}, key="a")
        msg = assert_error(r, 429, "rate_limited")
        assert "3 requests per minute" in msg
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert call(c, "GET", "/v1/sources", None, key="b").status_code == 200
        assert c.get("/healthz").status_code == 200  # not counted, not limited


def test_failed_keys_are_rate_limited_by_address(make_client: Factory) -> None:
    with make_client(api_keys="right", rate_limit_per_minute=2) as c:
        codes = [call(c, "GET", "/v1/models", None, key="guess").status_code
                 for _ in range(3)]
        assert codes == [401, 401, 429]
        assert call(c, "GET", "/v1/models", None, key="right").status_code == 200


def test_rate_limit_per_client_ip(make_client: Factory) -> None:
    with make_client(rate_limit_per_minute=2, client=("10.0.0.1", 1)) as c:
        assert [c.get("/v1/models").status_code for _ in range(3)] == [200, 200, 429]
        assert c.get("/v1/models").json()["error"]["type"] == "rate_limit_error"
        other = TestClient(c.app, client=("10.0.0.2", 1))
        assert other.get("/v1/models").status_code == 200


def test_rate_limit_zero_disables(make_client: Factory) -> None:
    with make_client(rate_limit_per_minute=0) as c:
        assert all(c.get("/v1/models").status_code == 200 for _ in range(150))


PREFLIGHT = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization, content-type"}


def test_cors_closed_by_default(make_client: Factory) -> None:
    with make_client() as c:
        r = c.options("/v1/chat", headers={"Origin": "https://evil.example", **PREFLIGHT})
        assert "access-control-allow-origin" not in r.headers
        r = c.get("/v1/sources", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers


def test_cors_configured_origins(make_client: Factory) -> None:
    with make_client(cors_origins="https://app.example, https://b.example",
                     api_keys="k") as c:
        r = c.options("/v1/chat", headers={"Origin": "https://app.example", **PREFLIGHT})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "https://app.example"
        assert "authorization" in r.headers["access-control-allow-headers"].lower()
        r = c.options("/v1/chat", headers={"Origin": "https://evil.example", **PREFLIGHT})
        assert r.status_code == 400 and "access-control-allow-origin" not in r.headers
        # Errors carry the header too, so the browser app can read them.
        r = c.get("/v1/sources", headers={"Origin": "https://b.example"})
        assert r.status_code == 401
        assert r.headers["access-control-allow-origin"] == "https://b.example"
        r = call(c, "GET", "/v1/sources", None, key="k")
        assert r.status_code == 200
