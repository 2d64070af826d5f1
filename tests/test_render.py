"""The render stage end to end on a real photo and real Piper speech, plus its parts.

What a user would notice: the MP4 plays, lasts as long as the speech, has the size asked for,
the mouth visibly moves with the voice (measured on the output frames with MediaPipe), and
the rest of the photo stays as it was. Plus the failures an editor sees: no face, several
faces, a parameter out of range, a renderer that is not installed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from factory.media import (
    FPS, decode_audio, frame_count, frame_energy, probe_video, read_video_frames, save_image, write_wav,
)
from factory.stages import StageContext, StageError

SENTENCE = "Hello! My name is Eileen, and I flew the space shuttle."


@pytest.fixture(scope="module")
def narration(tmp_path_factory) -> tuple[Path, dict]:
    """~3 s of real speech from the bundled Piper voice, with its phoneme timings."""
    from tts.engine import load_engine

    speech = load_engine().synthesize(SENTENCE)
    assert 2.0 < speech.seconds < 6.0 and speech.phonemes
    path = write_wav(tmp_path_factory.mktemp("speech") / "speech.wav", speech.samples, speech.sample_rate)
    facts = {"seconds": speech.seconds, "phonemes": [[p.phoneme, p.start, p.end] for p in speech.phonemes]}
    return path, facts


def render(tmp: Path, image: Path, audio: Path, speech: dict | None, **params):
    from factory.settings import Settings
    from sonic.stage import STAGE

    ctx = StageContext(
        job_id="test", params=params, files={"image": image, "audio": audio},
        values={"speech": speech} if speech else {}, workdir=tmp, settings=Settings.load(data_dir=tmp / "data"),
    )
    return STAGE.run(ctx)


def mouth_openings(video: Path) -> np.ndarray:
    from factory.faces import FaceMesh, mouth_opening

    with FaceMesh(video=True) as mesh:
        return np.array([mouth_opening(mesh.landmarks(frame)) for frame in read_video_frames(video)])


def speech_energy(audio: Path, n_frames: int) -> np.ndarray:
    samples, rate = decode_audio(audio)
    return frame_energy(samples, rate, n_frames)


@pytest.fixture(scope="module")
def pasted(tmp_path_factory, portrait_path, narration):
    audio, speech = narration
    tmp = tmp_path_factory.mktemp("pasted")
    return render(tmp, portrait_path, audio, speech)


def test_video_plays_for_exactly_the_speech(pasted, narration):
    audio, _ = narration
    info = probe_video(pasted.files["video"])
    samples, rate = decode_audio(audio)
    seconds = len(samples) / rate
    assert info.fps == FPS
    assert info.frames == frame_count(seconds)
    assert abs(info.video_seconds - seconds) <= 1.0 / FPS
    assert (info.video_codec, info.pix_fmt, info.audio_codec) == ("h264", "yuv420p", "aac")
    assert (info.width, info.height) == (512, 512)  # pasted back: the photo's own size
    facts = pasted.values["render"]
    assert facts["frames"] == info.frames and facts["renderer"].startswith("cpu")
    assert facts["mouth"] == "phonemes" and facts["warnings"] == []


def test_mouth_moves_with_the_voice(pasted, narration):
    audio, _ = narration
    opening = mouth_openings(pasted.files["video"])
    energy = speech_energy(audio, len(opening))
    # The mouth opens visibly (MediaPipe sees a gap of several % of the face height) ...
    assert opening.max() - opening.min() > 0.03
    # ... and more when the voice is loud than in the pauses.
    r = np.corrcoef(opening, energy)[0, 1]
    assert r > 0.3, f"mouth opening vs speech energy: r = {r:.2f}"


def test_rest_of_the_photo_stays(pasted, portrait_path):
    from factory.media import load_image

    photo = load_image(portrait_path).astype(np.float32)
    frames = np.stack(list(read_video_frames(pasted.files["video"]))).astype(np.float32)
    diff = np.abs(frames - photo).mean(axis=(0, 3))  # mean over frames and colour
    box = pasted.values["render"]["face_box"]
    below_face = diff[int(box[3]) + 60 :, :]  # the suit, far below the chin
    assert below_face.mean() < 4.0, "the body moved or the encode is poor"
    assert diff[:60, 400:].mean() < 4.0, "the background moved"  # top-right corner: backdrop
    # The forehead follows the gentle head sway, so it may shift a few pixels, not more.
    forehead = diff[int(box[1]) - 5 : int(box[1]) + 20, int(box[0]) + 25 : int(box[2]) - 25]
    assert forehead.mean() < 15.0
    # The face is really animated: the mouth region changes far more than the backdrop.
    mouth = diff[int(box[1]) + 70 : int(box[3]), int(box[0]) + 25 : int(box[2]) - 25]
    assert mouth.mean() > 2 * diff[:60, 400:].mean()


def test_keep_crop_from_the_audio_alone(tmp_path, portrait_path, narration):
    """An editor's own recording has no phoneme timings: the mouth follows the audio."""
    audio, _ = narration
    result = render(tmp_path, portrait_path, audio, None, keep_crop=True, min_resolution=384, seed=3)
    info = probe_video(result.files["video"])
    assert (info.width, info.height) == (384, 384)
    samples, rate = decode_audio(audio)
    assert info.frames == frame_count(len(samples) / rate)
    assert result.values["render"]["mouth"] == "energy"
    opening = mouth_openings(result.files["video"])
    assert opening.max() - opening.min() > 0.03
    assert np.corrcoef(opening, speech_energy(audio, len(opening)))[0, 1] > 0.3


