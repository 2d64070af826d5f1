"""Speech: the real Piper voice, loudness, timings, and the speak stage with real audio files."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from factory.media import MediaError, decode_audio, ffmpeg_exe, write_wav
from factory.settings import Settings
from factory.stages import StageContext, StageError
from tts.engine import TTSError, load_engine, resolve_voice, voice_version
from tts.loudness import PEAK_LIMIT_DBFS, TARGET_DBFS, peak_dbfs, voiced_level_dbfs

SENTENCE = "The quick brown fox jumps over the lazy dog."


def _rms_dbfs(samples: np.ndarray) -> float:
    return float(20 * np.log10(max(np.sqrt(np.mean(samples.astype(np.float64) ** 2)), 1e-9)))


@pytest.fixture(scope="module")
def engine():
    return load_engine()


@pytest.fixture(scope="module")
def speech_wav(engine, tmp_path_factory) -> Path:
    """About 3 s of real speech from the bundled voice, to play the editor's recording."""
    speech = engine.synthesize("Hello, this is my own recording. I made it at home.")
    return write_wav(tmp_path_factory.mktemp("rec") / "speech.wav", speech.samples, speech.sample_rate)


def _convert(src: Path, dst: Path, *args: str) -> Path:
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(src), *args, str(dst)], check=True)
    return dst


def _ctx(tmp_path: Path, *, script: str | None = None, files: dict | None = None, **settings) -> StageContext:
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    values = {} if script is None else {"script": script}
    return StageContext(
        job_id="job1", params={}, files=files or {}, values=values, workdir=workdir,
        settings=Settings(data_dir=tmp_path, **settings),
    )


def _read_wav(path: Path) -> tuple[int, int, float]:
    with wave.open(str(path)) as w:
        return w.getnchannels(), w.getframerate(), w.getnframes() / w.getframerate()


# --- the engine ---------------------------------------------------------------------------


def test_piper_speaks_a_sentence_with_timings_and_level(engine) -> None:
    speech = engine.synthesize(SENTENCE)
    assert speech.sample_rate == 22050 and speech.samples.dtype == np.float32
    assert 1.5 < speech.seconds < 5.0  # nine words at a normal pace
    starts = [p.start for p in speech.phonemes]
    assert len(speech.phonemes) > 25
    assert starts == sorted(starts)
    assert all(p.end > p.start for p in speech.phonemes)
    assert all(a.end <= b.start + 1e-6 for a, b in zip(speech.phonemes, speech.phonemes[1:]))
    # The last sound ends just before the clip does (Piper leaves ~0.1 s of quiet).
    assert speech.seconds - 0.4 < speech.phonemes[-1].end <= speech.seconds
    assert [w.word for w in speech.words] == SENTENCE.rstrip(".").split()
    assert abs(voiced_level_dbfs(speech.samples, speech.sample_rate) - TARGET_DBFS) < 1.0
    assert peak_dbfs(speech.samples) <= PEAK_LIMIT_DBFS + 0.01


def test_long_text_keeps_timings_on_the_audio(engine) -> None:
    """Sentences are spoken one by one and joined with pauses: each sentence's timings must be
    shifted by its offset, so the gap between sentences lands on the silence in the audio."""
    speech = engine.synthesize("Hello there. Of the people, in the end, for the people. It costs $5.")
    assert speech.text == "Hello there. Of the people, in the end, for the people. It costs five dollars."
    words = speech.words
    assert [w.word for w in words] == (
        "Hello there Of the people in the end for the people It costs five dollars".split()
    )
    assert all(a.start < b.start for a, b in zip(words, words[1:]))
    rate = speech.sample_rate
    # Between "there" and "Of" is the sentence pause: quiet. Inside "people": loud.
    gap = speech.samples[int(words[1].end * rate) + 200 : int(words[2].start * rate) - 200]
    assert len(gap) > 0.2 * rate and _rms_dbfs(gap) < -45
    people = speech.samples[int(words[4].start * rate) : int(words[4].end * rate)]
    assert _rms_dbfs(people) > -30
    assert speech.phonemes[-1].end > speech.seconds - 0.4


