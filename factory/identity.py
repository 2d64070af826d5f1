"""Who may do what: users (console log-in), sessions, and API tokens (integrations).

* Users have a role: ``editor`` < ``reviewer`` < ``admin``. A reviewer can do all an editor can,
  plus approve and reject; an admin also manages users, tokens and the avatar/voice library.
  Passwords are hashed with Argon2id (argon2-cffi); the first admin is made by
  ``factory users add --role admin`` — there is no default account or password.
* A session is an opaque random token handed to the console's browser; only its SHA-256 is
  stored, and it expires after ``settings.session_hours``.
* An API token belongs to one integration: a name, a role, an owner, an optional default
  webhook URL and a webhook secret (the HMAC key its webhooks are signed with). The token's
  secret is random (256 bits), so a SHA-256 of it is what is stored: it is shown once, at
  creation. A revoked token is refused from then on.

Rows live in ``users``, ``user_sessions`` and ``api_tokens`` (migration 0003); callers get plain
``User`` dataclasses (never a password hash) and ``ApiToken`` rows (a hash of the secret only).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Field, SQLModel, select

from factory.payloads import NARRATION_LANGUAGES as LANGUAGES
from factory.store import JobStore, as_utc, utcnow

ROLES = ("editor", "reviewer", "admin")
"""Lowest first: each role can do everything the ones before it can."""
TOKEN_PREFIX = "tf_"
"""Marks a factory API token in logs and secret scanners."""
MIN_PASSWORD_CHARS = 10
DEFAULT_SESSION_HOURS = 12.0


class IdentityError(ValueError):
    """A request about accounts that cannot be done; the message says why, for a person."""


# --- tables ------------------------------------------------------------------------------------

class UserRow(SQLModel, table=True):
    __tablename__ = "users"

    id: str = Field(primary_key=True, max_length=32)
    username: str = Field(index=True, unique=True, max_length=64)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=16)
    language: str = Field(default="zh", max_length=8)
    disabled: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class SessionRow(SQLModel, table=True):
    __tablename__ = "user_sessions"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


class ApiToken(SQLModel, table=True):
    """One integration's token. The row keeps a hash of the token, never the token itself; its
    webhook secret is kept as is, because signing needs it."""

    __tablename__ = "api_tokens"

    id: str = Field(primary_key=True, max_length=32)
    name: str = Field(index=True, unique=True, max_length=64)
    role: str = Field(max_length=16)
    owner: str = Field(max_length=64)
    secret_hash: str = Field(index=True, unique=True, max_length=64)
    """SHA-256 of the token's secret (the secret itself is shown once and never stored)."""
    webhook_url: str | None = Field(default=None, max_length=2000)
    """Default callback of the jobs this token submits."""
    webhook_secret: str = Field(max_length=128)
    """HMAC-SHA256 key of this token's webhooks (shown once, at creation)."""
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def actor(self) -> str:
        """How a job records that this token made or decided it."""
        return f"token:{self.name}"


# --- users as callers see them ---------------------------------------------------------------

@dataclass(frozen=True)
class User:
    id: str
    username: str
    role: str
    language: str
    disabled: bool
    created_at: datetime

    @classmethod
    def from_row(cls, row: UserRow) -> User:
        return cls(id=row.id, username=row.username, role=row.role, language=row.language,
                   disabled=row.disabled, created_at=row.created_at)


# --- roles --------------------------------------------------------------------------------------

def role_allows(role: str, needed_role: str) -> bool:
    """Whether ``role`` may do what ``needed_role`` may (unknown roles may do nothing)."""
    if role not in ROLES or needed_role not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(needed_role)


def check_role(role: str) -> str:
    if role not in ROLES:
        raise IdentityError(f"Unknown role {role!r}: choose one of {', '.join(ROLES)}.")
    return role


def _check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise IdentityError(f"Unknown language {language!r}: choose one of {', '.join(LANGUAGES)}.")
    return language


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()  # argon2-cffi's defaults: Argon2id, RFC 9106 low-memory profile


# A hash of a random password, checked when the user does not exist, so a wrong user name
# takes as long to refuse as a wrong password.
_DUMMY_HASH: str | None = None


# --- users --------------------------------------------------------------------------------------

def create_user(store: JobStore, username: str, password: str, role: str, language: str = "zh") -> User:
    """Add a user. Raises IdentityError for a taken name, a short password, an unknown role."""
    username = username.strip()
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        raise IdentityError("A user name needs 1 to 64 characters and no spaces.")
    if len(password) < MIN_PASSWORD_CHARS:
        raise IdentityError(f"The password needs at least {MIN_PASSWORD_CHARS} characters.")
    row = UserRow(id=uuid.uuid4().hex[:16], username=username, password_hash=_hasher().hash(password),
                  role=check_role(role), language=_check_language(language))
    with store.session() as s:
        if s.exec(select(UserRow).where(UserRow.username == username)).first() is not None:
            raise IdentityError(f"There is already a user named {username!r}.")
        s.add(row)
        s.commit()
    return User.from_row(row)


def list_users(store: JobStore) -> list[User]:
    with store.session() as s:
        return [User.from_row(row) for row in s.exec(select(UserRow).order_by(UserRow.username))]


def get_user(store: JobStore, username: str) -> User | None:
    with store.session() as s:
        row = s.exec(select(UserRow).where(UserRow.username == username)).first()
        return User.from_row(row) if row else None


