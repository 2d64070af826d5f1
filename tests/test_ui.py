"""The editors' console (ui/), driven with Streamlit's AppTest: the real page script, a real job
store in a temporary folder, real uploads. No rendering: the jobs here fail early (a file that
is not an image, a silent recording), which is exactly what an editor must see explained."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from factory.media import write_wav
from factory.store import JobStatus

APP = str(Path(__file__).resolve().parents[1] / "ui" / "app.py")


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Embedded mode with its own SQLite store and artifact folder."""
    monkeypatch.setenv("FACTORY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FACTORY_PUBLISH_DIR", str(tmp_path / "published"))
    for name in ("FACTORY_AMQP_URL", "FACTORY_DATABASE_URL", "FACTORY_STORE_URL", "FACTORY_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def service():
    from factory.service import JobService
    from factory.settings import Settings

    return JobService(Settings.load())


def sign_in_token(username: str = "alice", role: str = "editor", language: str = "en") -> str:
    """A console session for a (new) user, as the sign-in form would start it."""
    from factory import identity

    store = service().jobs
    user = identity.get_user(store, username) or identity.create_user(store, username, "correct horse battery", role, language)
    return identity.start_session(store, user)


def open_app(role: str | None = "editor", language: str = "en", username: str | None = None) -> AppTest:
    """The console in a fresh tab, signed in as a user with ``role`` (None: not signed in)."""
    at = AppTest.from_file(APP, default_timeout=60)
    if role is not None:
        at.session_state["session_token"] = sign_in_token(username or role, role, language)
    at.run()
    assert not at.exception, at.exception
    return at


def all_text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [e.value for e in (*at.error, *at.warning, *at.info, *at.success)]
    return "\n".join(str(p) for p in parts)


def test_app_loads_with_render_parameter_ranges(env):
    at = open_app()
    assert at.sidebar.radio(key="page").value == "new_video"
    sliders = {s.label: s for s in at.slider}
    # The brief's ranges and CPU defaults, as the renderer defines them.
    assert (sliders["Min resolution"].min, sliders["Min resolution"].max, sliders["Min resolution"].value) == (384, 2048, 512)
    assert (sliders["Expand ratio"].min, sliders["Expand ratio"].max) == pytest.approx((0.1, 0.3))
    assert (sliders["Inference steps"].min, sliders["Inference steps"].max) == (10, 50)
    assert (sliders["Dynamic scale"].min, sliders["Dynamic scale"].max) == pytest.approx((1.0, 1.5))
    assert (sliders["Motion scale"].min, sliders["Motion scale"].max) == pytest.approx((0.8, 1.3))

    # Switching to the GPU renderer switches the resolution default to Sonic's 1024.
    at.selectbox(key="renderer").set_value("sonic").run()
    assert {s.label: s.value for s in at.slider}["Min resolution"] == 1024

    at.sidebar.radio(key="page").set_value("jobs").run()
    assert not at.exception, at.exception
    assert "No jobs yet" in all_text(at)


def test_jobs_page_lists_a_failed_job_and_shows_its_error(env, tmp_path):
    not_an_image = tmp_path / "holiday.jpg"
    not_an_image.write_text("this is a text file, not a photo")
    job = service().submit(image=not_an_image, script="Hello there.")
    assert job.status == JobStatus.FAILED  # fails at submit: no rendering needed

    at = open_app()
    at.sidebar.radio(key="page").set_value("jobs").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["job"]) == [job.id]
    assert "failed" in table["status"].iloc[0]
    assert "holiday.jpg" in table["problem"].iloc[0]

    # The detail view of the selected job says what went wrong, for the editor.
    assert at.selectbox(key="open_job.en").value == job.id
    errors = [e.value for e in at.error]
    assert any("holiday.jpg is not an image" in e for e in errors), errors

    # The status filter hides it when asking for published jobs only.
    at.selectbox(key="filter_status.en").set_value(JobStatus.PUBLISHED).run()
    assert not at.dataframe and "No jobs match" in all_text(at)


