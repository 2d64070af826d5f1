"""The editors' console in a real browser: the `factory ui` server as an editor runs it, headless
Chromium (Debian's `chromium` + `chromium-driver`) driven by Selenium, and a real published job.

AppTest (tests/test_ui.py) runs the page script without the HTTP server, so it cannot see what
the server does to files: this test caught /media/* and /favicon.png answering HTTP 500 (streamlit
1.60 with starlette >= 1.8, see the pin in pyproject.toml), i.e. a video that never plays and an
MP4 download that fails. Under CI=true a missing browser is a failure, never a skip."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import service_missing
from factory.store import JobStatus

EMBEDDED_ONLY = ("FACTORY_AMQP_URL", "FACTORY_DATABASE_URL", "FACTORY_STORE_URL", "FACTORY_CONFIG")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def embedded(monkeypatch):
    """Embedded mode (SQLite + artifact folder under the test's tmp_path), for this process and the server."""
    for name in EMBEDDED_ONLY:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def chrome():
    """A headless Chromium with Selenium, or a skip (a failure under CI=true) naming what is missing."""
    binary = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    driver_path = shutil.which("chromedriver")
    if not binary or not driver_path:
        service_missing("headless Chromium is not installed (apt-get install chromium chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        service_missing("selenium is not installed (pip install -e '.[dev]')")

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,2000",
                "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})  # every request and response
    driver = webdriver.Chrome(service=Service(driver_path), options=options)  # explicit driver: no Selenium Manager
    driver.set_script_timeout(20)
    yield driver
    driver.quit()


class Network:
    """What the browser asked the server and what it answered (Chrome's performance log)."""

    def __init__(self, driver):
        self.driver = driver
        self.events: list[dict] = []

    def read(self) -> list[dict]:
        self.events += [json.loads(e["message"])["message"] for e in self.driver.get_log("performance")]
        return self.events

    def responses(self) -> list[tuple[str, int]]:
        return [(e["params"]["response"]["url"], e["params"]["response"]["status"])
                for e in self.read() if e["method"] == "Network.responseReceived"]

    def downloads(self) -> list[str]:
        return [e["params"]["url"] for e in self.read() if e["method"].endswith(".downloadWillBegin")]


FETCH = """
const done = arguments[arguments.length - 1];
fetch(arguments[0]).then(async r => {
  const bytes = new Uint8Array(await r.arrayBuffer());
  done({status: r.status, type: r.headers.get('content-type'), size: bytes.length,
        head: String.fromCharCode(...bytes.slice(0, 12))});
}, e => done({status: 0, error: String(e)}));
"""

PLAY = """
const video = arguments[0], done = arguments[arguments.length - 1];
video.muted = true;  // what autoplay policies allow without a click
const t0 = video.currentTime, deadline = Date.now() + 10000;
video.play().then(function poll() {
  if (video.currentTime > t0 + 0.2 || video.ended) done({ok: true, start: t0, now: video.currentTime});
  else if (Date.now() > deadline) done({ok: false, why: 'currentTime stuck', now: video.currentTime});
  else setTimeout(poll, 50);
}, e => done({ok: false, why: String(e), error: video.error && video.error.message}));
"""


def test_console_plays_and_downloads_a_published_video(embedded, settings, portrait_path, chrome, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from factory.service import JobService

    # The server starts (imports Streamlit) while the job renders: it opens the store only when
    # a browser loads the page.
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in EMBEDDED_ONLY}
    env.update(FACTORY_DATA_DIR=str(settings.data_dir), FACTORY_PUBLISH_DIR=str(settings.publish_dir))
    log = (tmp_path / "console.log").open("wb")
    server = subprocess.Popen([sys.executable, "-c", "from ui.cli import ui; ui()", "--port", str(port)],
                              env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)

    def server_log() -> str:
        log.flush()
        return (tmp_path / "console.log").read_text(errors="replace")[-4000:]

    try:
        service = JobService(settings)
        try:
            job = service.submit(image=portrait_path, script="Hello there.", check=False)
            job = service.follow(job.id)
            assert job.status == JobStatus.PUBLISHED, (job.status, job.error)
            video_bytes = service.artifacts.fetch(job.files["video"]).read_bytes()
        finally:
            service.close()

        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                    if r.read() == b"ok":
                        break
            except OSError:
                pass
            assert server.poll() is None, server_log()
            assert time.monotonic() < deadline, "the console did not start within 60 s\n" + server_log()
            time.sleep(0.3)

        downloads = tmp_path / "downloads"
        downloads.mkdir()
        chrome.execute_cdp_cmd("Browser.setDownloadBehavior",
                               {"behavior": "allow", "downloadPath": str(downloads), "eventsEnabled": True})
        network = Network(chrome)
        wait = WebDriverWait(chrome, 30)

        # The Jobs page (the sidebar's radio), this job selected (the page's own ?job= link).
        chrome.get(f"{base}/?job={job.id}")
        page_radio = wait.until(lambda d: [label for label in d.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebar"] label')
                                           if label.text.strip() == "Jobs"])
        page_radio[0].click()
        video = wait.until(lambda d: d.find_elements(By.TAG_NAME, "video"), "no <video> on the job's page")[0]
        body = chrome.find_element(By.TAG_NAME, "body").text
        chrome.save_screenshot(str(tmp_path / "jobs-page.png"))  # for a person to look at (pytest keeps tmp_path)
        assert f"Job {job.id}" in body and "Published" in body, body[:2000]

        # The video plays: its clock moves.
        played = chrome.execute_async_script(PLAY, video)
        assert played["ok"], (played, video.get_attribute("src"), server_log())
        src = chrome.execute_async_script(FETCH, video.get_attribute("src"))
        assert (src["status"], src["type"], src["head"][4:8]) == (200, "video/mp4", "ftyp"), src

        # "Download the MP4" downloads this video.
        chrome.find_element(By.CSS_SELECTOR, '[data-testid="stDownloadButton"] button').click()
        url = wait.until(lambda d: network.downloads(), "clicking 'Download the MP4' started no download")[0]
        got = chrome.execute_async_script(FETCH, url)
        assert (got["status"], got["head"][4:8], got["size"]) == (200, "ftyp", len(video_bytes)), (url, got)
        saved = downloads / f"{job.id}.mp4"
        wait.until(lambda d: saved.exists() and saved.stat().st_size == len(video_bytes),
                   f"{saved.name} was not saved: {sorted(p.name for p in downloads.iterdir())}")
        assert saved.read_bytes() == video_bytes

        # The tab's icon, and nothing the page asked for answered with a server error.
        icon = chrome.execute_async_script(FETCH, f"{base}/favicon.png")
        assert (icon["status"], icon["head"][1:4]) == (200, "PNG"), icon
        failed = [(u, s) for u, s in network.responses() if u.startswith(base) and s >= 500]
        assert not failed, (failed, server_log())
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
