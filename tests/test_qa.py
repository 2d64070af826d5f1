"""QA gate tests on real media: Piper speech, a real photo, MediaPipe, Whisper base.

Test videos come from ``qa.synthetic_clips``: the astronaut photo's mouth opens with the speech
energy of each frame, so mouth and sound are in sync by construction and shifting the audio by
k frames gives a known offset k. Clips are 256 px and a few seconds long to keep this quick.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from factory.media import FPS, read_video_frames
from factory.settings import Settings
from factory.stages import ReviewRequired, Rerun, StageContext
from qa import synthetic_clips as sc

DATA = Path(__file__).parent / "data"

# Whisper base hears "mouth and voice" as "mouth invoice" in most Piper renditions (Piper's noise
# differs on every call), which left the good clip one word from the 15 % WER limit. These words
# measured 0.4 % mean / 1 word worst over 24 renditions (beam 1 and 5).
SCRIPT_A = (
    "The factory checks every video before it is published. "
    "Every picture must match its sound, sixty times a day."
)
SCRIPT_B = "Our new running shoe weighs only two hundred grams, and it still cushions every single step you take."


@pytest.fixture(scope="session")
def qa_settings(tmp_path_factory) -> Settings:
    # A fresh data folder: the Whisper base model is reassembled and verified into it once.
    return Settings.load(data_dir=tmp_path_factory.mktemp("qa-data"))


@pytest.fixture(scope="session")
def speech_a():
    return sc.piper_speech(SCRIPT_A)


@pytest.fixture(scope="session")
def speech_b():
    return sc.piper_speech(SCRIPT_B)


@pytest.fixture(scope="session")
def clips(tmp_path_factory):
    return tmp_path_factory.mktemp("qa-clips")


@pytest.fixture(scope="session")
def in_sync_video(clips, speech_a):
    samples, rate = speech_a
    return sc.write_clip(clips / "in_sync.mp4", speech_a, sc.openings_from_audio(samples, rate))


@pytest.fixture(scope="session")
def mismatched_video(clips, speech_a, speech_b):
    """The mouth of clip A with the sound of clip B (cut or padded to A's length)."""
    samples_a, rate = speech_a
    samples_b, rate_b = speech_b
    assert rate == rate_b
    other = np.zeros_like(samples_a)
    n = min(samples_a.size, samples_b.size)
    other[:n] = samples_b[:n]
    return sc.write_clip(clips / "mismatched.mp4", (other, rate), sc.openings_from_audio(samples_a, rate))


@pytest.fixture(scope="session")
def in_sync_report(in_sync_video, qa_settings):
    from qa.report import check_video

    return check_video(in_sync_video, script=SCRIPT_A, expected={"width": 256, "height": 256}, settings=qa_settings)


# --- lip sync ---------------------------------------------------------------------------------


def test_in_sync_clip_scores_offset_zero_with_confidence(in_sync_video):
    from qa.lipsync import lip_sync

    result = lip_sync(in_sync_video)
    assert abs(result.offset) <= 1
    assert result.confident, result.to_dict()


@pytest.mark.parametrize("k", [-8, -4, -2, 2, 4, 8])
def test_shifted_audio_is_reported_at_its_offset(k, clips, speech_a):
    from qa.lipsync import lip_sync

    samples, rate = speech_a
    # Mouth from the original timing, sound moved k frames (positive: sound late).
    video = sc.write_clip(clips / f"shift{k}.mp4", (sc.shift_audio(samples, rate, k), rate), sc.openings_from_audio(samples, rate))
    result = lip_sync(video)
    assert abs(result.offset - k) <= 1, (k, result.offset, result.confidence)
    assert result.confident


def test_audio_of_another_clip_gets_low_confidence(mismatched_video):
    from qa.lipsync import lip_sync

    result = lip_sync(mismatched_video)
    assert not result.confident, result.to_dict()
    assert result.confidence < result.min_confidence


def test_cpu_renderer_output_is_scored_like_any_video(clips, speech_a, speech_b, qa_settings):
    """The project's CPU renderer (sonic.stage) through its stage: in sync, shifted, mismatched."""
    from skimage import data

    from factory.media import save_image, write_wav
    from qa.lipsync import lip_sync
    from sonic.stage import STAGE as RENDER

    samples, rate = speech_a
    save_image(clips / "astronaut.png", data.astronaut())
    write_wav(clips / "narration_a.wav", samples, rate)
    workdir = clips / "cpu-render"
    workdir.mkdir(exist_ok=True)
    ctx = StageContext(job_id="qa-cpu", params={"min_resolution": 384, "seed": 1},
                       files={"image": clips / "astronaut.png", "audio": clips / "narration_a.wav"},
                       values={}, workdir=workdir, settings=qa_settings)
    video = RENDER.run(ctx).files["video"]

    in_sync = lip_sync(video)
    assert abs(in_sync.offset) <= 1 and in_sync.confident, in_sync.to_dict()
    write_wav(clips / "late4.wav", sc.shift_audio(samples, rate, 4), rate)
    assert abs(lip_sync(video, audio=clips / "late4.wav").offset - 4) <= 1
    other = np.zeros_like(samples)
    n = min(samples.size, speech_b[0].size)
    other[:n] = speech_b[0][:n]
    write_wav(clips / "other.wav", other, rate)
    assert not lip_sync(video, audio=clips / "other.wav").confident


def test_threshold_tightens_with_clip_length():
    from qa.lipsync import min_confidence_for

    assert min_confidence_for(100) > min_confidence_for(400) > min_confidence_for(1600)
    assert min_confidence_for(100) == pytest.approx(2 * min_confidence_for(400))


# --- transcript -------------------------------------------------------------------------------


def test_wer_counts_substituted_words_and_lists_them():
    from qa.text_metrics import error_rate

    result = error_rate("the quick brown fox jumps over the lazy dog", "the quick brown cat jumps over the crazy dog")
    assert result.unit == "word"
    assert result.substitutions == 2 and result.deletions == 0 and result.insertions == 0
    assert result.rate == pytest.approx(2 / 9, abs=1e-4)
    assert result.differences() == ['heard "cat" instead of "fox"', 'heard "crazy" instead of "lazy"']


def test_normalisation_ignores_case_punctuation_and_number_spelling():
    from qa.text_metrics import error_rate

    result = error_rate("Sixty times a day, in nineteen ninety-nine; two thousand and five people!", "60 times a day in 1999, 2005 people")
    assert result.rate == 0.0, result.differences()
    assert error_rate("It costs $5 and 3.5% more", "it costs five dollars and 3.5 percent more").rate == 0.0
    # Whisper base writes "cafe" for the script's "café" (10 of 10 Piper renditions measured).
    assert error_rate("The café opens at nine.", "The cafe opens at 9").rate == 0.0
    # ... and "Here's" for "here is", "colors" / "meters" for a British script's spelling.
    result = error_rate("Here is the weather: it will not rain, and the colours of the centre stay grey for forty metres.",
                        "Here's the weather. It won't rain and the colors of the center stay gray for 40 meters.")
    assert result.rate == 0.0, result.differences()
    assert error_rate("John's car", "John is car").rate > 0  # a possessive is not "is"
    assert error_rate("The dog wagged its tail. We will see.", "The dog wagged it's tail. Well, see.").rate == 0.0
    assert error_rate("Das Modell ist gut.", "Das Model ist gut.", "de").rate > 0  # English rules only
    assert error_rate("カード", "カート").rate > 0  # kana voicing marks are letters, not accents


def test_chinese_uses_character_error_rate():
    from qa.text_metrics import error_rate

    result = error_rate("今天天气很好，我们去公园。", "今天天气不好我们去公园")
    assert result.unit == "char" and result.name == "CER"
    assert result.reference_length == 11
    assert result.substitutions == 1 and result.rate == pytest.approx(1 / 11, abs=1e-4)
    # Chinese numerals and digits are the same number.
    assert error_rate("我有六十个苹果", "我有60个苹果").rate == 0.0


def test_whisper_base_transcribes_the_narration(in_sync_video, qa_settings):
    from qa.asr import WHISPER_BASE_SHA256, transcribe
    from qa.text_metrics import error_rate

    transcript = transcribe(in_sync_video, settings=qa_settings)
    assert transcript.language == "en"
    assert error_rate(SCRIPT_A, transcript.text).rate <= 0.15, transcript.text
    starts = [w.start for w in transcript.words]
    assert starts == sorted(starts) and transcript.words[-1].end <= transcript.duration + 0.1
    marker = qa_settings.cache_dir / "whisper-base" / ".verified"
    assert marker.read_text() == WHISPER_BASE_SHA256


def test_a_transcript_that_stops_before_the_speech_is_decoded_again_with_a_beam(in_sync_video, qa_settings, monkeypatch):
    """Greedy Whisper sometimes ends the text early while the narration goes on. The fault is
    injected (the greedy result cut to its first sentence) so the test holds on any CPU."""
    import qa.asr
    from qa.text_metrics import error_rate

    real_decode, beams = qa.asr._decode, []

    def decode(model, samples, language, beam_size, options):
        beams.append(beam_size)
        return real_decode(model, samples, language, beam_size, options)

    monkeypatch.setattr(qa.asr, "_decode", decode)
    whole = qa.asr.transcribe(in_sync_video, settings=qa_settings)
    assert beams == [1]  # speech heard to the end: no second pass

    def cut_greedy(model, samples, language, beam_size, options):
        transcript = decode(model, samples, language, beam_size, options)
        if beam_size == 1:
            first = next(i for i, w in enumerate(transcript.words) if w.word.endswith("."))
            transcript.words = transcript.words[: first + 1]
            transcript.text = " ".join(w.word for w in transcript.words)
        return transcript

    monkeypatch.setattr(qa.asr, "_decode", cut_greedy)
    beams.clear()
    cut = qa.asr.transcribe(in_sync_video, settings=qa_settings, options=qa.asr.AsrOptions(retry_beam_size=None))
    assert beams == [1] and error_rate(SCRIPT_A, cut.text).rate > 0.4
    beams.clear()
    retried = qa.asr.transcribe(in_sync_video, settings=qa_settings)
    assert beams == [1, 5]
    assert error_rate(SCRIPT_A, retried.text).rate <= 0.15 and retried.words[-1].end >= whole.words[-1].end - 0.3


def test_uncovered_speech_is_the_sound_after_the_last_word_heard():
    from qa.asr import Transcript, Word, uncovered_speech_seconds

    rate = 16000
    samples = np.zeros(4 * rate, np.float32)
    samples[rate // 2 : 3 * rate] = 0.3 * np.sin(np.arange(5 * rate // 2) * 0.1)  # sound 0.5 - 3.0 s
    heard = lambda end: Transcript("x", "en", 1.0, 4.0, [Word("x", 0.5, end, 1.0)])  # noqa: E731
    assert uncovered_speech_seconds(heard(0.8), samples, rate) == pytest.approx(2.2, abs=0.05)
    assert uncovered_speech_seconds(heard(2.95), samples, rate) < 0.1
    assert uncovered_speech_seconds(Transcript("", "en", 1.0, 4.0, []), np.zeros(rate, np.float32), rate) == 0.0


@pytest.mark.parametrize("failed, outcome", [
    ({"wer"}, ReviewRequired), ({"cer"}, ReviewRequired),
    ({"sound_present", "lip_sync_confidence"}, ReviewRequired),  # a silent track fails lip sync too
    ({"wer", "lip_sync_confidence"}, Rerun), ({"duration"}, Rerun), ({"face_visible"}, Rerun),
])
def test_gate_rerenders_only_what_a_new_picture_can_fix(failed, outcome, qa_settings):
    from factory.payloads import QASummary
    from qa.gate import decide

    checks = {name: name not in failed for name in ("duration", "face_visible", "lip_sync_confidence", "sound_present", "wer", "cer")}
    summary = QASummary(passed=False, reasons=sorted(failed), checks=checks)
    with pytest.raises(outcome):
        decide(summary, "job-1", {}, qa_settings)


def test_thank_you_for_watching_does_not_end_the_transcript(qa_settings):
    """A Piper rendition (kept in tests/data) that greedy Whisper base, on this project's AMD CI
    host, heard only as "Thank you for watching." - a phrase that ends many videos."""
    from qa.asr import transcribe
    from qa.text_metrics import error_rate

    script = "Thank you for watching. Subscribe to get a new video every Friday."
    transcript = transcribe(DATA / "thank_you_for_watching.m4a", settings=qa_settings)
    assert error_rate(script, transcript.text).rate <= 0.1, transcript.text


def test_a_local_model_folder_without_weights_is_refused(tmp_path, qa_settings):
    from factory.stages import StageError
    from qa.asr import resolve_model_dir

    settings = Settings.load(data_dir=qa_settings.data_dir, whisper_model=str(tmp_path))
    with pytest.raises(StageError, match="CTranslate2"):
        resolve_model_dir(settings)


# --- A/V checks -------------------------------------------------------------------------------


def _failed(report) -> set[str]:
    return {c.name for c in report.checks if not c.passed}


def test_in_sync_clip_passes_every_check(in_sync_report):
    assert in_sync_report.passed, in_sync_report.reasons
    assert in_sync_report.error_rate["rate"] <= 0.15
    assert in_sync_report.check("lip_sync_offset").value in (-1, 0, 1)


def _broken_clip(clips, speech_a, name, frame_filter=None, keep_fraction=1.0):
    samples, rate = speech_a
    openings = sc.openings_from_audio(samples, rate)
    openings = openings[: int(len(openings) * keep_fraction)]
    return sc.write_clip(clips / f"{name}.mp4", speech_a, openings, frame_filter=frame_filter)


def test_frozen_picture_during_speech_fails(clips, speech_a, qa_settings):
    from qa.report import check_video

    held = {}

    def freeze(index, rgb):  # frames 40-80 (1.6 s, mid-sentence) repeat frame 40
        if index == 40:
            held["frame"] = rgb.copy()
        return held["frame"] if 40 <= index <= 80 else rgb

    report = check_video(_broken_clip(clips, speech_a, "frozen", freeze), settings=qa_settings, transcribe=False)
    assert "no_frozen_picture" in _failed(report)
    assert report.check("no_frozen_picture").value > 1.0


def test_black_frames_fail(clips, speech_a, qa_settings):
    from qa.report import check_video

    def blacken(index, rgb):
        return np.zeros_like(rgb) if index in (20, 21, 22) else rgb

    report = check_video(_broken_clip(clips, speech_a, "black", blacken), settings=qa_settings, transcribe=False)
    assert _failed(report) >= {"no_black_frames"}
    assert report.check("no_black_frames").value == 3


def test_video_shorter_than_its_sound_fails(clips, speech_a, qa_settings):
    from qa.report import check_video

    samples, rate = speech_a
    video = _broken_clip(clips, speech_a, "short", keep_fraction=0.8)
    report = check_video(video, settings=qa_settings, transcribe=False, expected={"audio_seconds": samples.size / rate})
    assert "duration" in _failed(report)
    assert report.check("duration").value > 1.0


def test_missing_face_fails(clips, speech_a, qa_settings):
    from qa.report import check_video

    def hide_face(index, rgb):  # every fifth frame shows only the backdrop colour
        if index % 5 == 0:
            return np.full_like(rgb, 200)
        return rgb

    report = check_video(_broken_clip(clips, speech_a, "noface", hide_face), settings=qa_settings, transcribe=False)
    assert "face_visible" in _failed(report)
    assert report.check("face_visible").value == pytest.approx(0.8, abs=0.03)


def test_wrong_size_and_fps_fail(in_sync_video, qa_settings):
    from qa.report import check_video

    report = check_video(in_sync_video, settings=qa_settings, transcribe=False, expected={"width": 512, "height": 512, "fps": 30})
    assert {"size", "fps"} <= _failed(report)


# --- report, plot, subtitles ----------------------------------------------------------------


def test_report_json_plot_and_subtitles(in_sync_report, tmp_path):
    from qa.subtitles import Cue, to_srt, to_vtt

    data = json.loads(in_sync_report.to_json(tmp_path / "qa.json"))
    assert data["passed"] is True and len(data["series"]["mouth"]) == in_sync_report.info["frames"]
    png = in_sync_report.save_plot(tmp_path / "qa.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000

    cues = [Cue(**c) for c in in_sync_report.cues]
    assert " ".join(c.text for c in cues) == " ".join(SCRIPT_A.split())  # the script's own words
    starts = [c.start for c in cues]
    assert starts == sorted(starts) and cues[-1].end <= in_sync_report.info["video_seconds"] + 0.1
    assert all(c.end > c.start for c in cues)
    srt, vtt = to_srt(cues), to_vtt(cues)
    assert srt.startswith("1\n00:00:00,") and "-->" in srt
    assert vtt.startswith("WEBVTT\n\n00:00:00.")


def test_chinese_subtitles_split_by_clauses_not_spaces():
    from qa.asr import Word
    from qa.subtitles import build_cues

    script = "今天天气很好，我们去公园散步。然后一起吃午饭吧！"
    # Whisper's Chinese "words" are pieces of one or more characters.
    pieces = ["今天", "天气", "很好", "我们", "去", "公园", "散步", "然后", "一起", "吃", "午饭", "吧"]
    words, t = [], 0.0
    for p in pieces:
        words.append(Word(p, t, t + 0.2 * len(p), 0.9))
        t += 0.2 * len(p) + 0.05
    cues = build_cues(script, words, duration=t, language="zh")
    assert [c.text for c in cues] == ["今天天气很好，", "我们去公园散步。", "然后一起吃午饭吧！"]
    assert cues[1].start == pytest.approx(words[3].start)


def test_burned_in_subtitles_change_the_picture(in_sync_video, in_sync_report, tmp_path):
    from qa.subtitles import Cue, burn_in, write_subtitles

    cues = [Cue(**c) for c in in_sync_report.cues]
    srt, _ = write_subtitles(cues, tmp_path / "subs.srt", tmp_path / "subs.vtt")
    out = burn_in(in_sync_video, srt, tmp_path / "burned.mp4")
    frame_at = int((cues[0].start + cues[0].end) / 2 * FPS)
    before = next(f for i, f in enumerate(read_video_frames(in_sync_video)) if i == frame_at)
    after = next(f for i, f in enumerate(read_video_frames(out)) if i == frame_at)
    lower = slice(int(before.shape[0] * 0.75), None)
    assert np.abs(after[lower].astype(int) - before[lower].astype(int)).mean() > 3  # text drawn at the bottom


# --- the gate (stage run with a real StageContext) -------------------------------------------


def _ctx(tmp_path, video, settings, script=SCRIPT_A, **params):
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    return StageContext(
        job_id="job-qa-test",
        params={"width": 256, "height": 256, **params},
        files={"video": video},
        values={"script": script},
        workdir=workdir,
        settings=settings,
    )


def test_gate_passes_a_good_video_and_stores_its_artifacts(tmp_path, in_sync_video, qa_settings):
    from qa.stage import STAGE

    assert STAGE.name == "check" and not STAGE.cacheable
    result = STAGE.run(_ctx(tmp_path, in_sync_video, qa_settings))
    assert result.values["qa"]["passed"] is True
    assert set(result.files) == {"qa_report", "qa_plot", "subtitles_srt", "subtitles_vtt"}
    assert json.loads(result.files["qa_report"].read_text())["passed"] is True
    assert result.values["qa"]["numbers"]["wer"] <= 0.15


def test_gate_rerenders_then_asks_for_review(tmp_path, mismatched_video, qa_settings):
    from qa.stage import STAGE

    settings = Settings.load(data_dir=qa_settings.data_dir, qa_max_rerenders=1)
    with pytest.raises(Rerun) as first:
        STAGE.run(_ctx(tmp_path, mismatched_video, settings))
    assert first.value.stage == "render"
    assert first.value.params["qa_attempt"] == 1 and isinstance(first.value.params["seed"], int)
    assert "mouth does not follow the voice" in str(first.value)
    assert first.value.result.values["qa"]["passed"] is False  # numbers travel with the exception

    with pytest.raises(ReviewRequired) as last:
        STAGE.run(_ctx(tmp_path, mismatched_video, settings, **first.value.params))
    assert "QA failed after 1 re-render" in str(last.value)
    assert "lip_sync_confidence" in {k for k, ok in last.value.details["qa"]["checks"].items() if not ok}


def test_gate_sends_a_misheard_narration_to_review_without_rerendering(tmp_path, in_sync_video, qa_settings):
    """Lips in sync, but the sound does not say the script: a new picture would not change that."""
    from qa.stage import STAGE

    settings = Settings.load(data_dir=qa_settings.data_dir, qa_max_rerenders=2)
    with pytest.raises(ReviewRequired) as held:
        STAGE.run(_ctx(tmp_path, in_sync_video, settings, script=SCRIPT_B))
    assert "narration, which a re-render cannot change" in str(held.value)
    assert held.value.details["qa_attempt"] == 0
    assert {k for k, ok in held.value.details["qa"]["checks"].items() if not ok} == {"wer"}


# --- command line -----------------------------------------------------------------------------


def test_check_command_prints_json_and_sets_exit_code(in_sync_video, mismatched_video, qa_settings, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from qa.cli import check

    monkeypatch.setenv("FACTORY_DATA_DIR", str(qa_settings.data_dir))
    runner = CliRunner()
    ok = runner.invoke(check, [str(in_sync_video), "--script", SCRIPT_A, "--json", "--out-dir", str(tmp_path / "out")])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["passed"] is True
    assert (tmp_path / "out" / "subtitles.vtt").is_file() and (tmp_path / "out" / "qa_plot.png").is_file()
    bad = runner.invoke(check, [str(mismatched_video), "--no-asr"])
    assert bad.exit_code == 1 and "FAIL" in bad.output and "lip_sync_confidence" in bad.output


def test_importing_the_cli_stays_light():
    code = "import sys, qa.cli; heavy = {'faster_whisper', 'mediapipe', 'ctranslate2', 'torch', 'matplotlib', 'cv2'} & set(sys.modules); print(sorted(heavy))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_clips_too_short_to_score_lip_sync_are_not_failed_for_it():
    """A 1.6 s clip would need confidence > 1 (impossible): the check says "not measured" instead
    of re-rendering for nothing; a 6 s clip is scored as usual."""
    from qa.gate import QAThresholds
    from qa.lipsync import LipSyncResult, min_confidence_for

    gate = QAThresholds()
    short = LipSyncResult(offset=0, confidence=0.8, min_confidence=min_confidence_for(40), frames=40)
    checks = {c.name: c for c in gate.sync_checks(short)}
    assert checks["lip_sync_confidence"].passed and "not measured" in checks["lip_sync_confidence"].message
    unrelated = LipSyncResult(offset=5, confidence=0.3, min_confidence=min_confidence_for(150), frames=150)
    assert not {c.name: c for c in gate.sync_checks(unrelated)}["lip_sync_confidence"].passed


@pytest.mark.parametrize("vendor, flags, chosen", [
    ("AuthenticAMD", "avx2 avx512f avx512cd avx512bw avx512dq avx512vl avx512_vnni", "AVX512"),  # Zen 4
    ("AuthenticAMD", "avx2 fma", None),  # no AVX-512: CTranslate2's own choice
    ("AuthenticAMD", "avx2 avx512f avx512bw avx512dq avx512vl", None),  # CTranslate2's AVX-512 also needs CD
    ("GenuineIntel", "avx2 avx512f avx512cd avx512bw avx512dq avx512vl", None),  # not measured: left alone
])
def test_whisper_uses_avx512_kernels_on_amd_cpus_that_have_them(monkeypatch, vendor, flags, chosen):
    from qa.asr import prefer_avx512_kernels

    cpuinfo = f"processor\t: 0\nvendor_id\t: {vendor}\nflags\t\t: fpu sse4_2 {flags}\n"
    monkeypatch.setenv("CT2_FORCE_CPU_ISA", "")  # recorded, so the test leaves the variable as it found it
    monkeypatch.delenv("CT2_FORCE_CPU_ISA")
    prefer_avx512_kernels(cpuinfo)
    import os

    assert os.environ.get("CT2_FORCE_CPU_ISA") == chosen
    monkeypatch.setenv("CT2_FORCE_CPU_ISA", "AVX2")  # the user's own choice wins
    prefer_avx512_kernels(cpuinfo)
    assert os.environ["CT2_FORCE_CPU_ISA"] == "AVX2"
