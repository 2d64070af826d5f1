"""The gate reads a file as a player plays it: sound that starts late or early in the container
(``ffmpeg -itsoffset``, the streams copied untouched) is measured at its real offset, the
duration check sees where the sound ends, and the offset limits are asymmetric (viewers forgive
late sound more than early sound).

One in-sync 256-px clip (``qa.synthetic_clips``: Piper speech, the astronaut's mouth opening
with it) and copies of it shifted in the container.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from factory.settings import Settings
from qa import synthetic_clips as sc

TEXT = "Welcome back to the channel. Today we look at three ways to keep your kitchen knives sharp."


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return sc.in_sync_clip(tmp_path_factory.mktemp("offsets") / "clip.mp4", TEXT)


@pytest.fixture(scope="module")
def shifted(clip):
    """shifted(k): the clip with its sound k frames late (negative: early) in the container."""
    made = {}

    def make(k: int):
        if k not in made:
            made[k] = sc.shift_in_container(clip, clip.with_name(f"shift{k:+d}.mp4"), k)
        return made[k]

    return make


def _report(video, **settings):
    from qa.report import check_video

    return check_video(video, settings=Settings.load(**settings), transcribe=False)


def test_container_shift_moves_the_sound_not_the_samples(clip, shifted):
    from factory.media import decode_audio, decode_sound, stream_times

    # A file without a start offset reads exactly as before, less the encoder's padding at the end.
    times = stream_times(clip)
    samples, rate = decode_audio(clip)
    played = decode_sound(clip, times.video_start, end=times.audio_end)
    on_timeline, same_rate = played.samples, played.rate
    assert same_rate == rate and 0 <= samples.size - on_timeline.size <= 1024
    assert np.array_equal(on_timeline, samples[: on_timeline.size])

    late = shifted(3)
    # The same samples in both files: only the start time differs.
    assert decode_audio(clip)[0].size <= decode_audio(late)[0].size <= decode_audio(clip)[0].size + 1024
    assert stream_times(clip).audio_delay == pytest.approx(0.0, abs=0.001)
    assert 0.05 < stream_times(late).audio_delay <= 0.125
    assert stream_times(shifted(-3)).audio_delay == pytest.approx(-0.12, abs=0.005)


@pytest.mark.parametrize("k", [0, -3, 3])
def test_one_decode_gives_the_sound_as_played_and_whisper_the_whole_track(k, clip, shifted):
    """The check decodes the sound once: the speech energy hears it where a player plays it, and
    Whisper the whole track from its first sample (the words it hears early are not cut off)."""
    from factory.media import decode_audio, decode_sound, stream_times
    from qa.lipsync import sound_as_played

    video = shifted(k) if k else clip
    sound = sound_as_played(video, track_rate=16000)
    times = stream_times(video)
    alone = decode_sound(video, times.video_start, end=times.audio_end)  # the timeline without the track
    assert sound.rate == alone.rate and np.array_equal(sound.samples, alone.samples)
    assert sound.track_rate == 16000 and np.array_equal(sound.track, decode_audio(video, 16000)[0])
    assert sound.delay == pytest.approx(times.audio_delay)


@pytest.mark.parametrize("k", [-6, -3, -1, 2, 3, 5])
def test_shifted_copies_read_at_their_shift(k, clip, shifted):
    from qa.lipsync import lip_sync

    in_sync = lip_sync(clip)
    result = lip_sync(shifted(k))
    assert result.confident, result.to_dict()
    assert abs(result.offset - in_sync.offset - k) <= 1, (k, in_sync.offset, result.offset)


def test_duration_check_sees_where_the_sound_ends(clip, shifted):
    """A sound track that starts late ends as late: within the offset limits (late <= 3 frames)
    that is not a second failure; beyond them, or early, the duration check says where."""
    assert _report(clip).check("duration").passed
    late_ok = _report(shifted(3)).check("duration")
    assert late_ok.passed, late_ok.message
    assert "s after the picture" in late_ok.message
    too_late = _report(shifted(5)).check("duration")
    assert not too_late.passed
    assert "later" in too_late.message and "s after the picture" in too_late.message
    early = _report(shifted(-3)).check("duration")
    assert not early.passed
    assert "earlier" in early.message and "0.12 s before the picture" in early.message


def test_offset_limits_are_asymmetric_by_default():
    from qa.gate import QAThresholds
    from qa.lipsync import LipSyncResult

    gate = QAThresholds()
    assert gate.offset_limits == (-1, 3)

    def offset_check(offset):
        sync = LipSyncResult(offset=offset, confidence=0.9, min_confidence=0.3, frames=250)
        return gate.sync_checks(sync)[1]

    assert offset_check(-1).passed  # 40 ms early: under the ~45 ms viewers notice
    held = offset_check(-2)
    assert not held.passed and "80 ms) early" in held.message
    assert offset_check(2).passed and offset_check(3).passed  # up to 120 ms late: unnoticed
    held = offset_check(4)
    assert not held.passed and "160 ms) late" in held.message


def test_real_shifted_copies_are_judged_by_the_asymmetric_limits(shifted):
    early = _report(shifted(-2))
    assert not early.check("lip_sync_offset").passed
    assert not early.passed
    assert early.check("lip_sync_offset").threshold == [-1, 3]
    assert _report(shifted(2)).check("lip_sync_offset").passed
    assert not _report(shifted(4)).check("lip_sync_offset").passed


def test_limits_come_from_settings(shifted):
    report = _report(shifted(2), qa_max_audio_late_frames=1)
    offset = report.check("lip_sync_offset")
    assert not offset.passed and offset.threshold == [-1, 1]
    assert report.lipsync["offset_limits"] == [-1, 1]


def test_plot_shows_the_accepted_offsets(clip, tmp_path):
    import numpy as np
    from PIL import Image

    report = _report(clip)
    report.save_plot(tmp_path / "plot.png")
    # The accepted band is shaded green in the correlation panel (the lower third).
    pixels = np.asarray(Image.open(tmp_path / "plot.png").convert("RGB")).astype(int)
    lower = pixels[pixels.shape[0] * 2 // 3 :]
    r, g, b = lower[..., 0], lower[..., 1], lower[..., 2]
    band = (g > r + 8) & (g > b + 8) & (g > 200)
    assert band.sum() > 500


def test_a_small_face_in_a_wide_frame_is_found_and_scored(clip):
    """A 1024×512 frame with a 160-px face: the face mesh's own detector misses it, the
    full-range detector finds it, and the clip passes the face and lip-sync checks."""
    from factory.media import ffmpeg_exe

    wide = clip.with_name("wide.mp4")
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(clip), "-vf", "scale=160:160,pad=1024:512:100:50",
                    "-c:a", "copy", str(wide)], check=True)
    report = _report(wide)
    assert report.check("face_visible").passed, report.check("face_visible").message
    assert report.check("lip_sync_confidence").passed, report.lipsync
    assert abs(report.lipsync["offset_frames"]) <= 1
