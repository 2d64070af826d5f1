"""One browser session of the console: who is signed in, in which language, and the shared console.

Sign-in uses the factory's accounts (``factory.identity``). The session token lives in the
tab's session state and, when the console is served by ``ui/server.py`` (``factory ui``), in an
HttpOnly cookie too: the cookie keeps the editor signed in across reloads and is what
``/media/*`` requests (videos, photos, downloads) are checked against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import streamlit as st

from ui.console import Console
from ui.i18n import DEFAULT_LANGUAGE, LANGUAGES, Texts

if TYPE_CHECKING:
    from factory.identity import User

SESSION_COOKIE = "factory_session"
"""The HttpOnly cookie ``ui/server.py`` sets; the same name is read here."""
TOKEN_KEY = "session_token"  # session-state keys
LANGUAGE_KEY = "language_choice"


@dataclass
class Visit:
    """What every page gets: the shared console, the signed-in user and the words in their language."""

    console: Console
    user: User
    tr: Texts

    @property
    def actor(self) -> str:
        """How jobs record this person (``created_by``, ``decided_by``)."""
        return self.user.username

    def key(self, name: str) -> str:
        """A widget key for a selectbox whose option labels are translated: Streamlit's browser
        side keeps a selectbox's shown label across reruns, so each language has its own widget."""
        return f"{name}.{self.tr.language}"

    def may(self, role: str) -> bool:
        from factory.identity import role_allows

        return role_allows(self.user.role, role)


def session_user(console: Console) -> User | None:
    """The signed-in user of this tab: its session-state token, else the browser's cookie."""
    from factory.identity import user_for_session

    token = st.session_state.get(TOKEN_KEY) or _cookie_token()
    if not token:
        return None
    user = user_for_session(console.service.jobs, token)
    if user is None:
        st.session_state.pop(TOKEN_KEY, None)
    else:
        st.session_state[TOKEN_KEY] = token
    return user


def _cookie_token() -> str | None:
    try:
        token = st.context.cookies.get(SESSION_COOKIE)
    except Exception:  # noqa: BLE001 — no request context (e.g. AppTest): no cookie
        return None
    return token if isinstance(token, str) else None


def page_language(user: User | None) -> str:
    """The language this tab shows: the one chosen in this tab, else the user's, else Chinese."""
    chosen = st.session_state.get(LANGUAGE_KEY)
    if chosen in LANGUAGES:
        return chosen
    if user is not None and user.language in LANGUAGES:
        return user.language
    return DEFAULT_LANGUAGE


def language_switch(console: Console, user: User | None, current: str) -> None:
    """The sidebar's language choice; a signed-in user's choice is stored on their account."""
    st.session_state["language_switch"] = current  # the widget shows the page's language, whoever set it
    st.sidebar.selectbox(Texts(current)("app.language"), list(LANGUAGES), format_func=LANGUAGES.get,
                         key="language_switch", on_change=_language_chosen, args=(console, user))


def _language_chosen(console: Console, user: User | None) -> None:
    # Runs before the page script, so the page that follows is already in the new language.
    choice = st.session_state["language_switch"]
    st.session_state[LANGUAGE_KEY] = choice
    if user is not None:
        from factory.identity import set_language

        set_language(console.service.jobs, user.id, choice)


def login_form(console: Console, tr: Texts) -> None:
    """The sign-in form. Signing in happens in the button's callback, before the page script
    runs again, so the page that follows is already the signed-in one."""
    st.header(tr("login.header"))
    with st.form("login"):
        st.text_input(tr("login.username"), key="login_username")
        st.text_input(tr("login.password"), type="password", key="login_password")
        st.form_submit_button(tr("login.submit"), on_click=_sign_in, args=(console,))
    if st.session_state.pop("login_failed", False):
        st.error(tr("login.failed"))


def _sign_in(console: Console) -> None:
    from factory.identity import authenticate, start_session

    user = authenticate(console.service.jobs, st.session_state.get("login_username", ""),
                        st.session_state.get("login_password", ""))
    st.session_state["login_password"] = ""  # the password is not kept in the tab
    if user is None:
        st.session_state["login_failed"] = True
        return
    st.session_state[TOKEN_KEY] = start_session(console.service.jobs, user)
    st.session_state.pop(LANGUAGE_KEY, None)  # the account's language from now on


def set_browser_cookie() -> None:
    """Hand this tab's session token to the browser as an HttpOnly cookie (``ui/server.py``'s
    ``/factory/session``), so media requests carry it. Sent once per tab session."""
    token = st.session_state.get(TOKEN_KEY)
    if not token or st.session_state.get("cookie_sent") == token or _cookie_token() == token:
        return
    st.session_state["cookie_sent"] = token
    # The token goes in a same-origin POST body (never in a URL); the reply sets the cookie.
    st.html(
        "<script>fetch('factory/session', {method: 'POST', credentials: 'same-origin', "
        f"headers: {{'Content-Type': 'text/plain'}}, body: {token!r}}})"
        ".then(() => window.dispatchEvent(new Event('factory-session')));</script>",
        unsafe_allow_javascript=True,
    )


def sign_out(console: Console) -> None:
    """End the session on the server: the token (and so the browser's cookie) stops working.
    A button callback: it runs before the page script, which then shows the sign-in form."""
    from factory.identity import end_session

    token = st.session_state.pop(TOKEN_KEY, None)
    if token:
        end_session(console.service.jobs, token)
    st.session_state.pop("cookie_sent", None)
    st.session_state[LANGUAGE_KEY] = st.session_state.get("language_switch", DEFAULT_LANGUAGE)  # the form stays in it