def authenticate(store: JobStore, username: str, password: str) -> User | None:
    """The user, if the password is right and the account is enabled; else None."""
    from argon2.exceptions import InvalidHashError, VerificationError

    global _DUMMY_HASH
    hasher = _hasher()
    with store.session() as s:
        row = s.exec(select(UserRow).where(UserRow.username == username.strip())).first()
        if row is None:
            _DUMMY_HASH = _DUMMY_HASH or hasher.hash(secrets.token_urlsafe(16))
            try:
                hasher.verify(_DUMMY_HASH, password)
            except VerificationError:
                pass
            return None
        try:
            hasher.verify(row.password_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        if row.disabled:
            return None
        if hasher.check_needs_rehash(row.password_hash):  # parameters raised since it was stored
            row.password_hash = hasher.hash(password)
            s.add(row)
            s.commit()
        return User.from_row(row)


def set_password(store: JobStore, username: str, password: str) -> None:
    """A new password for ``username`` (``factory users password``)."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise IdentityError(f"The password needs at least {MIN_PASSWORD_CHARS} characters.")
    _update_user(store, username, password_hash=_hasher().hash(password))


def disable_user(store: JobStore, username: str, disabled: bool = True) -> User:
    """Disable (or enable again) a user; a disabled user's sessions end at once."""
    user = _update_user(store, username, disabled=disabled)
    if disabled:
        with store.session() as s:
            s.execute(SessionRow.__table__.delete().where(SessionRow.user_id == user.id))
            s.commit()
    return user


def set_language(store: JobStore, user_id: str, language: str) -> None:
    with store.session() as s:
        s.execute(update(UserRow).where(UserRow.id == user_id).values(language=_check_language(language)))
        s.commit()


def _update_user(store: JobStore, username: str, **values) -> User:
    with store.session() as s:
        row = s.exec(select(UserRow).where(UserRow.username == username)).first()
        if row is None:
            raise IdentityError(f"There is no user named {username!r}.")
        for key, value in values.items():
            setattr(row, key, value)
        s.add(row)
        s.commit()
        return User.from_row(row)


# --- sessions -----------------------------------------------------------------------------------

def start_session(store: JobStore, user: User, hours: float | None = None) -> str:
    """A new session for ``user``: the opaque token to hand to the browser."""
    if hours is None:
        from factory.settings import Settings

        hours = getattr(Settings.load(), "session_hours", DEFAULT_SESSION_HOURS)
    token = secrets.token_urlsafe(32)
    with store.session() as s:
        s.add(SessionRow(token_hash=_sha256(token), user_id=user.id, expires_at=utcnow() + timedelta(hours=hours)))
        s.commit()
    return token


def user_for_session(store: JobStore, token: str) -> User | None:
    """The session's user; None when the session is unknown, expired or the user disabled."""
    if not token:
        return None
    with store.session() as s:
        session = s.get(SessionRow, _sha256(token))
        if session is None:
            return None
        if as_utc(session.expires_at) <= utcnow():
            s.delete(session)
            s.commit()
            return None
        row = s.get(UserRow, session.user_id)
        return User.from_row(row) if row and not row.disabled else None


def end_session(store: JobStore, token: str) -> None:
    with store.session() as s:
        s.execute(SessionRow.__table__.delete().where(SessionRow.token_hash == _sha256(token)))
        s.commit()


# --- API tokens ---------------------------------------------------------------------------------

def create_token(store: JobStore, name: str, role: str, owner: str,
                 webhook_url: str | None = None) -> tuple[ApiToken, str]:
    """A new token and its secret. Only the secret's hash is kept: show the secret (and the
    token's ``webhook_secret``) to the person now, they cannot be read back later."""
    name = name.strip()
    if not name or len(name) > 64 or any(c.isspace() for c in name):
        raise IdentityError("A token name needs 1 to 64 characters and no spaces.")
    if webhook_url is not None and not webhook_url.startswith(("http://", "https://")):
        raise IdentityError("The webhook URL must start with http:// or https://.")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(id=uuid.uuid4().hex[:16], name=name, role=check_role(role), owner=owner,
                   secret_hash=_sha256(secret), webhook_url=webhook_url,
                   webhook_secret="whsec_" + secrets.token_urlsafe(32))
    with store.session() as s:
        if s.exec(select(ApiToken).where(ApiToken.name == name)).first() is not None:
            raise IdentityError(f"There is already a token named {name!r}.")
        s.add(row)
        s.commit()
    return row, secret


def token_for_secret(store: JobStore, secret: str) -> ApiToken | None:
    """The token this secret belongs to; None when unknown or revoked."""
    if not secret or not secret.startswith(TOKEN_PREFIX):
        return None
    with store.session() as s:
        row = s.exec(select(ApiToken).where(ApiToken.secret_hash == _sha256(secret))).first()
        if row is None or row.revoked_at is not None:
            return None
        now = utcnow()
        # Written at most once a minute: a busy integration should not write on every request.
        if row.last_used_at is None or now - as_utc(row.last_used_at) > timedelta(minutes=1):
            row.last_used_at = now
            s.add(row)
            s.commit()
        return row


def find_token(store: JobStore, id_or_name: str) -> ApiToken | None:
    """A token by its id or its name (how the CLI lets a person name one)."""
    with store.session() as s:
        row = s.get(ApiToken, id_or_name) or s.exec(
            select(ApiToken).where(ApiToken.name == id_or_name)).first()
        return row


def revoke_token(store: JobStore, token_id: str) -> ApiToken:
    """Refuse the token from now on (revoking twice keeps the first time)."""
    with store.session() as s:
        row = s.get(ApiToken, token_id)
        if row is None:
            raise IdentityError(f"There is no token {token_id!r}.")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            s.add(row)
            s.commit()
        return row


def list_tokens(store: JobStore) -> list[ApiToken]:
    with store.session() as s:
        return [row for row in s.exec(select(ApiToken).order_by(ApiToken.created_at))]
