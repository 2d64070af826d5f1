"""The editors' console: ``factory ui`` (or ``streamlit run ui/server.py``).

Streamlit runs this script from the top on every click. The settings come from the usual
places (``FACTORY_*`` variables, ``$FACTORY_CONFIG`` or ``./factory.toml``); the job service and
its dispatcher are created once per server process and shared by every browser tab. Nothing
but the sign-in form is shown until someone signs in (``ui.visit``).
"""

from __future__ import annotations

import streamlit as st

from factory.settings import Settings
from ui.console import Console, open_console
from ui.i18n import Texts
from ui.pages import PAGES
from ui.visit import (
    Visit,
    language_switch,
    login_form,
    page_language,
    session_user,
    set_browser_cookie,
    sign_out,
)

@st.cache_resource(hash_funcs={Settings: repr}, show_spinner=False)
def shared_console(settings: Settings) -> Console:
    # One per distinct settings: every tab and rerun shares the store connection and the one
    # dispatcher (embedded jobs then run one at a time, in submit order, in its own thread).
    return open_console(settings)


def main() -> None:
    st.set_page_config(page_title="Talking-video factory · 数字人视频工厂", page_icon="🎬", layout="wide")
    try:
        settings = Settings.load()
        console = shared_console(settings)
    except Exception as exc:  # noqa: BLE001 — bad TOML, database down: say so on the page
        st.error(Texts(page_language(None))("app.cannot_start", problem=str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
        st.stop()

    user = session_user(console)
    language = page_language(user)
    tr = Texts(language)
    with st.sidebar:
        st.title("🎬 " + tr("app.title"))
    language_switch(console, user, language)
    if user is None:
        login_form(console, tr)
        return
    set_browser_cookie()
    visit = Visit(console, user, tr)

    with st.sidebar:
        allowed = [key for key, (_, role) in PAGES.items() if visit.may(role)]
        page = st.radio(tr("app.page"), allowed, format_func=lambda key: tr(f"nav.{key}"), key="page",
                        label_visibility="collapsed")
        st.divider()
        st.caption(tr("app.signed_in_as", username=user.username, role=tr(f"role.{user.role}")))
        st.button(tr("app.sign_out"), key="sign_out", on_click=sign_out, args=(console,))
        st.caption(tr("app.mode_distributed" if settings.amqp_url else "app.mode_embedded"))
    PAGES[page][0](visit)


main()
