"""A job that names no seed gets one from its audio: different narrations blink and move
differently, the same narration renders the same (so its render is reused)."""

from __future__ import annotations

import numpy as np

from factory.media import frame_count, write_wav
from factory.settings import Settings
from factory.stages import StageContext


def _render(tmp, image, audio, **params) -> dict:
    from sonic.stage import STAGE

    ctx = StageContext(job_id="seed-test", params={"keep_crop": True, "min_resolution": 384, **params},
                       files={"image": image, "audio": audio}, values={}, workdir=tmp,
                       settings=Settings.load(data_dir=tmp / "data"))
    return STAGE.run(ctx).values["render"]["params"]


def test_the_seed_comes_from_the_audio_unless_given(tmp_path, portrait_path):
    from sonic.cpu_renderer import blink_track
    from sonic.stage import content_seed

    rng = np.random.default_rng(0)
    first = write_wav(tmp_path / "a.wav", (0.1 * rng.standard_normal(16000 * 2)).astype(np.float32), 16000)
    second = write_wav(tmp_path / "b.wav", (0.1 * rng.standard_normal(16000 * 2)).astype(np.float32), 16000)
    assert content_seed(first) == content_seed(first) != content_seed(second)

    (tmp_path / "r1").mkdir()
    (tmp_path / "r2").mkdir()
    assert _render(tmp_path / "r1", portrait_path, first)["seed"] == content_seed(first)
    assert _render(tmp_path / "r2", portrait_path, first, seed=7)["seed"] == 7
    frames = frame_count(30.0)
    assert not np.array_equal(blink_track(frames, seed=content_seed(first)), blink_track(frames, seed=content_seed(second)))
