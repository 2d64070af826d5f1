"""Shared fixtures of the API tests (imported by tests/test_api_*.py): an app with one token per
role, and a way to make more."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest


@dataclass
class Api:
    app: object
    client: object
    tokens: dict[str, str] = field(default_factory=dict)
    """role -> secret."""
    prefix: str = ""
    """Token names are ``<prefix><role>-token`` (unique when several apps share a database)."""

    def headers(self, role: str = "editor") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def actor(self, role: str = "editor") -> str:
        """How jobs made or decided with the role's token record who did it."""
        return f"token:{self.prefix}{role}-token"

    def new_token(self, name: str, role: str = "editor", webhook_url: str | None = None) -> str:
        from factory.identity import create_token

        return create_token(self.app.state.service.jobs, name, role, "tests", webhook_url=webhook_url)[1]

    @property
    def service(self):
        return self.app.state.service


def make_api(settings, prefix: str = "") -> Api:
    from fastapi.testclient import TestClient

    from factory.api import create_app

    app = create_app(settings)
    api = Api(app=app, client=TestClient(app), prefix=prefix)
    for role in ("editor", "reviewer", "admin"):
        api.tokens[role] = api.new_token(f"{prefix}{role}-token", role)
    return api


@pytest.fixture
def api(settings):
    settings.api_rate_limit_per_minute = 10_000
    made = make_api(settings)
    with made.client:  # runs the app's start-up and shut-down
        yield made
