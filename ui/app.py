"""The editors' console: ``factory ui`` (or ``streamlit run ui/app.py``).

Streamlit runs this script from the top on every click. The settings come from the usual
places (``FACTORY_*`` variables, ``$FACTORY_CONFIG`` or ``./factory.toml``); the job service and
its dispatcher are created once per server process and shared by every browser tab.
"""

from __future__ import annotations

import streamlit as st

from factory.settings import Settings
from ui.console import Console, open_console
from ui.jobs_page import jobs_page
from ui.new_video_page import new_video_page

PAGES = {"New video": new_video_page, "Jobs": jobs_page}


@st.cache_resource(hash_funcs={Settings: repr}, show_spinner="Opening the job store…")
def shared_console(settings: Settings) -> Console:
    # One per distinct settings: every tab and rerun shares the store connection and the one
    # dispatcher (embedded jobs then run one at a time, in submit order).
    return open_console(settings)


def main() -> None:
    st.set_page_config(page_title="Talking-video factory", page_icon="🎬")
    try:
        settings = Settings.load()
        console = shared_console(settings)
    except Exception as exc:  # noqa: BLE001 — bad TOML, database down: say so on the page
        st.error(f"The console cannot start: {type(exc).__name__}: {exc}")
        st.stop()

    with st.sidebar:
        st.title("🎬 Talking-video factory")
        page = st.radio("Page", list(PAGES), key="page", label_visibility="collapsed")
        st.divider()
        st.caption(console.service.dispatcher.description)
    PAGES[page](console)


main()
