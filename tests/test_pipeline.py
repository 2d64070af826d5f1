"""End to end through the CLI, embedded mode: real Piper speech, real face mesh, real x264."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from factory.cli import cli
from factory.media import FPS, probe_video, write_wav
from factory.store import JobStatus

SCRIPT = "Hello there. Today we open the new library at nine."


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("FACTORY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FACTORY_PUBLISH_DIR", str(tmp_path / "published"))
    monkeypatch.delenv("FACTORY_AMQP_URL", raising=False)
    monkeypatch.delenv("FACTORY_DATABASE_URL", raising=False)
    return tmp_path


def factory(*args: str):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


def last_job(env_dir: Path):
    from factory.service import JobService
    from factory.settings import Settings

    service = JobService(Settings.load())
    return service, service.list(limit=1)[0]


def test_script_to_mp4_end_to_end(env, portrait_path):
    out = env / "hello.mp4"
    result = factory("make", "--script", SCRIPT, "--image", str(portrait_path), "--out", str(out), "--no-check")
    assert result.exit_code == 0, result.output
    assert out.is_file()

    info = probe_video(out)
    service, job = last_job(env)
    assert job.status == JobStatus.PUBLISHED
    speech_seconds = job.values["speech"]["seconds"]
    assert 2.0 < speech_seconds < 8.0
    assert info.fps == FPS and info.video_codec == "h264" and info.audio_codec == "aac" and info.pix_fmt == "yuv420p"
    assert info.frames == round(speech_seconds * FPS)
    assert abs(info.video_seconds - info.audio_seconds) <= 1.0 / FPS + 0.03  # AAC priming adds a few ms
    assert (info.width, info.height) == (512, 512)  # pasted back into the 512×512 photo

    # Every stage's timing is on the job.
    runs = service.runs(job.id)
    assert [r.stage for r in runs] == ["speak", "render", "publish"]
    assert all(r.status == "done" and r.seconds is not None for r in runs)
    assert Path(job.values["published_url"].removeprefix("file://")).is_file()


def test_same_inputs_reuse_the_render_and_no_cache_forces_it(env, portrait_path):
    args = ["make", "--script", "Good morning.", "--image", str(portrait_path), "--no-check", "--min-resolution", "384", "--keep-crop"]
    assert factory(*args, "--out", str(env / "a.mp4")).exit_code == 0
    second = factory(*args, "--out", str(env / "b.mp4"))
    assert second.exit_code == 0
    assert "render" in second.output and "cache hit" in second.output
    service, job = last_job(env)
    assert {r.stage: r.status for r in service.runs(job.id)} == {"speak": "cached", "render": "cached", "publish": "done"}
    assert (env / "a.mp4").read_bytes() == (env / "b.mp4").read_bytes()

    third = factory(*args, "--out", str(env / "c.mp4"), "--no-cache")
    assert third.exit_code == 0 and "cache hit" not in third.output
    info = probe_video(env / "c.mp4")
    assert (info.width, info.height) == (384, 384)


def test_own_recording_skips_tts(env, portrait_path):
    """A photo plus an MP3 recording at 44.1 kHz stereo: the video lasts as long as the recording."""
    import subprocess

    from factory.media import ffmpeg_exe

    wav = env / "rec.wav"
    t = np.arange(int(2.2 * 44100)) / 44100
    voice_like = 0.3 * np.sin(2 * np.pi * 180 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    write_wav(wav, voice_like, 44100)
    mp3 = env / "rec.mp3"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(wav), "-ac", "2", "-ar", "44100", str(mp3)], check=True)
    out = env / "rec.mp4"
    result = factory("make", "--audio", str(mp3), "--image", str(portrait_path), "--out", str(out), "--no-check")
    assert result.exit_code == 0, result.output
    info = probe_video(out)
    assert abs(info.video_seconds - 2.2) <= 2.0 / FPS


def _bomb(path: Path) -> None:
    from PIL import Image

    Image.new("1", (12000, 12000)).save(path)  # 144 Mpx, a few kB on disk


def _truncated(path: Path, portrait: Path) -> None:
    data = portrait.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _no_face(path: Path) -> None:
    import skimage.data

    from factory.media import save_image

    save_image(path, skimage.data.coffee())


BAD_IMAGES = {
    "not_an_image": (lambda p, portrait: p.write_text("this is a text file"), "not an image"),
    "truncated": (_truncated, "damaged or truncated"),
    "bomb": (lambda p, portrait: _bomb(p), "more than the"),
    "no_face": (lambda p, portrait: _no_face(p), "No face"),
}


@pytest.mark.parametrize("case", list(BAD_IMAGES))
def test_bad_image_fails_the_job_with_a_reason(env, portrait_path, case):
    make_file, expected = BAD_IMAGES[case]
    image = env / f"{case}.png"
    make_file(image, portrait_path)
    result = factory("make", "--script", "Hello.", "--image", str(image), "--out", str(env / "x.mp4"), "--no-check")
    assert result.exit_code == 1
    assert expected.lower() in result.output.lower()
    _, job = last_job(env)
    assert job.status == JobStatus.FAILED and expected.lower() in job.error.lower()
    assert not (env / "x.mp4").exists()


@pytest.mark.parametrize(
    "script, expected",
    [("", "empty"), ("   \n\t ", "empty"), ("... --- ...", "no speech")],
)
def test_bad_script_fails_the_job_with_a_reason(env, portrait_path, script, expected):
    result = factory("make", "--script", script, "--image", str(portrait_path), "--out", str(env / "x.mp4"), "--no-check")
    assert result.exit_code == 1, result.output
    assert expected in result.output.lower()
    _, job = last_job(env)
    assert job.status == JobStatus.FAILED and expected in job.error.lower()


def test_bad_audio_fails_and_other_jobs_carry_on(env, portrait_path, monkeypatch):
    garbage = env / "garbage.mp3"
    garbage.write_bytes(np.random.default_rng(0).bytes(5000))
    empty = env / "empty.wav"
    empty.write_bytes(b"")
    long_wav = env / "long.wav"
    write_wav(long_wav, 0.2 * np.sin(np.arange(3 * 16000) / 5.0), 16000)

    result = factory("make", "--audio", str(garbage), "--image", str(portrait_path), "--no-check")
    assert result.exit_code == 1 and "garbage.mp3" in result.output
    result = factory("make", "--audio", str(empty), "--image", str(portrait_path), "--no-check")
    assert result.exit_code == 1 and "empty" in result.output.lower()

    monkeypatch.setenv("FACTORY_MAX_AUDIO_SECONDS", "2")
    result = factory("make", "--audio", str(long_wav), "--image", str(portrait_path), "--no-check")
    assert result.exit_code == 1 and "the limit is 2" in result.output.lower()

    # The failures touched nothing else: a good job still renders, and the list shows all four.
    monkeypatch.delenv("FACTORY_MAX_AUDIO_SECONDS")
    good = factory("make", "--script", "Still working.", "--image", str(portrait_path), "--out", str(env / "ok.mp4"), "--no-check", "--keep-crop", "--min-resolution", "384")
    assert good.exit_code == 0, good.output
    listing = factory("jobs", "list")
    assert listing.output.count("failed") == 3 and listing.output.count("published") == 1


def test_jobs_show_and_json(env, portrait_path):
    factory("make", "--script", "Hi.", "--image", str(portrait_path), "--no-check", "--keep-crop", "--min-resolution", "384", "--out", str(env / "s.mp4"))
    _, job = last_job(env)
    shown = factory("jobs", "show", job.id)
    assert "published" in shown.output and "render" in shown.output
    data = json.loads(factory("jobs", "show", job.id, "--json").output)
    assert data["id"] == job.id and [s["stage"] for s in data["stages"]] == ["speak", "render", "publish"]
    assert factory("jobs", "show", "nope").exit_code != 0


def test_qa_gate_passes_a_good_render_and_publishes_subtitles(env, portrait_path):
    """The default pipeline: speak → render → check → publish, with Whisper and the lip-sync score."""
    script = ("Our new library opens on Monday. It has twelve reading rooms and a garden for children, "
              "and the café stays open until nine every evening.")
    out = env / "qa.mp4"
    result = factory("make", "--script", script, "--image", str(portrait_path), "--out", str(out))
    assert result.exit_code == 0, result.output
    service, job = last_job(env)
    assert [r.stage for r in service.runs(job.id)] == ["speak", "render", "check", "publish"]
    qa = job.values["qa"]
    assert qa["passed"] is True
    assert {"qa_report", "qa_plot", "subtitles_srt", "subtitles_vtt"} <= set(job.files)
    srt = Path(job.values["published"]["subtitles_srt"].removeprefix("file://")).read_text()
    assert "library" in srt.lower() and "-->" in srt


@pytest.mark.parametrize("option, value", [("--expand-ratio", "0.5"), ("--min-resolution", "100"), ("--dynamic-scale", "2"), ("--motion-scale", "0.1"), ("--inference-steps", "5")])
def test_render_parameters_out_of_range_are_refused_before_any_work(env, portrait_path, option, value):
    result = factory("make", "--script", "Hi.", "--image", str(portrait_path), option, value)
    assert result.exit_code == 2 and "range" in result.output
    assert factory("jobs", "list").output.strip() == "no jobs"


def test_batch_file_makes_one_job_per_row_and_a_bad_row_fails_alone(env, portrait_path):
    _no_face(env / "landscape.png")
    rows = env / "rows.csv"
    rows.write_text(
        "script,image\n"
        '"Row one speaks.",\n'
        '"Row two has no face.",landscape.png\n'
        ",\n"
    )
    result = factory("batch", str(rows), "--image", str(portrait_path), "--no-check", "--min-resolution", "384",
                     "--keep-crop", "--out-dir", str(env / "out"))
    assert result.exit_code == 1  # not every row was published
    assert "row 3: skipped" in result.output and "1 failed, 1 published" in result.output
    assert len(list((env / "out").glob("0001-*.mp4"))) == 1
    batch_id = result.output.strip().splitlines()[-1]
    service, _ = last_job(env)
    jobs = service.list(batch=batch_id)
    assert sorted(j.status for j in jobs) == ["failed", "published"]
    assert all(j.priority == 0 for j in jobs)  # batch rows yield to an editor's single job
    assert "No face" in next(j.error for j in jobs if j.status == "failed")


def test_batch_rows_become_writer_requests():
    from factory.batch import plan_rows

    rows = [
        {"name": "Aurora lamp", "features": "dimmable; USB-C", "price": "39.99"},
        {"topic": "Library reopens", "summary": "On Monday."},
        {"features": ["no name"]},
    ]
    planned = plan_rows(rows, Path("/img.png"), "en", 25.0, Path("."))
    assert planned[0].writer_request == {"use_case": "product", "language": "en", "target_seconds": 25.0,
                                         "product": {"name": "Aurora lamp", "price": "39.99", "features": ["dimmable", "USB-C"]}}
    assert planned[1].writer_request["use_case"] == "topic" and planned[1].writer_request["summary"] == "On Monday."
    assert planned[2].writer_request["product"] == {"features": ["no name"]}  # the writer refuses it, visibly


def test_review_required_holds_a_passing_job_until_approved(env, portrait_path, monkeypatch):
    monkeypatch.setenv("FACTORY_REVIEW_REQUIRED", "true")
    # Long enough (~8 s) for the lip-sync score to be conclusive: short clips are borderline by design.
    script = ("Our library opens on Monday with twelve new reading rooms. Children get a garden of their own, "
              "and the café stays open until nine every evening.")
    result = factory("make", "--script", script, "--image", str(portrait_path), "--out", str(env / "held.mp4"))
    assert result.exit_code == 2 and "held for review" in result.output
    service, job = last_job(env)
    assert job.status == JobStatus.NEEDS_REVIEW and job.values["qa"]["passed"], job.values["qa"]["reasons"]
    assert "qa_report" in job.files
    assert factory("jobs", "approve", job.id).exit_code == 0
    job = service.get(job.id)
    assert job.status == JobStatus.PUBLISHED and job.review["decision"] == "approved"
    assert [r.stage for r in service.runs(job.id)][-1] == "publish"
    assert factory("jobs", "approve", job.id).exit_code != 0  # nothing left to approve


def test_writer_is_told_the_voices_measured_speaking_rate(env, portrait_path):
    """After one video with the bundled voice, narrations for that voice are budgeted with the
    rate the speak stage measured, not the table default."""
    assert factory("make", "--script", "Twelve new reading rooms open on Monday morning.", "--image", str(portrait_path),
                   "--no-check", "--keep-crop", "--min-resolution", "384").exit_code == 0
    service, done = last_job(env)
    measured = done.values["speech"]["units_per_second"]
    assert 1.5 < measured < 4.5  # words per second of real Piper speech
    job = service.submit(image=portrait_path, writer_request={"use_case": "topic", "topic": "Library", "language": "en"})
    assert job.values["writer_request"]["speaking_rate"] == round(measured, 1)


def test_review_required_also_holds_jobs_without_the_qa_stage(env, portrait_path, monkeypatch):
    monkeypatch.setenv("FACTORY_REVIEW_REQUIRED", "true")
    result = factory("make", "--script", "Hold me.", "--image", str(portrait_path), "--no-check", "--keep-crop", "--min-resolution", "384")
    assert result.exit_code == 2
    service, job = last_job(env)
    assert job.status == JobStatus.NEEDS_REVIEW and job.review["stage"] == "publish"
    assert factory("jobs", "reject", job.id, "--reason", "wrong photo").exit_code == 0
    job = service.get(job.id)
    assert job.status == JobStatus.FAILED and "wrong photo" in job.error


def test_batch_rows_keep_their_language_and_a_bad_seconds_value_skips_only_that_row(tmp_path):
    from factory.batch import plan_rows

    planned = plan_rows([{"topic": "天气", "language": "zh"}, {"topic": "Weather", "seconds": "soon"}],
                        Path("host.jpg"), "en", None, tmp_path / "rows")
    assert planned[0].language == "zh" and planned[0].writer_request["target_seconds"] is None
    assert planned[0].image == Path("host.jpg")  # --image is not moved next to the rows file
    assert planned[1].problem and "seconds" in planned[1].problem