def test_new_video_form_refuses_what_would_fail_then_creates_the_job(env, portrait_path):
    at = open_app()
    at.file_uploader(key="portrait").upload("scan.png", b"%PDF-1.4 not a picture", "image/png")
    at.run()
    assert any("does not look like an image" in w.value for w in at.warning)

    # An empty script is refused by the form, before any job exists.
    at.button(key="submit").click().run()
    assert any("script is empty" in e.value for e in at.error)
    # So is a photo the render would fail on, named as the editor's computer calls it ...
    at.text_area(key="script").input("Hello there, this is our weekly update.")
    at.slider(key="param_dynamic_scale").set_value(1.3)
    at.button(key="submit").click().run()
    assert any("scan.png is not an image" in e.value for e in at.error), [e.value for e in at.error]
    # ... and a Chinese script for an English narration, which the English voice would spell out.
    at.file_uploader(key="portrait").upload("astronaut.png", portrait_path.read_bytes(), "image/png")
    at.text_area(key="script").input("大家好，欢迎收看今天的节目。")
    at.button(key="submit").click().run()
    assert any("written in Chinese, but the narration language is English" in e.value for e in at.error)
    assert service().list() == []

    at.text_area(key="script").input("Hello there, this is our weekly update.")
    at.button(key="submit").click().run()
    assert not at.exception, at.exception
    jobs = service().list()
    assert len(jobs) == 1
    job = jobs[0]
    assert job.params["dynamic_scale"] == pytest.approx(1.3) and job.params["language"] == "en"
    assert job.created_by == "editor"  # who made it, from the signed-in account
    assert job.values["script"] == "Hello there, this is our weekly update."
    deadline = time.monotonic() + 120  # the app's background thread runs it in this process
    while service().get(job.id).status not in JobStatus.FINAL and time.monotonic() < deadline:
        time.sleep(0.2)
    assert service().get(job.id).status in JobStatus.FINAL


def test_a_chinese_console_starts_chinese_narration_and_refuses_a_mismatch_in_chinese(env, portrait_path):
    at = open_app(language="zh", username="li")
    assert at.selectbox(key="language.zh").value == "zh"  # the editor's own language first
    at.file_uploader(key="portrait").upload("astronaut.png", portrait_path.read_bytes(), "image/png")
    at.run()
    at.selectbox(key="language.zh").set_value("en").run()
    at.text_area(key="script").input("大家好，欢迎收看今天的节目。")
    at.button(key="submit").click().run()
    assert any("讲稿是用中文写的，但讲稿语言选的是英语" in e.value for e in at.error), [e.value for e in at.error]
    assert service().list() == []


def test_recording_job_runs_in_the_background_and_its_failure_is_shown(env, portrait_path):
    # A silent "recording": the speak stage must refuse it with a reason (no video of nothing).
    silent = env / "silence.wav"
    write_wav(silent, np.zeros(16000 * 2, dtype=np.float32), 16000)

    at = open_app()
    at.file_uploader(key="portrait").upload("astronaut.png", portrait_path.read_bytes(), "image/png")
    at.radio(key="source").set_value("recording").run()
    at.file_uploader(key="recording").upload("silence.wav", silent.read_bytes(), "audio/wav")
    at.run()
    at.button(key="submit").click().run()
    assert not at.exception, at.exception

    job = service().list()[0]
    assert set(job.files) == {"image", "audio_upload"}
    # AppTest runs the page in this process, so the app's background thread runs the job
    # here. Wait for it through the job store, as the page itself does.
    deadline = time.monotonic() + 60
    while service().get(job.id).status not in JobStatus.FINAL and time.monotonic() < deadline:
        time.sleep(0.1)
    job = service().get(job.id)
    assert job.status == JobStatus.FAILED, (job.status, job.error)
    assert job.error.startswith("speak:") and "silent" in job.error.lower()

    at.run()
    assert not at.exception, at.exception
    text = all_text(at)
    assert "speak — failed" in text
    assert any("silent" in e.value.lower() for e in at.error)


