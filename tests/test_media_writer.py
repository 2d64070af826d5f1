"""factory.media.VideoWriter: frames handed to the encoder's feeding thread come out in order and
complete, and an encoder that fails says why instead of hanging the stage."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from factory.media import FPS, VideoWriter, probe_video, read_video_frames, write_wav


def _frames(count: int, size: int = 64) -> list[np.ndarray]:
    """Frames whose brightness steps up by 4 each: their order is readable after encoding."""
    return [np.full((size, size, 3), 20 + 4 * i, np.uint8) for i in range(count)]


@pytest.mark.parametrize("buffer_frames", [None, 2, 0])
def test_every_frame_arrives_in_order(tmp_path, buffer_frames):
    audio = tmp_path / "tone.wav"
    samples = 0.2 * np.sin(np.linspace(0, 2 * np.pi * 440 * 2.0, 32_000)).astype(np.float32)
    write_wav(audio, samples, 16_000)
    path = tmp_path / "out.mp4"
    frames = _frames(50)
    with VideoWriter(path, 64, 64, fps=FPS, audio=audio, buffer_frames=buffer_frames) as video:
        for frame in frames:
            video.write(frame)
            frame[:] = 0        # the caller may reuse its array at once: the writer kept a copy

    info = probe_video(path)
    assert info.frames == 50 and info.audio_codec == "aac"
    means = [float(f.mean()) for f in read_video_frames(path)]
    assert np.all(np.diff(means) > 2), means        # each frame brighter than the last: none lost or swapped


def test_a_failing_encoder_raises_its_message_and_does_not_hang(tmp_path):
    broken = tmp_path / "not-audio.wav"
    broken.write_bytes(b"this is not a wave file")
    outcome: dict[str, BaseException] = {}

    def write_all() -> None:
        try:
            with VideoWriter(tmp_path / "out.mp4", 256, 256, audio=broken, buffer_frames=4) as video:
                for frame in _frames(400, size=256):
                    video.write(frame)
                    time.sleep(0.001)
        except BaseException as error:     # noqa: BLE001 - the test inspects it
            outcome["error"] = error

    thread = threading.Thread(target=write_all, daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "the writer hung after ffmpeg exited"
    error = outcome.get("error")
    assert isinstance(error, RuntimeError), error
    assert "ffmpeg" in str(error) and "not-audio.wav" in str(error)
