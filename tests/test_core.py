"""Settings, the artifact store and the job store (SQLite and the real PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from factory.artifacts import LocalArtifactStore, open_store
from factory.settings import Settings
from factory.store import Job, JobStatus, JobStore, new_job_id


def test_settings_precedence_toml_then_env(tmp_path, monkeypatch):
    config = tmp_path / "factory.toml"
    config.write_text('max_audio_seconds = 120\nrenderer = "cpu"\nqa_enabled = false\n')
    monkeypatch.setenv("FACTORY_MAX_AUDIO_SECONDS", "90")
    monkeypatch.setenv("FACTORY_STAGE_TIME_LIMITS", "render=600,check=60")
    monkeypatch.setenv("FACTORY_DATA_DIR", str(tmp_path / "d"))
    s = Settings.load(config)
    assert s.max_audio_seconds == 90.0  # env beats the file
    assert s.qa_enabled is False  # the file beats the default
    assert s.stage_time_limits["render"] == 600.0 and s.stage_time_limits["check"] == 60.0
    assert s.stage_time_limits["speak"] == Settings().stage_time_limits["speak"]  # untouched ones stay
    assert s.resolved_database_url == f"sqlite:///{tmp_path / 'd' / 'factory.db'}"
    assert not s.amqp_url


def test_settings_reject_unknown_keys(tmp_path):
    config = tmp_path / "factory.toml"
    config.write_text("max_audio_secs = 3\n")
    with pytest.raises(ValueError, match="max_audio_secs"):
        Settings.load(config)


def test_artifacts_are_content_addressed(tmp_path):
    store = LocalArtifactStore(tmp_path / "a")
    one, two = tmp_path / "one.wav", tmp_path / "two.wav"
    one.write_bytes(b"same bytes")
    two.write_bytes(b"same bytes")
    assert store.put(one) == store.put(two)
    aid = store.put(one)
    assert aid.endswith(".wav") and store.fetch(aid).read_bytes() == b"same bytes"
    other = tmp_path / "other.wav"
    other.write_bytes(b"different")
    assert store.put(other) != aid
    assert not store.exists("0" * 64 + ".wav")


def test_open_store_refuses_unknown_scheme(tmp_path):
    with pytest.raises(ValueError, match="file:// or s3://"):
        open_store(Settings.load(data_dir=tmp_path, store_url="ftp://x"))


def _exercise_store(store: JobStore) -> None:
    from factory import lifecycle
    from factory.policy import StagePolicy

    job = lifecycle.submitted(store, Job(id=new_job_id(), plan=["speak", "render"], params={"seed": 1}, values={"script": "Hi"}))
    assert store.get(job.id).params == {"seed": 1} and store.get(job.id).values == {"script": "Hi"}
    start = lifecycle.stage_started(store, job.id, "speak", StagePolicy(), worker="w1")
    assert start.job.status == JobStatus.RUNNING and start.run.attempt == 1
    assert lifecycle.stage_started(store, job.id, "render", StagePolicy()) is None  # not the next stage: a stale message
    assert [j.id for j in store.list(status=JobStatus.RUNNING)] == [job.id]
    assert lifecycle.stage_done(store, start.run, files={"audio": "x.wav"}, values={}, cache_key="k" * 64) == "render"
    done = store.runs(job.id)[0]
    assert done.status == "done" and done.seconds is not None and done.seconds >= 0 and done.cache_key == "k" * 64
    store.remember("k" * 64, "speak", {"audio": "x.wav"}, {"speech": {"seconds": 1.0}})
    assert store.cached("k" * 64).values == {"speech": {"seconds": 1.0}}
    queued = store.list(status=JobStatus.QUEUED)  # the PostgreSQL database is shared by the session's tests
    assert job.id in [j.id for j in queued] and {j.status for j in queued} == {JobStatus.QUEUED}


def test_store_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    _exercise_store(JobStore(url))
    assert len(JobStore(url).list()) == 1  # migrations are idempotent; data survives reopening


def test_store_on_postgresql(postgres_url):
    _exercise_store(JobStore(postgres_url))


def test_row_lock_serialises_writers_on_postgresql(postgres_url):
    """Two workers finishing the same job at once: the second waits for the first's commit."""
    from factory import lifecycle

    store = JobStore(postgres_url)
    job = lifecycle.submitted(store, Job(id=new_job_id(), plan=["a"], values={"n": 0}))

    def bump():
        with store.locked(job.id) as (session, locked):
            locked.values = {"n": locked.values["n"] + 1}
            session.add(locked)
            session.commit()

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.get(job.id).values == {"n": 8}