def test_distributed_mode_only_follows_jobs(env, monkeypatch, portrait_path):
    """With a broker configured, the console runs nothing itself: a queued job is shown as
    waiting for the workers (no "run it here" button), read from the job store."""
    from factory import lifecycle
    from factory.store import Job, new_job_id

    monkeypatch.setenv("FACTORY_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
    # a job as submitted and enqueued (its message waits for a worker; none runs here)
    job = lifecycle.submitted(service().jobs, Job(id=new_job_id(), plan=["speak", "render", "publish"], values={"script": "Hello."}))

    at = open_app()
    assert "Distributed mode" in all_text(at)
    at.sidebar.radio(key="page").set_value("jobs").run()
    assert not at.exception, at.exception
    text = all_text(at)
    assert f"Job `{job.id}`" in text and "queued" in text
    assert "speak — waiting" in text
    assert not [b for b in at.button if b.label == "Resume"]


def test_an_interrupted_job_can_be_resumed_from_the_jobs_page(env, portrait_path):
    """Embedded mode: a job whose process died mid-stage (the console was killed) is found
    interrupted when the console starts, flagged, and "Resume" runs it in the background."""
    import subprocess
    import sys

    from factory import lifecycle
    from factory.policy import StagePolicy

    silent = env / "quiet.wav"
    write_wav(silent, np.zeros(8000, dtype=np.float32), 16000)
    first = service()
    jobs = first.jobs
    job = first.submit(image=portrait_path, audio=silent)
    first.follow(job.id)  # let that first run end, then replay it as a process that died mid-stage
    first.close()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with jobs.locked(job.id) as (session, row):  # test set-up: back to its first stage, queued
        row.status, row.next_stage, row.error = JobStatus.QUEUED, "speak", None
        session.add(row)
        session.commit()
    import socket

    lifecycle.stage_started(jobs, job.id, "speak", StagePolicy(), worker=f"{socket.gethostname()}:{dead.pid}:embedded")

    at = open_app()
    assert service().get(job.id).status == JobStatus.INTERRUPTED
    at.sidebar.radio(key="page").set_value("jobs").run()
    assert any("interrupted and nothing is running it" in w.value for w in at.warning), [w.value for w in at.warning]
    at.button(key=f"resume-{job.id}").click().run()
    assert not at.exception, at.exception

    deadline = time.monotonic() + 60
    while service().get(job.id).status not in JobStatus.FINAL and time.monotonic() < deadline:
        time.sleep(0.1)
    assert service().get(job.id).status == JobStatus.FAILED
    time.sleep(0.3)
    at.run()
    assert any("silent" in e.value for e in at.error), [e.value for e in at.error]


def test_form_rules_without_streamlit(env, portrait_path):
    from ui.submission import FormError, NewVideoForm, Upload, check_form, job_params, writer_request

    image = Upload("me.png", portrait_path.read_bytes())
    product = NewVideoForm(
        image=image, source="product", product_name=" Kettle 2 ", product_features="- boils in 90 s\n\n• quiet",
        product_price="49 EUR", language="en",
    )
    assert writer_request(product) == {
        "use_case": "product", "language": "en", "target_seconds": 30.0,
        "product": {"name": "Kettle 2", "features": ["boils in 90 s", "quiet"], "price": "49 EUR"},
    }
    with pytest.raises(FormError, match="product's name"):
        writer_request(NewVideoForm(image=image, source="product"))
    with pytest.raises(FormError, match="Upload a portrait"):
        check_form(NewVideoForm(image=None, script="Hi."))
    with pytest.raises(FormError, match="does not exist"):
        check_form(NewVideoForm(image=image, script="Hi.", voice="/nowhere/voice.onnx"))
    with pytest.raises(FormError, match="speaks English, not Chinese"):
        check_form(NewVideoForm(image=image, script="你好。", voice="en_US-joe-medium", language="zh"))
    params = job_params(NewVideoForm(image=image, script="Hi.", render={"seed": 7, "keep_crop": None}, language="zh"))
    assert params == {"seed": 7, "renderer": "cpu", "language": "zh"}


def test_factory_ui_command_serves_the_console(env):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-c", "from ui.cli import ui; ui()", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    assert r.read() == b"ok"
                    break
            except OSError:
                assert server.poll() is None, server.stdout.read().decode()
                assert time.monotonic() < deadline, "the console did not start within 60 s"
                time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert r.status == 200 and b"<html" in r.read().lower()

        # Media (videos, photos, downloads) only for a browser with a live session cookie.
        def status(path: str, method: str = "GET", body: bytes | None = None, cookie: str = "") -> tuple[int, dict]:
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method,
                                             headers={"Cookie": cookie} if cookie else {})
            try:
                with urllib.request.urlopen(request, timeout=5) as r:
                    return r.status, dict(r.headers)
            except urllib.error.HTTPError as e:
                return e.code, dict(e.headers)

        assert status("/media/0123456789abcdef.mp4")[0] == 403
        assert status("/factory/session", "POST", b"not-a-session")[0] == 403
        token = sign_in_token()
        code, headers = status("/factory/session", "POST", token.encode())
        assert code == 204, code
        cookie = headers["set-cookie"] if "set-cookie" in headers else headers["Set-Cookie"]
        assert cookie.startswith(f"factory_session={token};") and "HttpOnly" in cookie and "SameSite=strict" in cookie
        # Past the guard: an unknown file is simply not found.
        assert status("/media/0123456789abcdef.mp4", cookie=f"factory_session={token}")[0] == 404
        from factory import identity

        identity.end_session(service().jobs, token)  # signed out: the cookie opens nothing any more
        assert status("/media/0123456789abcdef.mp4", cookie=f"factory_session={token}")[0] == 403
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_script_to_video_end_to_end_in_the_console(env, portrait_path):
    """The whole path an editor takes: photo + script → live progress → the video, its QA
    numbers and a download button. Real Piper, real renderer, real Whisper (~30 s on 2 cores)."""
    at = open_app()
    at.file_uploader(key="portrait").upload("astronaut.png", portrait_path.read_bytes(), "image/png")
    at.text_area(key="script").input("Hello there. Today we open the new library at nine.")
    at.button(key="submit").click().run()
    assert not at.exception, at.exception
    job_id = at.session_state["current_job"]

    at.run()  # while it runs: one line per stage, the running one with a progress bar
    assert f"Job `{job_id}`" in all_text(at)

    deadline = time.monotonic() + 240
    while service().get(job_id).status not in JobStatus.FINAL:
        assert time.monotonic() < deadline, "the job did not finish within 240 s"
        time.sleep(0.5)
    job = service().get(job_id)
    assert job.status in (JobStatus.PUBLISHED, JobStatus.NEEDS_REVIEW), (job.status, job.error)

    time.sleep(0.5)  # let the background thread return, so the page stops polling
    at.run()
    assert not at.exception, at.exception
    text = all_text(at)
    for stage in ("speak", "render", "check"):
        assert f"{stage} — " in text and f"{stage} — waiting" not in text
    assert at.get("video"), "the finished video is shown"
    assert at.download_button[0].label == "Download the MP4"
    if job.status == JobStatus.PUBLISHED:
        assert any(job.values["published_url"] in s.value for s in at.success)
    else:
        assert any("Held for an editor's review" in w.value for w in at.warning)
    qa_table = next(d.value for d in at.dataframe if "check" in d.value.columns)
    assert "word error rate" in set(qa_table["check"])  # the transcript check's error rate is listed
    models = next(d.value for d in at.dataframe if "licence" in d.value.columns)
    assert "voice" in set(models["role"])  # the models and licences the job used
    # What Whisper heard, and how it differs from the script (none, or sentences saying how).
    assert any(e.label == "What Whisper heard" for e in at.expander)


def test_the_jobs_page_shows_what_the_writer_drafted():
    from factory.store import Job
    from ui.job_details import spoken_text

    drafted = Job(id="j", plan=["write", "speak"], values={"narration": {"title": "T", "narration": "The draft."}})
    assert spoken_text(drafted) == "The draft."
    assert spoken_text(Job(id="k", plan=["speak"], values={"script": "Given.", "narration": {"narration": "x"}})) == "Given."
