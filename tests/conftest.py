"""Shared fixtures: no test reaches the real API, and a fake Images API on 127.0.0.1 for those that need one.

Test files import the fake as `from fakeapi import FakeImagesAPI` (pytest puts tests/ on sys.path,
as for `sheetdata`).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from fakeapi import FakeImagesAPI

# Everything the SDK reads for credentials or extra headers; a developer's real values must not leak in.
_OPENAI_ENV = (
    "OPENAI_API_KEY",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "OPENAI_ADMIN_KEY",
    "OPENAI_WEBHOOK_SECRET",
    "OPENAI_CUSTOM_HEADERS",
)
FAKE_KEY = "sk-test-fake"


@pytest.fixture(scope="session")
def closed_base_url() -> str:
    """Return a loopback base URL that nothing listens on: requests to it fail at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # The socket closed without listening, so connections are refused (the port is free, not ours).
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture(autouse=True)
def _no_real_openai(monkeypatch: pytest.MonkeyPatch, closed_base_url: str) -> None:
    """Remove real keys and point OPENAI_BASE_URL at a closed port, so no test reaches the internet."""
    for name in _OPENAI_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", closed_base_url)


@pytest.fixture
def fake_api() -> Iterator[FakeImagesAPI]:
    """Yield a started fake Images API; it is stopped after the test."""
    with FakeImagesAPI() as server:
        yield server


@pytest.fixture
def fake_env(fake_api: FakeImagesAPI, monkeypatch: pytest.MonkeyPatch) -> FakeImagesAPI:
    """Return the fake API with OPENAI_BASE_URL pointing at it and OPENAI_API_KEY set to a test key."""
    monkeypatch.setenv("OPENAI_BASE_URL", fake_api.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    return fake_api