def test_photo_without_a_face_is_refused(tmp_path, narration):
    import skimage.data

    image = tmp_path / "coffee.png"
    save_image(image, skimage.data.coffee())
    with pytest.raises(StageError, match="No face found"):
        render(tmp_path, image, narration[0], None)


def test_several_faces_use_the_largest_with_a_warning():
    import skimage.data

    from sonic.crop import PasteBack, crop_face

    import cv2

    big = skimage.data.astronaut()
    small = cv2.resize(big, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    # Two people side by side: the smaller one on the left, so "largest" is not "first found".
    photo = np.full((512, small.shape[1] + 512, 3), 200, np.uint8)
    top = (512 - small.shape[0]) // 2
    photo[top : top + small.shape[0], : small.shape[1]] = small
    photo[:, small.shape[1] :] = big
    crop = crop_face(photo, expand_ratio=0.15, min_resolution=512)
    assert crop.face_box.x0 > small.shape[1], "the smaller face was chosen"
    assert len(crop.warnings) == 1 and "2 faces" in crop.warnings[0]
    assert crop.image.shape == (512, 512, 3)
    # Pasting the untouched crop back gives the photo again (up to resampling).
    out = PasteBack(photo, crop.transform)(crop.image)
    assert out.shape == (512, 818, 3)  # 819 wide: cut to even for H.264
    assert np.abs(out.astype(int) - photo[:, :818]).mean() < 1.0


def test_crop_near_the_border_is_padded_and_even():
    import skimage.data

    from sonic.crop import PasteBack, crop_face

    photo = skimage.data.astronaut()[40:, 150:]  # the face now touches the top edge
    photo = photo[:, :-1]  # odd width
    crop = crop_face(photo, expand_ratio=0.3, min_resolution=385)
    assert crop.image.shape == (384, 384, 3)
    assert crop.transform.y0 < 0  # the square reaches above the photo
    paste = PasteBack(photo, crop.transform)
    assert paste.width % 2 == 0 and paste.height % 2 == 0
    assert paste(crop.image).shape == (paste.height, paste.width, 3)


def test_render_params_are_validated():
    from sonic.params import HELP, RANGES, RenderParamError, RenderParams

    assert RenderParams.from_dict({}).min_resolution == 512
    assert RenderParams.from_dict({}, renderer="sonic").min_resolution == 1024
    p = RenderParams.from_dict({"dynamic_scale": "1.3", "keep_crop": "true", "seed": 7, "voice": "x"})
    assert (p.dynamic_scale, p.keep_crop, p.seed) == (1.3, True, 7)
    with pytest.raises(RenderParamError, match="between 0.1 and 0.3"):
        RenderParams.from_dict({"expand_ratio": 0.5})
    with pytest.raises(StageError, match="min_resolution must be between 384 and 2048"):
        RenderParams.from_dict({"min_resolution": 100})
    with pytest.raises(ValueError, match="motion_scale must be a float"):
        RenderParams.from_dict({"motion_scale": "fast"})
    assert set(HELP) == set(RANGES) >= {"min_resolution", "expand_ratio", "inference_steps", "dynamic_scale",
                                         "motion_scale", "seed", "keep_crop"}


def test_missing_renderer_fails_with_instructions(tmp_path):
    from factory.settings import Settings
    from sonic.stage import load_renderer

    settings = Settings.load(data_dir=tmp_path)
    with pytest.raises(StageError, match="Unknown renderer"):
        load_renderer("magic", settings)
    # No Sonic weights on this machine: never a silent fallback to the CPU renderer.
    with pytest.raises(StageError, match="(?i)sonic"):
        load_renderer("sonic", settings)


def test_visemes_shape_the_mouth():
    from sonic.mouth import mouth_track

    # "ma" then "pu": closed for m/p, wide for a, rounded for u.
    phonemes = [["m", 0.2, 0.3], ["ɑ", 0.3, 0.6], ["p", 0.6, 0.7], ["u", 0.7, 1.0]]
    track = mouth_track(frame_count(1.2), phonemes=phonemes, dynamic_scale=1.0)
    at = lambda seconds: int(seconds * FPS)  # noqa: E731
    assert track.open[at(0.25)] < 0.1 and track.open[at(0.65)] < 0.1
    assert track.open[at(0.45)] > 0.7
    assert track.width[at(0.85)] < -0.4 < track.width[at(0.45)]
    assert track.open[at(1.15)] < 0.1  # back to rest after the last sound
    bigger = mouth_track(frame_count(1.2), phonemes=phonemes, dynamic_scale=1.5)
    assert bigger.open.max() == pytest.approx(1.5 * track.open.max(), rel=1e-5)


def test_blinks_are_brief_and_seeded():
    from sonic.cpu_renderer import blink_track

    blinks = blink_track(frame_count(20.0), seed=1)
    closed = blinks > 0.5
    starts = np.flatnonzero(closed[1:] & ~closed[:-1])
    assert 3 <= len(starts) <= 11  # one every 2–6 s
    assert closed.sum() <= 3 * len(starts) + 3  # each ~150 ms: a few frames
    assert np.array_equal(blinks, blink_track(frame_count(20.0), seed=1))
    assert not np.array_equal(blinks, blink_track(frame_count(20.0), seed=2))
