"""The editors' console in a real browser: the `factory ui` server as an editor runs it, headless
Chromium (Debian's `chromium` + `chromium-driver`) driven by Selenium, real accounts and a real
render.

An editor signs in, makes a video from a short script, watches it play and downloads the MP4;
the factory holds every video for review (``review_required``), so a reviewer signs in and
approves it; the language is switched and survives a reload. A screenshot of every page is
saved in the test's folder (pytest keeps the last runs' tmp_path), and the test fails when any
request the page makes answers 5xx (this is how /media/* answering HTTP 500 was caught:
streamlit 1.60 with starlette >= 1.8, see the pin in pyproject.toml). AppTest (tests/test_ui*.py)
runs the page script without the HTTP server, so it cannot see any of that.
Under CI=true a missing browser is a failure, never a skip."""

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
PASSWORD = "correct horse battery"


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
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,2000",
                "--autoplay-policy=no-user-gesture-required", "--lang=zh-CN"):
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


class Console:
    """The console as a person uses it: find things by the words on the screen, click, type."""

    def __init__(self, driver, base: str, shots: Path, server_log):
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver, self.base, self.shots, self.server_log = driver, base, shots, server_log
        self.wait = WebDriverWait(driver, 60)
        self.count = 0

    def body(self) -> str:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.TAG_NAME, "body").text

    def see(self, text: str, timeout: float = 60) -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            WebDriverWait(self.driver, timeout).until(lambda d: text in self.body())
        except Exception:
            self.shot(f"missing-{text[:20]}")
            raise AssertionError(f"{text!r} never appeared:\n{self.body()[:3000]}\n{self.server_log()}") from None

    def shot(self, name: str) -> Path:
        self.count += 1
        path = self.shots / f"{self.count:02d}-{name}.png"
        time.sleep(0.5)  # let the page settle (fonts, images) before the picture
        self.driver.save_screenshot(str(path))
        return path

    def field(self, label: str):
        """The input labelled ``label``, once the app's script has finished running: while it
        runs (after an upload, say) Streamlit may still replace the element we would type into."""
        from selenium.webdriver.common.by import By

        self.wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]'),
                        "the page is still running")
        return self.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f'[aria-label="{label}"]'),
                               f"no field labelled {label!r}")[0]

    def click(self, words: str, where: str = "button") -> None:
        """Click the (last) button, or sidebar radio label, whose text is ``words``."""
        from selenium.webdriver.common.by import By

        css = {"button": "button", "sidebar": '[data-testid="stSidebar"] label'}[where]
        found = self.wait.until(lambda d: [e for e in d.find_elements(By.CSS_SELECTOR, css)
                                           if e.text.strip() == words and e.is_displayed()], f"nothing to click named {words!r}")
        found[-1].click()

    def sign_in(self, username: str, language_words: tuple[str, str, str]) -> None:
        """``language_words``: the labels of the user name, password and button on the form."""
        user, password, button = language_words
        self.field(user).send_keys(username)
        self.field(password).send_keys(PASSWORD)
        self.click(button)


