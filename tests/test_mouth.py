"""The mouth track on real speech: what a viewer notices about a talking mouth.

The lips are shut in the pauses and meet on every m/b/p (also on a portrait that smiles with
its teeth showing), the mouth is narrow on rounded vowels and wide on spread ones, and an editor's own recording gets phoneme timings from what is said in it
(Whisper's words, phonemised) so its mouth takes shapes too, not only the loudness.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from factory.media import FPS, decode_audio, frame_count, frame_energy
from factory.stages import StageContext

RECORDING = Path(__file__).parent / "data" / "thank_you_for_watching.m4a"  # a real person speaking


def piper(text: str):
    from tts.engine import load_engine

    speech = load_engine().synthesize(text)  # without sampling noise (conftest): the same frames every run
    rows = [[p.phoneme, p.start, p.end] for p in speech.phonemes]
    return speech.samples, speech.sample_rate, rows, frame_count(speech.seconds)


def pauses(samples: np.ndarray, rate: int, n_frames: int, min_frames: int = 4) -> np.ndarray:
    """Frames inside silences (under -40 dB, the QA gate's speech level) of >= 160 ms."""
    return runs_at_least(frame_energy(samples, rate, n_frames) < -40.0, min_frames)


def runs_at_least(flags: np.ndarray, min_frames: int) -> np.ndarray:
    """The True frames that belong to runs of at least ``min_frames``."""
    mask = np.zeros(len(flags), dtype=bool)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    for start, end in zip(edges[::2], edges[1::2]):
        if end - start >= min_frames:
            mask[start:end] = True
    return mask


def test_pauses_close_the_mouth():
    from sonic.mouth import SEALED, mouth_track

    samples, rate, rows, n = piper("Hello there. My name is Eileen. Thank you, everyone!")
    in_pause = pauses(samples, rate, n)
    assert in_pause.sum() >= 8, "the narration has pauses between its sentences"
    for phonemes in (rows, None):  # TTS with phonemes, and the loudness alone
        track = mouth_track(n, samples, rate, phonemes)
        # Never open in a pause, and sealed (-1) inside it: the lips meet, whatever the photo.
        assert np.all(track.open[in_pause] <= 0.0) and np.all(track.width[in_pause] == 0.0)
        inside = in_pause & np.roll(in_pause, 1) & np.roll(in_pause, -1)
        assert np.all(track.open[inside] == SEALED)
        assert track.open[~in_pause].max() > 0.5  # and it does open when speaking
    # Without the audio, the gaps between the phonemes are the pauses.
    track = mouth_track(n, phonemes=rows)
    gap = np.array([all(not (s <= (i + 0.5) / FPS < e) for _, s, e in rows) for i in range(n)])
    long_gaps = runs_at_least(gap, 4)
    assert long_gaps.sum() >= 8 and track.open[long_gaps].max() <= 0.0


def test_bilabials_close_the_mouth():
    from sonic.mouth import SEALED, VOWELS, frame_sounds, mouth_track

    samples, rate, rows, n = piper("Maybe Bob bought a purple map by the pond.")
    track = mouth_track(n, samples, rate, rows)
    sounds = frame_sounds(rows, n)
    bilabial = np.array([bool(s) and s[0] in "mbp" for s in sounds])
    vowel = np.array([bool(s) and s[0] in VOWELS for s in sounds])
    # Nine m/b/p are spoken; Piper's durations vary run to run, and one shorter than a frame
    # (40 ms) lands on no frame of its own, so at least five must be found on the frames.
    assert sum(1 for row in rows if row[0][0] in "mbp") >= 9 and vowel.sum() >= 15
    # Each m/b/p seals the lips on one of its own frames, or on the frame next to it when that
    # one is quieter than all of them: the silent hold of a "b" or "p", which Piper leaves
    # between the sounds (the lips are shut there, and open with the burst) ...
    energy = frame_energy(samples, rate, n)
    starts = np.flatnonzero(bilabial & ~np.concatenate([[False], bilabial[:-1]]))
    ends = np.flatnonzero(bilabial & ~np.concatenate([bilabial[1:], [False]]))
    assert len(starts) >= 5
    for i, j in zip(starts, ends):
        hold = [k for k in (i - 1, j + 1) if 0 <= k < n and energy[k] < energy[i : j + 1].min()]
        assert (track.open[i : j + 1] == SEALED).any() or (track.open[hold] == SEALED).any(), \
            (i, j, track.open[max(0, i - 1) : j + 2])
    # ... and the lips are apart on the vowels that sound (a "p" with no frame of its own, or
    # a vowel fading into one, may take a vowel frame now and then).
    sounding = vowel & (energy > -40.0)
    assert (track.open[sounding] > 0).mean() >= 0.8 and track.open[sounding].mean() > 0.4


def test_rounded_and_spread_vowels_differ_in_width():
    from sonic.mouth import frame_sounds, mouth_track

    samples, rate, rows, n = piper("Two blue shoes. Who knew? Three green trees. We see teeth.")
    track = mouth_track(n, samples, rate, rows)
    sounds = frame_sounds(rows, n)
    rounded = np.array([bool(s) and s[0] in "uʊoɔ" for s in sounds])
    spread = np.array([bool(s) and s[0] in "iɪe" for s in sounds])
    speaking = track.open > 0
    assert track.width[rounded & speaking].mean() < -0.3
    assert track.width[spread & speaking].mean() > 0.3
    # The "t" of "two" already rounds towards the "u"; the "t" of "tea" spreads towards the "i".
    two = mouth_track(25, phonemes=[["t", 0.2, 0.4], ["uː", 0.4, 0.8]]).width
    tea = mouth_track(25, phonemes=[["t", 0.2, 0.4], ["iː", 0.4, 0.8]]).width
    assert two[int(0.3 * FPS)] < -0.2 and tea[int(0.3 * FPS)] > 0.3


def test_rendered_mouth_is_narrower_when_rounded():
    """On the photo itself: MediaPipe sees the mouth corners closer together for rounded lips."""
    import skimage.data

    from factory.faces import FaceMesh
    from sonic.cpu_renderer import build_rig, render_frame
    from sonic.crop import crop_face

    crop = crop_face(skimage.data.astronaut(), 0.15, 512)
    rig = build_rig(crop.image)
    still = np.array([0.0, 0.0, 0.0, 1.0], dtype=np.float32)
    with FaceMesh() as mesh:
        def mouth_width(width: float) -> float:
            lm = mesh.landmarks(render_frame(rig, 0.4, width, 0.0, still))
            return float(np.linalg.norm(lm[61] - lm[291]))

        rounded, neutral, spread = mouth_width(-1.0), mouth_width(0.0), mouth_width(1.0)
    assert rounded < neutral - 2.0 and spread > neutral + 2.0, (rounded, neutral, spread)


def test_a_smiling_portrait_closes_its_lips(photo_and_statue):
    """The astronaut smiles with her teeth showing. On an "m" and in a pause the face mesh sees
    her lips meet in the rendered frame (the lips close over the teeth); on a vowel it sees them
    apart."""
    from factory.faces import FaceMesh, mouth_opening
    from sonic.cpu_renderer import render_frame
    from sonic.mouth import frame_sounds, mouth_track

    samples, rate, rows, n = piper("Maybe Mom knows. Ask her now.")
    track = mouth_track(n, samples, rate, rows)
    sounds = frame_sounds(rows, n)
    m_frames = [i for i, s in enumerate(sounds) if s and s[0] == "m"]
    m_frame = min(m_frames, key=lambda i: track.open[i])
    in_pause = pauses(samples, rate, n)
    assert in_pause.any() and m_frames
    pause_frame = int(np.flatnonzero(in_pause)[in_pause.sum() // 2])
    vowel_frame = int(np.argmax(track.open))
    photo, _ = photo_and_statue
    still = np.array([0, 0, 0, 1], np.float32)

    def gap(i: int | None) -> float:
        if i is None:
            frame = render_frame(photo, 0.0, 0.0, 0.0, still)  # the photo's own mouth
        else:
            frame = render_frame(photo, float(track.open[i]), float(track.width[i]), 0.0, still,
                                 float(track.teeth_on_lip[i]))
        return mouth_opening(mesh.landmarks(frame))

    with FaceMesh() as mesh:
        rest, on_m, in_silence, on_vowel = gap(None), gap(m_frame), gap(pause_frame), gap(vowel_frame)
    assert rest > 0.05  # teeth showing: the lips are well apart in the photo
    assert on_m < 0.3 * rest and in_silence < 0.3 * rest, (rest, on_m, in_silence)
    assert on_vowel > rest + 0.01, (rest, on_vowel)


@pytest.fixture(scope="module")
def recording_speech(tmp_path_factory) -> dict:
    """The speak stage on a real recording (Whisper runs once, in the stage)."""
    from factory.settings import Settings
    from tts.stage import STAGE

    tmp = tmp_path_factory.mktemp("recording")
    ctx = StageContext(job_id="rec", params={}, files={"audio_upload": RECORDING}, values={}, workdir=tmp,
                       settings=Settings(data_dir=tmp / "data"))
    result = STAGE.run(ctx)
    return {"audio": result.files["audio"], **result.values["speech"]}


def test_a_recording_gets_phoneme_timings(recording_speech):
    speech = recording_speech
    assert speech["source"] == "upload"
    words = [w[0].lower() for w in speech["words"]]
    assert "watching" in words and "friday" in words, words
    symbols = [p[0] for p in speech["phonemes"]]
    assert {"w", "b", "f"} <= set(symbols), symbols  # watching, subscribe, for / Friday
    starts = [p[1] for p in speech["phonemes"]]
    assert starts == sorted(starts) and speech["phonemes"][-1][2] <= speech["seconds"] + 0.05
    # Each word's sounds lie within the word's time.
    watching = next(w for w in speech["words"] if w[0].lower() == "watching")
    inside = [p for p in speech["phonemes"] if watching[1] - 1e-3 <= p[1] and p[2] <= watching[2] + 1e-3]
    assert [p[0] for p in inside][:2] == ["w", "ɑː"]


def test_a_recordings_mouth_follows_its_sounds(recording_speech):
    from sonic.mouth import frame_sounds, mouth_track

    samples, rate = decode_audio(recording_speech["audio"])
    n = frame_count(len(samples) / rate)
    track = mouth_track(n, samples, rate, recording_speech["phonemes"])
    assert track.source == "phonemes"
    # The mouth still follows the voice: louder frames open it wider ...
    energy = frame_energy(samples, rate, n)
    assert np.corrcoef(track.open, energy)[0, 1] > 0.5
    # ... shut in the pause after "watching" ...
    in_pause = pauses(samples, rate, n)
    assert in_pause.sum() >= 5 and track.open[in_pause].max() <= 0.0
    # ... and shaped by the sounds heard: the "oo" of "you" rounds the lips, where a mouth
    # driven by the loudness only spreads them as it opens.
    sounds = frame_sounds(recording_speech["phonemes"], n)
    rounded = [i for i, s in enumerate(sounds) if s and s[0] in "uʊoɔw" and track.open[i] > 0]
    assert rounded and track.width[rounded].mean() < -0.2
    energy_only = mouth_track(n, samples, rate)
    assert energy_only.width[rounded].mean() > 0


def _rig(image: np.ndarray):
    from sonic.cpu_renderer import build_rig
    from sonic.crop import crop_face

    return build_rig(crop_face(image, 0.15, 512).image)


@pytest.fixture(scope="module")
def photo_and_statue():
    """The astronaut photo and a grey-stone copy of it (a statue: no red lips, no white teeth)."""
    import cv2
    import skimage.data

    photo = skimage.data.astronaut()
    grey = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY).astype(np.float32)
    stone = np.clip(np.stack([grey * 0.95 + 20, grey * 0.9 + 15, grey * 0.8 + 10], -1), 0, 255).astype(np.uint8)
    return _rig(photo), _rig(stone)


def _gap_pixels(rig, opening: float) -> np.ndarray:
    """The colours drawn in the middle of the open mouth (between the lips, above the tongue)."""
    from sonic.cpu_renderer import render_frame

    frame = render_frame(rig, opening, 0.0, 0.0, np.array([0, 0, 0, 1], np.float32))
    m = rig.mouth
    top = m.split[5] + opening * m.upper_unit[5]
    bottom = m.split[5] + opening * m.lower_unit[5]
    y = int(round(top[1] + 0.35 * (bottom[1] - top[1])))
    x0, x1 = int(m.split[5, 0] - 0.2 * m.mouth_half_width), int(m.split[5, 0] + 0.2 * m.mouth_half_width)
    return frame[y - 1 : y + 2, x0:x1].reshape(-1, 3).astype(np.float32)


def test_mouth_colours_come_from_the_face(photo_and_statue):
    photo, stone = photo_and_statue

    def redness(rgb) -> float:
        rgb = np.asarray(rgb, np.float32)
        return float(rgb[..., 0].mean() - rgb[..., 1:].mean())

    # The photo's mouth is dark red; the statue's is dark stone, not the same red.
    assert redness(photo.mouth.colours.cavity) > 15
    assert abs(redness(stone.mouth.colours.cavity)) < 0.5 * redness(photo.mouth.colours.cavity)
    photo_gap, stone_gap = _gap_pixels(photo, 1.0), _gap_pixels(stone, 1.0)
    assert photo_gap.mean() < 110 and stone_gap.mean() < 110  # dark: a mouth, not skin
    assert redness(photo_gap) > redness(stone_gap) + 10
    teeth = np.asarray(stone.mouth.colours.teeth, np.float32)
    assert teeth.max() - teeth.min() < 15  # grey stone teeth, not tinted ones


def test_f_and_v_show_the_upper_teeth_on_the_lip(photo_and_statue):
    from sonic.cpu_renderer import render_frame
    from sonic.mouth import frame_sounds, mouth_track

    samples, rate, rows, n = piper("Five fine vans. Hello, I am Anna, and I see a tall tree.")
    track = mouth_track(n, samples, rate, rows)
    sounds = frame_sounds(rows, n)
    fv = [i for i, s in enumerate(sounds) if s in ("f", "v")]
    others = [i for i, s in enumerate(sounds) if s and s[0] in "aɪeɛ" and all(abs(i - j) > 3 for j in fv)]
    assert fv and others
    assert track.teeth_on_lip[fv].mean() > 0.5
    assert track.teeth_on_lip[others].mean() < 0.05 and track.teeth_on_lip[others].max() < 0.25
    # On the face: the middle of the lower lip turns tooth-coloured (lighter).
    photo, _ = photo_and_statue
    m = photo.mouth
    still = np.array([0, 0, 0, 1], np.float32)
    x, y = int(m.split[5, 0]), int(m.split[5, 1] + 0.008 * m.face_h)
    plain = render_frame(photo, 0.1, 0.1, 0.0, still)[y - 1 : y + 2, x - 5 : x + 6].astype(np.float32)
    tucked = render_frame(photo, 0.1, 0.1, 0.0, still, teeth_on_lip=1.0)[y - 1 : y + 2, x - 5 : x + 6].astype(np.float32)
    assert np.abs(tucked - np.asarray(m.colours.teeth)).mean() < 0.5 * np.abs(plain - np.asarray(m.colours.teeth)).mean()


def test_without_speech_recognition_a_recording_follows_its_loudness(tmp_path, caplog):
    """A broken speech-recognition setting costs only the mouth shapes, with a line in the log."""
    from factory.settings import Settings
    from tts.stage import STAGE

    ctx = StageContext(job_id="rec", params={}, files={"audio_upload": RECORDING}, values={}, workdir=tmp_path,
                       settings=Settings(data_dir=tmp_path / "data", whisper_model=str(tmp_path / "no-such-model")))
    with caplog.at_level("WARNING", logger="tts.stage"):
        speech = STAGE.run(ctx).values["speech"]
    assert speech["phonemes"] == [] and speech["seconds"] > 3.0
    assert "loudness" in caplog.text
