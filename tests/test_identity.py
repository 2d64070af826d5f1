"""Users, sessions and API tokens (factory/identity.py) and their commands
(``factory users``, ``factory tokens``), on SQLite and on real PostgreSQL."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import text


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    from factory.store import JobStore

    if request.param == "sqlite":
        return JobStore(f"sqlite:///{tmp_path / 'factory.db'}")
    store = JobStore(request.getfixturevalue("postgres_url"))
    with store.engine.begin() as connection:  # the session's database is shared by tests
        connection.execute(text("DELETE FROM user_sessions; DELETE FROM users; DELETE FROM api_tokens"))
    return store


def test_passwords_are_argon2_hashed_and_checked(store):
    from factory.identity import IdentityError, authenticate, create_user, disable_user

    user = create_user(store, "alice", "correct horse battery", "reviewer", language="en")
    assert (user.username, user.role, user.language, user.disabled) == ("alice", "reviewer", "en", False)
    with store.engine.connect() as connection:
        stored = connection.execute(text("SELECT password_hash FROM users")).scalar_one()
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert authenticate(store, "alice", "correct horse battery").id == user.id
    assert authenticate(store, "alice", "wrong password!!") is None
    assert authenticate(store, "nobody", "correct horse battery") is None
    with pytest.raises(IdentityError, match="at least 10 characters"):
        create_user(store, "bob", "short", "editor")
    with pytest.raises(IdentityError, match="already a user"):
        create_user(store, "alice", "another long password", "editor")
    with pytest.raises(IdentityError, match="Unknown role"):
        create_user(store, "carol", "another long password", "superuser")
    disable_user(store, "alice")
    assert authenticate(store, "alice", "correct horse battery") is None


def test_sessions_expire_and_end(store):
    from factory.identity import create_user, disable_user, end_session, set_language, start_session, user_for_session

    user = create_user(store, "dora", "a long enough password", "editor")
    token = start_session(store, user, hours=1)
    assert user_for_session(store, token).username == "dora"
    set_language(store, user.id, "en")
    assert user_for_session(store, token).language == "en"
    end_session(store, token)
    assert user_for_session(store, token) is None
    expired = start_session(store, user, hours=-0.01)
    assert user_for_session(store, expired) is None
    alive = start_session(store, user, hours=1)
    disable_user(store, "dora")  # a disabled user's sessions end at once
    assert user_for_session(store, alive) is None
    assert user_for_session(store, "made-up") is None


def test_tokens_are_stored_hashed_shown_once_and_revocable(store):
    from factory.identity import create_token, list_tokens, revoke_token, role_allows, token_for_secret

    token, secret = create_token(store, "crm", "editor", "alice", webhook_url="https://crm.example/hook")
    assert secret.startswith("tf_") and len(secret) > 40
    assert token.webhook_secret.startswith("whsec_") and token.webhook_url == "https://crm.example/hook"
    with store.engine.connect() as connection:
        row = dict(connection.execute(text("SELECT * FROM api_tokens")).mappings().one())
    assert secret not in str(row)  # only its hash is kept
    found = token_for_secret(store, secret)
    assert found.id == token.id and found.role == "editor" and found.actor == "token:crm"
    assert token_for_secret(store, secret + "x") is None
    assert [t.name for t in list_tokens(store)] == ["crm"]
    revoke_token(store, token.id)
    assert token_for_secret(store, secret) is None
    assert list_tokens(store)[0].revoked_at is not None
    assert role_allows("admin", "reviewer") and role_allows("reviewer", "editor") and role_allows("editor", "editor")
    assert not role_allows("editor", "reviewer") and not role_allows("reviewer", "admin") and not role_allows("x", "editor")


def test_users_and_tokens_commands(tmp_path, monkeypatch):
    from factory.cli_accounts import tokens, users
    from factory.identity import authenticate, token_for_secret
    from factory.store import JobStore

    monkeypatch.setenv("FACTORY_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    password = tmp_path / "pw.txt"
    password.write_text("first admin password\n")
    added = runner.invoke(users, ["add", "root", "--role", "admin", "--password-file", str(password)])
    assert added.exit_code == 0 and "added root (admin)" in added.output
    prompted = runner.invoke(users, ["add", "ed", "--language", "en"], input="typed password 1\ntyped password 1\n")
    assert prompted.exit_code == 0, prompted.output
    taken = runner.invoke(users, ["add", "root", "--password-file", str(password)])
    assert taken.exit_code != 0 and "already a user named 'root'" in taken.output
    short = tmp_path / "short.txt"
    short.write_text("tiny\n")
    refused = runner.invoke(users, ["add", "x", "--password-file", str(short)])
    assert refused.exit_code != 0 and "at least 10 characters" in refused.output
    listed = runner.invoke(users, ["list"]).output
    assert "root" in listed and "admin" in listed and "ed " in listed
    assert runner.invoke(users, ["disable", "ed"]).exit_code == 0
    assert "disabled" in runner.invoke(users, ["list"]).output
    missing = runner.invoke(users, ["disable", "nobody"])
    assert missing.exit_code != 0 and "no user named" in missing.output

    created = runner.invoke(tokens, ["create", "crm", "--role", "reviewer", "--owner", "root"])
    assert created.exit_code == 0, created.output
    secret = next(line.split()[-1] for line in created.output.splitlines() if line.startswith("secret:"))
    store = JobStore(f"sqlite:///{tmp_path / 'data' / 'factory.db'}")
    assert token_for_secret(store, secret).role == "reviewer"
    assert authenticate(store, "root", "first admin password").role == "admin"
    assert authenticate(store, "ed", "typed password 1") is None  # disabled
    listing = runner.invoke(tokens, ["list"]).output
    assert "crm" in listing and secret not in listing and "active" in listing
    assert runner.invoke(tokens, ["revoke", "crm"]).exit_code == 0
    assert token_for_secret(store, secret) is None and "revoked" in runner.invoke(tokens, ["list"]).output
