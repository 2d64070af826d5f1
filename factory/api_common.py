"""What every route of the HTTP API shares: the error shape, token authentication with roles,
the per-token rate limit, refusing unknown query parameters, and checking uploads by content.

Every 4xx/5xx answer has one shape, ``{"error": {"code": "...", "message": "..."}}``; the
message is a sentence for the person reading the integration's log.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from factory.identity import ApiToken, role_allows, token_for_secret

# --- the one error shape -------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: str
    """Stable, machine-readable: unauthorized, forbidden, not_found, conflict, invalid_request,
    payload_too_large, rate_limited, unavailable, internal_error."""
    message: str
    """A sentence for a person."""


class ErrorBody(BaseModel):
    error: ErrorDetail


CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type", 422: "invalid_request",
         429: "rate_limited", 500: "internal_error", 503: "unavailable"}


class ApiError(HTTPException):
    """An answer other than success: ``raise ApiError(404, "There is no job abc.")``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(status_code=status, detail=message, headers=headers)


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": CODES.get(status, "error"), "message": message}}


def _error(status: int, description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"model": ErrorBody, "description": description}
    if headers:
        entry["headers"] = headers
    return entry


RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before the next request.", "schema": {"type": "integer"}}}
AUTH_ERRORS = {
    401: _error(401, "No token, or an unknown or revoked one."),
    403: _error(403, "The token's role may not do this."),
    429: _error(429, "Too many requests for this token; wait Retry-After seconds.", RETRY_AFTER),
    422: _error(422, "A parameter or field is missing, unknown or out of range."),
    500: _error(500, "An internal error (logged on the server)."),
}
NOT_FOUND = {404: _error(404, "No such object.")}
CONFLICT = {409: _error(409, "The object's state does not allow this; the message says why.")}
TOO_LARGE = {413: _error(413, "The upload is larger than the server accepts.")}


# --- authentication, roles, rate limit -----------------------------------------------------------

bearer = HTTPBearer(auto_error=False, description="An API token made with `factory tokens create`.")


class RateLimiter:
    """A token bucket per API token: ``per_minute`` requests a minute, bursts up to that many.
    Kept in this process's memory (each API process counts its own requests)."""

    def __init__(self, per_minute: int):
        self.capacity = float(max(1, per_minute))
        self.refill = self.capacity / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when the request may go ahead; else the seconds until one may."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.refill)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.refill


def requires(role: str):
    """A dependency: the caller's API token, which must allow ``role``; 401/429/403 otherwise."""

    def caller(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> ApiToken:
        if credentials is None:
            raise ApiError(401, "This endpoint needs an API token: send 'Authorization: Bearer <token>'.",
                           {"WWW-Authenticate": "Bearer"})
        token = token_for_secret(request.app.state.service.jobs, credentials.credentials)
        if token is None:
            raise ApiError(401, "The API token is unknown or has been revoked.", {"WWW-Authenticate": "Bearer"})
        wait = request.app.state.rate_limiter.take(token.id)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise ApiError(429, f"Too many requests for token {token.name}: try again in {seconds} s.",
                           {"Retry-After": str(seconds)})
        if not role_allows(token.role, role):
            raise ApiError(403, f"Token {token.name} has the role {token.role}; this needs {role} or above.")
        request.state.caller = token
        return token

    return caller


# --- strict query strings ---------------------------------------------------------------------------

def refuse_unknown_query(request: Request) -> None:
    """Query parameters the route does not declare are refused (422), not silently ignored:
    a typo like ``?stauts=failed`` should not list every job."""
    route = request.scope.get("route")
    if route is None or not request.query_params or not hasattr(route, "dependant"):
        return
    known: set[str] = set()
    pending = [route.dependant]
    while pending:  # the route's own parameters and those of its dependencies
        dependant = pending.pop()
        known.update(param.alias for param in dependant.query_params)
        pending.extend(dependant.dependencies)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise ApiError(422, f"Unknown query parameter(s): {', '.join(unknown)}.")


# --- uploads, checked by content before anything is created -------------------------------------------

@dataclass
class Limits:
    max_bytes: int
    max_image_pixels: int
    max_audio_seconds: float


async def save_upload(upload: Any, folder: Path, limits: Limits, default_name: str) -> Path:
    """Write an uploaded file into ``folder`` (its own name, without any folders); 413 when it is
    larger than allowed."""
    name = Path(upload.filename or default_name).name or default_name
    path = folder / name
    written = 0
    with open(path, "wb") as f:
        while chunk := await upload.read(1 << 20):
            written += len(chunk)
            if written > limits.max_bytes:
                raise ApiError(413, f"{name} is larger than the {limits.max_bytes // (1 << 20)} MB allowed.")
            f.write(chunk)
    return path


def check_image(path: Path, limits: Limits) -> None:
    """422 unless the file is a readable photo within the pixel limit."""
    from factory.media import MediaError, load_image

    try:
        load_image(path, limits.max_image_pixels)
    except MediaError as exc:
        raise ApiError(422, str(exc)) from None


def check_audio(path: Path, limits: Limits) -> float:
    """422 unless the file is decodable sound no longer than allowed; returns its seconds."""
    from factory.media import MediaError, decode_audio

    try:
        samples, rate = decode_audio(path)
    except MediaError as exc:
        raise ApiError(422, str(exc)) from None
    seconds = len(samples) / rate
    if seconds > limits.max_audio_seconds:
        raise ApiError(422, f"The recording {path.name} lasts {seconds:.0f} s, more than the "
                            f"{limits.max_audio_seconds:.0f} s allowed.")
    return seconds
