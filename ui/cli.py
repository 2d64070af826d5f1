"""``factory ui``: start the editors' console in this process (Streamlit's own server).

Mounted lazily by ``factory.cli`` (``LAZY_COMMANDS["ui"] = "ui.cli:ui"``), so Streamlit is
imported only when the console is started.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

SERVER = Path(__file__).with_name("server.py")
"""The st.App around ui/app.py that keeps media behind the sign-in (ui/server.py)."""


def streamlit_args(host: str, port: int) -> list[str]:
    """The ``streamlit run`` command line for the console."""
    return [
        "run",
        str(SERVER),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",  # print the address; do not try to open a browser
        "--browser.gatherUsageStats", "false",  # no telemetry (and no network here anyway)
        "--server.maxUploadSize", "1024",  # MB: long recordings and large photos
        # For editors, not developers: no deploy button, developer menu or tracebacks on the page.
        "--client.toolbarMode", "minimal",
        "--client.showErrorDetails", "none",
        "--server.runOnSave", "false",
        "--server.fileWatcherType", "none",
    ]


@click.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", default=8501, show_default=True, type=int)
@click.pass_context
def ui(ctx: click.Context, host: str, port: int) -> None:
    """Open the editors' console (Streamlit): make videos, follow them, browse jobs."""
    from streamlit.web import cli as streamlit_cli

    config = (ctx.obj or {}).get("config")
    if config:
        # The page script reads the settings itself (Settings.load()); hand it `factory --config`.
        os.environ["FACTORY_CONFIG"] = str(Path(config).resolve())
    click.echo(f"console: http://{host}:{port}", err=True)
    streamlit_cli.main.main(args=streamlit_args(host, port), prog_name="streamlit", standalone_mode=True)
