"""The console's web server: Streamlit's own (an ``st.App``) with the media behind the sign-in.

Streamlit serves every video, photo and download of a page under ``/media/<id>``, to anyone who
has the address. Here a middleware answers those requests only when they carry the
``factory_session`` cookie of a live console session (``factory.identity``); anyone else gets
403. The page script hands the browser that cookie right after sign-in by POSTing its session
token to ``/factory/session`` (``ui.visit.set_browser_cookie``), which checks the token and sets
it as an HttpOnly, SameSite=Strict cookie. Signing out ends the session on the server, so the
cookie stops opening anything at once.

    streamlit run ui/server.py      # what `factory ui` runs
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from streamlit.starlette import App

SESSION_COOKIE = "factory_session"  # the name ui.visit reads
PROTECTED_PREFIXES = ("/media/",)
"""Paths served only to signed-in browsers (what st.video, st.image, st.audio and
st.download_button hand out)."""
MAX_TOKEN_CHARS = 200


class _Sessions:
    """Whether a session token is live: one primary-key read of the job store per request
    (a video plays as a handful of range requests), so signing out takes effect at once."""

    def __init__(self) -> None:
        self._store: Any = None
        self._lock = threading.Lock()

    def store(self) -> Any:
        with self._lock:
            if self._store is None:
                from factory.settings import Settings
                from factory.store import JobStore

                settings = Settings.load()
                settings.data_dir.mkdir(parents=True, exist_ok=True)
                self._store = JobStore(settings.resolved_database_url)
            return self._store

    def live(self, token: str | None) -> bool:
        if not token or len(token) > MAX_TOKEN_CHARS:
            return False
        from factory.identity import user_for_session

        return user_for_session(self.store(), token) is not None


SESSIONS = _Sessions()


class SignedInMedia:
    """ASGI middleware: media only for requests with a live session cookie."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and _protected(scope.get("path", "")):
            import anyio.to_thread

            token = Request(scope).cookies.get(SESSION_COOKIE)
            if not await anyio.to_thread.run_sync(SESSIONS.live, token):  # a database read: off the event loop
                await PlainTextResponse("Sign in to the console to see this file.", status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _protected(path: str) -> bool:
    # Under Streamlit's base path (server.baseUrlPath), if one is set. Its own /static/media/
    # (fonts, icons) stays public.
    from streamlit import config

    base = "/" + str(config.get_option("server.baseUrlPath") or "").strip("/")
    return any(path.startswith(base.rstrip("/") + prefix) for prefix in PROTECTED_PREFIXES)


async def session_cookie(request: Request) -> Response:
    """POST: the body is a console session token; a live one becomes the browser's cookie.
    DELETE: the cookie is removed."""
    import anyio.to_thread

    if request.method == "DELETE":
        response = Response(status_code=204)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
    token = (await request.body()).decode("utf-8", errors="replace").strip()
    if not await anyio.to_thread.run_sync(SESSIONS.live, token):
        return PlainTextResponse("Not a live console session.", status_code=403)
    response = Response(status_code=204)
    response.set_cookie(SESSION_COOKIE, token, path="/", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


app = App(
    str(Path(__file__).with_name("app.py")),
    routes=[Route("/factory/session", session_cookie, methods=["POST", "DELETE"])],
    middleware=[Middleware(SignedInMedia)],
)