def test_console_in_a_browser(embedded, settings, portrait_path, chrome, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from factory import identity
    from factory.service import JobService
    from ui.i18n import Texts

    en, zh = Texts("en"), Texts("zh")
    service = JobService(settings)
    identity.create_user(service.jobs, "eddie", PASSWORD, "editor", "en")
    identity.create_user(service.jobs, "rita", PASSWORD, "reviewer", "en")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in EMBEDDED_ONLY}
    # Every video waits for a reviewer before it is published; no Whisper pass (speed).
    env.update(FACTORY_DATA_DIR=str(settings.data_dir), FACTORY_PUBLISH_DIR=str(settings.publish_dir),
               FACTORY_REVIEW_REQUIRED="true", FACTORY_QA_ENABLED="false")
    log = (tmp_path / "console.log").open("wb")
    server = subprocess.Popen([sys.executable, "-c", "from ui.cli import ui; ui()", "--port", str(port)],
                              env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)

    def server_log() -> str:
        log.flush()
        return (tmp_path / "console.log").read_text(errors="replace")[-4000:]

    shots = tmp_path / "screenshots"
    shots.mkdir()
    page = Console(chrome, base, shots, server_log)
    try:
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

        # A visitor: the sign-in form (in Chinese) and nothing else; no deploy button, no developer menu.
        chrome.get(base)
        page.see(zh("login.header"))
        page.shot("sign-in")
        assert not chrome.find_elements(By.CSS_SELECTOR, '[data-testid="stAppDeployButton"]')
        assert not chrome.find_elements(By.CSS_SELECTOR, '[data-testid="stMainMenu"]')
        assert not chrome.find_elements(By.TAG_NAME, "video")

        # The editor signs in (her account is in English) and makes a video from a script.
        page.sign_in("eddie", (zh("login.username"), zh("login.password"), zh("login.submit")))
        page.see(en("new.header"))
        uploads = page.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, 'input[type="file"]'), "no file upload")
        uploads[0].send_keys(str(portrait_path))
        page.see(portrait_path.name)
        script = page.field(en("new.script"))
        script.send_keys("Hello there.")
        script.send_keys(Keys.CONTROL, Keys.ENTER)  # Streamlit applies a text area on Ctrl+Enter
        time.sleep(1.0)
        page.shot("new-video")
        page.click(en("new.submit"))
        page.see(en("new.your_video"))
        video = page.wait.until(lambda d: d.find_elements(By.TAG_NAME, "video"), "no <video> after the render")[0]
        page.see("Held for an editor's review")
        page.shot("new-video-rendered")

        # The video plays: its clock moves, and its file is an MP4 (the session cookie lets it through).
        played = chrome.execute_async_script(PLAY, video)
        assert played["ok"], (played, video.get_attribute("src"), server_log())
        src = chrome.execute_async_script(FETCH, video.get_attribute("src"))
        assert (src["status"], src["type"], src["head"][4:8]) == (200, "video/mp4", "ftyp"), src
        job = service.list()[0]
        assert job.status == JobStatus.NEEDS_REVIEW and job.created_by == "eddie", (job.status, job.error)
        video_bytes = service.artifacts.fetch(job.files["video"]).read_bytes()

        # "Download the MP4" downloads this video.
        chrome.find_element(By.CSS_SELECTOR, '[data-testid="stDownloadButton"] button').click()
        url = page.wait.until(lambda d: network.downloads(), "clicking 'Download the MP4' started no download")[0]
        saved = downloads / f"{job.id}.mp4"
        page.wait.until(lambda d: saved.exists() and saved.stat().st_size == len(video_bytes),
                        f"{saved.name} was not saved: {sorted(p.name for p in downloads.iterdir())}")
        assert saved.read_bytes() == video_bytes, url

        # The jobs page opens it; an editor has no review page.
        page.click(en("nav.jobs"), "sidebar")
        page.see(f"Job {job.id}")
        page.shot("jobs")
        assert en("nav.review") not in [e.text for e in chrome.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebar"] label')]
        page.click(en("app.sign_out"))
        page.see(en("login.header"))

        # The reviewer approves it beside the player; the job is published.
        page.sign_in("rita", (en("login.username"), en("login.password"), en("login.submit")))
        page.click(en("nav.review"), "sidebar")
        page.see(en("review.why"))
        page.wait.until(lambda d: d.find_elements(By.TAG_NAME, "video"), "no player on the review page")
        page.shot("review")
        page.click(en("job.approve"))
        deadline = time.monotonic() + 60
        while service.get(job.id).status != JobStatus.PUBLISHED:
            assert time.monotonic() < deadline, (service.get(job.id).status, service.get(job.id).error, server_log())
            time.sleep(0.3)
        assert service.get(job.id).decided_by == "rita"
        page.see(en("review.empty"))

        # The health page, then the language: Chinese, kept on the account and across a reload.
        page.click(en("nav.health"), "sidebar")
        page.see(en("health.checks"))
        page.shot("health")
        page.click(en("nav.batches"), "sidebar")
        page.see(en("batch.none"))
        page.shot("batches")
        page.click(en("nav.schedules"), "sidebar")
        page.see(en("sched.none"))
        page.shot("schedules")
        page.click(en("nav.jobs"), "sidebar")
        page.see(f"Job {job.id}")
        switch = chrome.find_element(By.CSS_SELECTOR, '[data-testid="stSidebar"] [data-testid="stSelectbox"]')
        switch.click()
        page.wait.until(lambda d: [o for o in d.find_elements(By.CSS_SELECTOR, '[role="option"]') if o.text == "中文"])[0].click()
        page.see(zh("jobs.header"))
        page.see(zh("status.published"))
        page.shot("jobs-zh")
        chrome.refresh()  # the session cookie keeps her signed in; her account keeps the language
        page.see(zh("jobs.header"))
        assert identity.get_user(service.jobs, "rita").language == "zh"
        page.click(zh("nav.review"), "sidebar")
        page.see(zh("review.empty"))
        page.shot("review-zh")

        # The tab's icon, and nothing the page asked for answered with a server error.
        icon = chrome.execute_async_script(FETCH, f"{base}/favicon.png")
        assert (icon["status"], icon["head"][1:4]) == (200, "PNG"), icon
        failed = [(u, s) for u, s in network.responses() if u.startswith(base) and s >= 500]
        assert not failed, (failed, server_log())
        assert page.count >= 10
    finally:
        service.close()
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