def test_nothing_to_say_is_an_editor_error(engine) -> None:
    with pytest.raises(TTSError, match="produced no speech"):
        engine.synthesize("#### *** ~~~")


def test_speech_longer_than_the_limit_stops_early(engine) -> None:
    with pytest.raises(TTSError, match="more than 2 seconds"):
        engine.synthesize("This is the first sentence. " * 20, max_seconds=2)


def test_voice_choice_and_errors(tmp_path: Path) -> None:
    bundled = resolve_voice("")
    assert bundled.model.name == "en_US-joe-medium.onnx" and bundled.bundled
    # A user's own .onnx path works (here: the bundled file, given by path) and is versioned by content.
    own = load_engine(str(bundled.model))
    assert own.synthesize("Yes.").seconds > 0.2
    assert voice_version(str(bundled.model)) != voice_version("")
    # speech made with and without Piper's sampling noise never share a cache entry
    assert voice_version("", sampling_noise=False) != voice_version("", sampling_noise=True)
    assert load_engine("", sampling_noise=False).version == voice_version("", sampling_noise=False)
    with pytest.raises(TTSError, match="Unknown voice 'alice'"):
        load_engine("alice")
    with pytest.raises(TTSError, match="does not exist"):
        load_engine(str(tmp_path / "missing.onnx"))
    lonely = tmp_path / "lonely.onnx"
    lonely.write_bytes(b"onnx")
    with pytest.raises(TTSError, match="no configuration file"):
        load_engine(str(lonely))
    with pytest.raises(TTSError, match="speaks English, not Chinese. Choose zh_CN-baker-fastspeech2"):
        load_engine("en_US-joe-medium", language="zh")


# --- the speak stage: script --------------------------------------------------------------


def test_stage_speaks_a_script(tmp_path: Path) -> None:
    from tts.stage import STAGE

    notes: list[tuple[float, str]] = []
    ctx = _ctx(tmp_path, script="Dr. Smith paid $5 on 2024-03-05. It was worth it!")
    ctx.progress = lambda fraction, note="": notes.append((fraction, note))
    result = STAGE.run(ctx)
    speech = result.values["speech"]
    channels, rate, seconds = _read_wav(result.files["audio"])
    assert (channels, rate) == (1, 22050)
    assert abs(seconds - speech["seconds"]) < 1e-3 and 3.0 < seconds < 9.0
    assert speech["source"] == "tts" and speech["engine"] == "piper:en_US-joe-medium"
    assert "Doctor Smith paid five dollars on March fifth, twenty twenty-four." in speech["text"]
    ph, start, end = speech["phonemes"][0]
    assert isinstance(ph, str) and 0 <= start < end
    assert speech["words"][0][0] == "Doctor"
    assert notes[-1][0] == 1.0 and len(notes) >= 3  # per sentence + done
    assert STAGE.name == "speak" and STAGE.reads_files == ("audio_upload",)
    assert "en_US-joe-medium" in STAGE.engine_version(ctx)


@pytest.mark.parametrize("script", ["", "   \n\t "])
def test_stage_refuses_an_empty_script(tmp_path: Path, script: str) -> None:
    from tts.stage import STAGE

    with pytest.raises(StageError, match="The script is empty"):
        STAGE.run(_ctx(tmp_path, script=script))


def test_stage_refuses_a_symbols_only_script(tmp_path: Path) -> None:
    from tts.stage import STAGE

    with pytest.raises(StageError, match="The script produced no speech"):
        STAGE.run(_ctx(tmp_path, script="*** ### --- ***"))


def test_stage_refuses_too_long_scripts_and_speech(tmp_path: Path) -> None:
    from tts.stage import STAGE

    with pytest.raises(StageError, match="characters long; the limit is 100"):
        STAGE.run(_ctx(tmp_path, script="word " * 50, max_script_chars=100))
    with pytest.raises(StageError, match="longer than allowed"):
        STAGE.run(_ctx(tmp_path, script="A fairly long sentence is spoken here. " * 5, max_audio_seconds=3))