def test_cli_help_imports_nothing_heavy():
    """`factory --help` must be instant: no torch, mediapipe, SQLModel or Whisper at start-up."""
    code = (
        "import sys; from factory.cli import cli\n"
        "try:\n    cli(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'mediapipe', 'sqlmodel', 'faster_whisper', 'litellm', 'cv2', 'av') if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out, out


def test_submit_with_the_broker_down_fails_the_job_visibly(settings, portrait_path):
    """Distributed mode with nothing listening at the AMQP URL: the job fails with a reason
    instead of sitting queued with no message."""
    from factory.service import JobService

    settings.amqp_url = "amqp://guest:guest@127.0.0.1:1/%2F"  # a closed port
    job = JobService(settings).submit(image=portrait_path, script="Hello.")
    assert job.status == JobStatus.FAILED and "could not be queued" in job.error


def test_shared_text_rules_sentences_units_and_chinese_numerals():
    from factory.text import chinese_number, count_units, split_sentences

    assert split_sentences("Dr. Roe spoke. J. K. Rowling wrote! Is it 5 p.m.? Yes.") == [
        "Dr. Roe spoke.", "J. K. Rowling wrote!", "Is it 5 p.m.?", "Yes."]
    assert split_sentences("今天下雨。明天晴！后天呢？") == ["今天下雨。", "明天晴！", "后天呢？"]
    assert count_units("Twelve new rooms open.", "en") == 4 and count_units("今天天气很好，气温25度。", "zh") == 11
    assert [chinese_number(t) for t in ("十二", "三千五百", "一亿三千万", "二〇二五", "一百零五")] == [12, 3500, 130_000_000, 2025, 105]


def test_crash_budget_counts_only_consecutive_crashes(tmp_path):
    """QA re-renders must not use up the retry budget of the render stage."""
    from factory import lifecycle
    from factory.policy import StagePolicy

    store = JobStore(f"sqlite:///{tmp_path / 'j.db'}")
    job = lifecycle.submitted(store, Job(id=new_job_id(), plan=["render", "check"]))
    policy = StagePolicy(max_attempts=3, retry_delays=(0.0,))
    for ending in ("rerun", "crash", "rerun", "crash", "crash"):
        run = lifecycle.stage_started(store, job.id, "render", policy).run
        if ending == "rerun":
            lifecycle.sent_back(store, run, "render", "new seed", {"seed": 1}, files={}, values={})
        else:
            crash = lifecycle.stage_crashed(store, job.id, "render", "internal error in render", policy, run_id=run.id)
    assert crash.attempt == 2 and crash.retry and store.get(job.id).status == JobStatus.QUEUED


def test_importing_the_cli_loads_no_stage_package():
    code = "import sys, factory.cli; print('STAGES', sorted(m for m in sys.modules if m.split('.')[0] in ('sonic', 'tts', 'qa', 'prompts')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "STAGES []" in out, out


def test_script_files_in_any_unicode_encoding_are_read_and_binary_ones_refused_with_a_sentence(settings, tmp_path, portrait_path, monkeypatch):
    from click.testing import CliRunner

    from factory.cli import cli

    monkeypatch.setenv("FACTORY_DATA_DIR", str(settings.data_dir))
    binary = tmp_path / "script.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    result = CliRunner().invoke(cli, ["make", "--script-file", str(binary), "--image", str(portrait_path)])
    assert result.exit_code == 2 and "script.txt is not a text file" in result.output, result.output
    assert "Traceback" not in result.output and "Error:" in result.output
    result = CliRunner().invoke(cli, ["make", "--script", "Hi.", "--image", str(portrait_path), "--dynamic-scale", "nan"])
    assert result.exit_code == 2 and "dynamic_scale must be a number between 1 and 1.5; got nan" in result.output, result.output


def test_jobs_list_shows_whole_reasons(settings, monkeypatch):
    from click.testing import CliRunner

    from factory import lifecycle
    from factory.cli import cli

    monkeypatch.setenv("FACTORY_DATA_DIR", str(settings.data_dir))
    reason = "The photo shows two faces; crop it to the one person who speaks, or choose a photo of one person. " * 2
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = JobStore(settings.resolved_database_url)
    job = lifecycle.submitted(store, Job(id=new_job_id(), plan=["speak"]), problem=reason.strip())
    result = CliRunner().invoke(cli, ["jobs", "list"])
    assert result.exit_code == 0 and f"submit: {reason.strip()}" in result.output and job.id in result.output


def test_a_killed_stage_process_leaves_no_temporary_folder(settings, tmp_path, monkeypatch):
    """Defect: each kill left a /tmp/factory-<job>-<stage>-* folder behind. The stage process's
    temporary files live in its own scratch folder, removed when it is killed; one left by a
    killed worker is removed by the next stage process that starts."""
    import glob
    import tempfile
    import threading
    import time

    from factory import lifecycle
    from factory.executor import SCRATCH_PREFIX, ChildDied, StageExecutor
    from test_queues_stages import EXTRA_STAGES

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # this test's own /tmp
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = tmp_path / f"{SCRATCH_PREFIX}{dead.pid}-left"
    (orphan / "factory-job-render-x").mkdir(parents=True)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = JobStore(settings.resolved_database_url)
    job = lifecycle.submitted(store, Job(id=new_job_id(), plan=["sleepy"], params={"hang_first_attempt": True}))
    executor = StageExecutor(settings, EXTRA_STAGES, worker_id="test")
    executor.start()
    assert not orphan.exists()
    scratch = executor.scratch
    errors: list[Exception] = []

    def run() -> None:
        try:
            executor.run(job.id, "sleepy")
        except ChildDied as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 30
    while not glob.glob(f"{scratch}/factory-{job.id}-sleepy-*") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert glob.glob(f"{scratch}/factory-{job.id}-sleepy-*"), "the stage's work folder is inside the scratch folder"
    executor.kill()
    thread.join(30)
    assert errors and not glob.glob(str(tmp_path / "factory-*"))
