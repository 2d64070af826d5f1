"""No numpy RuntimeWarning ("Mean of empty slice", "invalid value encountered in cast", ...)
may reach an editor's terminal: inputs an editor can upload (a photo with two faces, a float
WAV with NaN samples) must give explicit results, not NaN arithmetic.

Each test runs the code with RuntimeWarning turned into an error, so any such warning fails it.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

RATE = 16_000


@contextmanager
def runtime_warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


def _speech_like(seconds: float, rate: int = RATE) -> np.ndarray:
    """Noise switched on and off three times a second: loud enough to count as speech."""
    t = np.arange(int(seconds * rate)) / rate
    on = (np.sin(2 * np.pi * 3 * t) > 0).astype(np.float32)
    return (0.3 * on * np.random.default_rng(0).standard_normal(t.size)).astype(np.float32)


def _float_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> Path:
    """A 32-bit float WAV (the ``wave`` module writes only PCM, which cannot hold NaN)."""
    from scipy.io import wavfile

    wavfile.write(path, rate, samples.astype(np.float32))
    return path


# --- audio with NaN / inf samples ----------------------------------------------------------


def test_nan_samples_in_a_float_wav_are_decoded_as_silence(tmp_path):
    from factory.media import decode_audio, frame_count, frame_energy, write_wav
    from sonic.mouth import mouth_track
    from tts.loudness import is_silent, normalize_loudness

    samples = _speech_like(2.0)
    samples[4000:6000] = np.nan  # a broken stretch, as a faulty export or plug-in leaves
    samples[9000] = np.inf
    samples[9001] = -np.inf
    wav = _float_wav(tmp_path / "nan.wav", samples)

    with runtime_warnings_are_errors():
        # speak stage (an editor's recording): decode, silence check, loudness, 16-bit WAV
        decoded, rate = decode_audio(wav)
        assert rate == RATE and decoded.size == samples.size
        assert np.isfinite(decoded).all()
        assert not decoded[4000:6000].any(), "non-finite samples become silence"
        assert np.allclose(decoded[:4000], samples[:4000], atol=1e-6), "the rest is untouched"
        assert not is_silent(decoded, rate)
        out, _ = decode_audio(write_wav(tmp_path / "speech.wav", normalize_loudness(decoded, rate), rate))
        assert np.isfinite(out).all()
        # resampled decoding (speak fallback rate, Sonic and Whisper at 16 kHz from 22.05 kHz)
        resampled, rate2 = decode_audio(wav, sample_rate=22_050)
        assert rate2 == 22_050 and np.isfinite(resampled).all()
        # render (mouth from the audio) and check (speech energy per frame)
        n_frames = frame_count(decoded.size / rate)
        energy = frame_energy(decoded, rate, n_frames)
        assert np.isfinite(energy).all()
        track = mouth_track(n_frames, decoded, rate)
        assert np.isfinite(track.open).all()


def test_frame_energy_and_write_wav_take_non_finite_samples_as_silence(tmp_path):
    """The shared helpers themselves stay finite when handed NaN/inf directly."""
    from factory.media import decode_audio, frame_energy, write_wav

    samples = _speech_like(1.0)
    samples[:RATE // 25] = np.nan  # the whole first video frame
    samples[RATE // 2] = np.inf
    with runtime_warnings_are_errors():
        energy = frame_energy(samples, RATE, 25)
        assert np.isfinite(energy).all() and energy[0] == pytest.approx(-60.0)
        back, _ = decode_audio(write_wav(tmp_path / "x.wav", samples, RATE))
        assert np.isfinite(back).all() and not back[: RATE // 25].any()


def test_mouth_track_of_audio_shorter_than_a_frame_is_empty():
    """Under 20 ms of audio is 0 video frames: an empty track, not a max() of an empty array."""
    from sonic.mouth import mouth_track

    tiny = np.full(160, 0.1, dtype=np.float32)  # 10 ms
    with runtime_warnings_are_errors():
        for phonemes in ([["a", 0.0, 0.01]], None):
            track = mouth_track(0, tiny, RATE, phonemes=phonemes)
            assert track.open.shape == (0,) and track.width.shape == (0,)


def test_audio_with_no_finite_sample_is_refused_with_a_clear_reason(tmp_path):
    from factory.media import MediaError, decode_audio

    wav = _float_wav(tmp_path / "all_nan.wav", np.full(RATE, np.nan, dtype=np.float32))
    with runtime_warnings_are_errors(), pytest.raises(MediaError) as info:
        decode_audio(wav)
    message = str(info.value)
    assert "all_nan.wav" in message and "no usable sound" in message


# --- QA of a photo with two faces ------------------------------------------------------------


@pytest.fixture(scope="module")
def two_face_video(tmp_path_factory) -> Path:
    """One second of a still 1024×512 frame: skimage's astronaut twice, side by side, with sound.
    MediaPipe's face mesh (as QA runs it) finds no face in any frame of it."""
    import skimage.data

    from factory.media import FPS, VideoWriter, write_wav

    folder = tmp_path_factory.mktemp("two-faces")
    photo = skimage.data.astronaut()
    frame = np.ascontiguousarray(np.concatenate([photo, photo], axis=1))
    audio = write_wav(folder / "speech.wav", _speech_like(1.2), RATE)
    video = folder / "two_faces.mp4"
    with VideoWriter(video, frame.shape[1], frame.shape[0], fps=FPS, audio=audio) as writer:
        for _ in range(30):
            writer.write(frame)
    return video


def test_qa_report_and_plot_of_a_two_face_photo(two_face_video, tmp_path):
    from factory.settings import Settings
    from qa.report import check_video

    settings = Settings.load(data_dir=tmp_path / "data")
    with runtime_warnings_are_errors():
        report = check_video(two_face_video, settings=settings, transcribe=False)
        data = report.to_dict()
        png = report.save_plot(tmp_path / "qa.png")
    assert png.stat().st_size > 0
    assert len(data["series"]["mouth"]) == report.info["frames"]
    if all(m is None for m in report.mouth):  # no face measured: said so, not NaN numbers
        assert not report.check("face_visible").passed


@pytest.mark.parametrize("mouth", [[None] * 40, []], ids=["no-face-in-any-frame", "no-frames"])
def test_qa_plot_without_mouth_measures(mouth, tmp_path):
    """The plot's standardisation on a series with nothing measured (the cheap path to the
    same code as above, independent of what MediaPipe finds)."""
    from qa.report import QAReport

    report = QAReport(
        video="clip.mp4", passed=False, reasons=["no face"], checks=[], info={"fps": 25.0},
        lipsync={"offset_frames": 0, "confidence": 0.0, "min_confidence": 1.1, "lags": [], "correlation": []},
        mouth=mouth, energy_db=[-60.0] * len(mouth),
    )
    with runtime_warnings_are_errors():
        png = report.save_plot(tmp_path / "qa.png")
        report.to_json(tmp_path / "qa.json")
    assert png.stat().st_size > 0