# --- the speak stage: the editor's own recording --------------------------------------------


@pytest.mark.parametrize(
    "suffix, args, rate, tolerance",
    [
        (".mp3", ["-ar", "44100", "-ac", "2", "-b:a", "128k"], 44100, 0.03),
        (".flac", ["-ar", "44100", "-ac", "2"], 44100, 0.002),
        (".m4a", ["-ar", "48000", "-ac", "1", "-c:a", "aac"], 48000, 0.03),  # AAC frames pad a little
    ],
)
def test_stage_takes_a_recording_in_any_format(tmp_path, speech_wav, suffix, args, rate, tolerance) -> None:
    from tts.stage import STAGE

    upload = _convert(speech_wav, tmp_path / f"upload{suffix}", *args)
    original, original_rate = decode_audio(speech_wav)
    result = STAGE.run(_ctx(tmp_path, script="ignored when a recording is given", files={"audio_upload": upload}))
    channels, out_rate, seconds = _read_wav(result.files["audio"])
    assert (channels, out_rate) == (1, rate)
    assert abs(seconds - len(original) / original_rate) < tolerance
    speech = result.values["speech"]
    # a recording's mouth track comes from Whisper's words, phonemised
    assert speech["source"] == "upload" and speech["phonemes"] and speech["words"] and speech["sample_rate"] == rate
    samples, _ = decode_audio(result.files["audio"])
    assert_levelled(samples, rate)


def assert_levelled(samples, rate: int) -> None:
    """Levelled to the target, unless the peak limit stopped the gain first (Piper's speech varies
    run to run; a loud transient may hold the clip a little under the target)."""
    level = voiced_level_dbfs(samples, rate)
    level_ok = abs(level - TARGET_DBFS) < 1.0
    peak_bound = level < TARGET_DBFS and abs(peak_dbfs(samples) - PEAK_LIMIT_DBFS) < 0.3
    assert level_ok or peak_bound, (level, peak_dbfs(samples))


def test_quiet_recording_is_levelled_and_odd_rates_resampled(tmp_path, speech_wav) -> None:
    from tts.stage import STAGE

    samples, rate = decode_audio(speech_wav)
    quiet = write_wav(tmp_path / "quiet.wav", samples * 0.03, rate)  # about -30 dB quieter
    phone = _convert(quiet, tmp_path / "phone.wav", "-ar", "8000")
    result = STAGE.run(_ctx(tmp_path, files={"audio_upload": phone}))
    out, out_rate = decode_audio(result.files["audio"])
    assert out_rate == 48000
    assert_levelled(out, out_rate)


def test_silent_recording_is_refused(tmp_path: Path) -> None:
    from tts.stage import STAGE

    silent = write_wav(tmp_path / "silence.wav", np.zeros(22050 * 2, dtype=np.float32), 22050)
    with pytest.raises(MediaError, match="silence.wav is silent"):
        STAGE.run(_ctx(tmp_path, files={"audio_upload": silent}))


def test_empty_and_garbage_files_are_refused_readably(tmp_path: Path) -> None:
    from tts.stage import STAGE

    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match="empty.wav is missing or empty"):
        STAGE.run(_ctx(tmp_path, files={"audio_upload": empty}))
    garbage = tmp_path / "garbage.mp3"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(MediaError, match="garbage.mp3"):
        STAGE.run(_ctx(tmp_path, files={"audio_upload": garbage}))


def test_too_long_recording_is_refused(tmp_path, speech_wav) -> None:
    from tts.stage import STAGE

    with pytest.raises(StageError, match=r"is \d\.\d seconds long; the limit is 1.0 seconds") as error:
        STAGE.run(_ctx(tmp_path, files={"audio_upload": speech_wav}, max_audio_seconds=1.0))
    assert "max_audio_seconds = 1" in str(error.value)
