"""The optional SyncNet adapter (qa/syncnet.py): MFCCs, checkpoint loading, LSE-D / LSE-C.

No SyncNet weights ship with any package, so the network runs at its full, official size with
random weights, saved with ``torch.save`` in the layout of ``syncnet_v2.model``. Random weights
make the scores meaningless, so what is checked is what a user relies on: the checkpoint loads
strictly (and a wrong one is refused by name), every number comes out finite and shaped as
documented, the offset search finds a known shift, and the QA report carries the numbers
without letting them decide pass or fail. The MFCCs are checked against values computed with
python_speech_features 0.6, the library the weights were trained with.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from factory.media import FPS, decode_audio, frame_energy, write_wav
from qa import synthetic_clips as sc

SCRIPT = "Mouth and voice must move together. Every video is checked."


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """Full-size SyncNet v2 with random weights, saved as a plain state dict like the official file."""
    import torch

    from qa.syncnet import build_syncnet

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("syncnet") / "syncnet_v2.model"
    torch.save(build_syncnet().state_dict(), path)
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """About 3 s of a real face whose mouth moves with real Piper speech."""
    return sc.in_sync_clip(tmp_path_factory.mktemp("syncnet-clip") / "in_sync.mp4", SCRIPT)


@pytest.fixture(scope="module")
def scores(clip, checkpoint):
    from qa.syncnet import syncnet_scores

    return syncnet_scores(clip, checkpoint)


# --- audio features ---------------------------------------------------------------------------


def test_mfcc_matches_python_speech_features():
    """Two tones rising in loudness; expected rows computed once with python_speech_features 0.6
    (``mfcc(int16 samples, 16000)``), the features SyncNet's audio network was trained on."""
    from qa.syncnet import mfcc

    t = np.arange(8000) / 16000
    x = np.linspace(0.05, 0.6, t.size) * (np.sin(2 * np.pi * 440 * t) + 0.5 * np.sin(2 * np.pi * 1200 * t)) / 1.5
    pcm = np.round(x * 32767).astype(np.int16)
    features = mfcc(pcm / 32768.0, 16000)
    expected = {
        0: [16.595, 13.104, -13.9439, -19.4268, -5.6649, -3.0628, -25.1435, -45.8496, -28.5655, 17.9212, 48.6463, 34.7326, -1.2065],
        10: [18.5973, 14.0908, -13.3425, -19.3059, -5.2766, -1.81, -23.4943, -44.6125, -28.1377, 17.9588, 49.1381, 35.9774, 0.2859],
        40: [20.7263, 14.1078, -13.348, -19.3416, -5.3082, -1.8333, -23.4592, -44.6392, -28.1171, 17.9237, 49.185, 35.9946, 0.3301],
    }
    assert features.shape == (49, 13)
    for row, values in expected.items():
        np.testing.assert_allclose(features[row], values, atol=1e-3)


def test_mfcc_of_piper_speech_runs_at_100_frames_per_second_in_step_with_the_video(tmp_path):
    from tts.engine import load_engine

    speech = load_engine("").synthesize(SCRIPT)
    wav = write_wav(tmp_path / "speech.wav", speech.samples, speech.sample_rate)
    samples, rate = decode_audio(wav, 16000)
    assert rate == 16000

    from qa.syncnet import MFCC_PER_VIDEO_FRAME, mfcc

    features = mfcc(samples, rate)
    assert features.shape == (1 + math.ceil((samples.size - 400) / 160), 13)
    assert abs(features.shape[0] / (samples.size / rate) - 100) < 1  # 100 per second
    assert np.isfinite(features).all()

    # Coefficient 0 is the log power of each 10 ms frame. Over the 4 MFCC frames of each video
    # frame it must follow that frame's loudness, best with no shift: a misaligned window would
    # feed SyncNet the sound of the wrong frames.
    # whole video frames covered by both (the last MFCC window may end a few samples short)
    frames = min(samples.size // (rate // FPS), features.shape[0] // MFCC_PER_VIDEO_FRAME)
    loudness = frame_energy(samples, rate, frames)  # dB, floored at -60
    power_db = 10 * np.log10(np.e) * features[: frames * MFCC_PER_VIDEO_FRAME, 0]
    power_db = np.maximum(power_db, power_db.max() - 50).reshape(frames, MFCC_PER_VIDEO_FRAME).mean(axis=1)

    def correlation(lag: int) -> float:
        a, b = (power_db[lag:], loudness[: frames - lag]) if lag >= 0 else (power_db[:lag], loudness[-lag:])
        return float(np.corrcoef(a, b)[0, 1])

    by_lag = {lag: correlation(lag) for lag in (-2, -1, 0, 1, 2)}
    assert max(by_lag, key=by_lag.get) == 0, by_lag
    assert by_lag[0] > 0.85


# --- the network and the distances ------------------------------------------------------------


def test_lip_embeddings_over_a_sequence_equal_the_original_per_window_stacking():
    import torch

    from qa.syncnet import build_syncnet, lip_embeddings

    torch.manual_seed(1)
    net = build_syncnet()
    frames = torch.rand(3, 7, 224, 224) * 255
    with torch.inference_mode():
        sequence = lip_embeddings(net, frames)
        windows = torch.stack([frames[:, i : i + 5] for i in range(3)])  # (3 windows, 3, 5, 224, 224)
        per_window = net.netfclip(net.netcnnlip(windows).flatten(1))
    assert sequence.shape == (3, 1024)
    torch.testing.assert_close(sequence, per_window, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("late", [-6, 0, 4, 11])
def test_distances_find_a_known_audio_offset(late):
    """Audio embeddings equal to the picture's, ``late`` windows later: the offset is ``late``
    in our convention (positive: audio late), the negative in syncnet_python's."""
    from qa.syncnet import scores_from_distances, sync_distances

    rng = np.random.default_rng(late + 100)
    lip = rng.normal(size=(60, 1024)).astype(np.float32)
    audio = np.roll(lip, late, axis=0) + rng.normal(scale=0.1, size=lip.shape).astype(np.float32)
    result = scores_from_distances(sync_distances(lip, audio, 15), 15)
    assert result["offset"] == late
    assert result["syncnet_python_offset"] == -late

    unrelated = scores_from_distances(sync_distances(lip, rng.normal(size=lip.shape).astype(np.float32), 15), 15)
    assert result["lse_c"] > 5 * max(unrelated["lse_c"], 1e-3)
    assert result["lse_d"] < unrelated["lse_d"]


# --- checkpoints ------------------------------------------------------------------------------


def test_checkpoint_loads_strictly_with_every_weight(checkpoint):
    import torch

    from qa.syncnet import load_syncnet

    saved = torch.load(checkpoint, weights_only=True)
    loaded = load_syncnet(checkpoint).state_dict()
    assert set(saved) == set(loaded)
    assert any(k.startswith("netcnnaud.") for k in saved) and any(k.startswith("netfclip.") for k in saved)
    for key, value in saved.items():
        assert torch.equal(loaded[key], value), key


def test_checkpoint_without_batch_counters_still_loads(checkpoint, tmp_path):
    """Checkpoints older than PyTorch 0.4.1 have no num_batches_tracked; evaluation never needs them."""
    import torch

    from qa.syncnet import load_syncnet

    state = {k: v for k, v in torch.load(checkpoint, weights_only=True).items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "old.model"
    torch.save(state, path)
    assert torch.equal(load_syncnet(path).state_dict()["netfcaud.3.weight"], state["netfcaud.3.weight"])


def test_wrong_checkpoints_are_refused_by_name(checkpoint, tmp_path):
    import torch

    from qa.syncnet import SyncNetWeightsError, load_syncnet

    state = torch.load(checkpoint, weights_only=True)
    renamed = dict(state)
    renamed["netcnnlip.0.weights"] = renamed.pop("netcnnlip.0.weight")
    torch.save(renamed, tmp_path / "renamed.model")
    with pytest.raises(SyncNetWeightsError) as refused:
        load_syncnet(tmp_path / "renamed.model")
    assert "missing keys: netcnnlip.0.weight" in str(refused.value)
    assert "unexpected keys: netcnnlip.0.weights" in str(refused.value)

    reshaped = dict(state)
    reshaped["netcnnaud.0.weight"] = torch.zeros(64, 1, 5, 5)
    torch.save(reshaped, tmp_path / "reshaped.model")
    with pytest.raises(SyncNetWeightsError, match=r"netcnnaud\.0\.weight \(64, 1, 5, 5\) \(expected \(64, 1, 3, 3\)\)"):
        load_syncnet(tmp_path / "reshaped.model")

    with pytest.raises(SyncNetWeightsError, match="does not exist"):
        load_syncnet(tmp_path / "nowhere.model")
    (tmp_path / "text.model").write_text("not a checkpoint")
    with pytest.raises(SyncNetWeightsError, match="not a PyTorch state dict"):
        load_syncnet(tmp_path / "text.model")


# --- a whole video ----------------------------------------------------------------------------


def test_scores_of_a_real_clip_are_finite_and_complete(clip, scores):
    from factory.media import probe_video

    from factory.media import decode_audio

    samples, _ = decode_audio(clip, 16000)
    frames = min(probe_video(clip).frames, samples.size // 640)  # AAC may end a frame early
    assert set(scores) >= {"lse_d", "lse_c", "offset", "syncnet_python_offset", "windows", "distances", "seconds", "model"}
    assert scores["windows"] == frames - 5  # as the original: the shorter of picture and sound, minus 5
    assert len(scores["distances"]) == 2 * 15 + 1
    assert math.isfinite(scores["lse_d"]) and scores["lse_d"] > 0
    assert math.isfinite(scores["lse_c"]) and scores["lse_c"] >= 0
    assert scores["lse_d"] == pytest.approx(min(scores["distances"]), abs=1e-3)
    assert -15 <= scores["offset"] <= 15 and scores["syncnet_python_offset"] == -scores["offset"]
    assert scores["model"] == "syncnet_v2.model"


def test_face_crop_centres_the_face_with_the_mouth_inside(clip):
    """The crop SyncNet sees: the whole 224×224 frame is face, from the brow to below the chin."""
    from factory.faces import FaceMesh, LOWER_LIP_INNER, UPPER_LIP_INNER
    from factory.media import read_video_frames
    from qa.syncnet import CROP_SIZE, crop_face, face_track

    track = face_track(clip)
    first = next(iter(read_video_frames(clip)))
    crop = crop_face(first, *track[0])
    assert crop.shape == (CROP_SIZE, CROP_SIZE, 3) and crop.dtype == np.uint8
    with FaceMesh() as mesh:
        points = mesh.landmarks(np.ascontiguousarray(crop[:, :, ::-1]))  # BGR back to RGB
    assert points is not None
    mouth_y = (points[UPPER_LIP_INNER, 1] + points[LOWER_LIP_INNER, 1]) / 2
    assert 0.5 * CROP_SIZE < mouth_y < 0.8 * CROP_SIZE  # lower half, not cut off
    assert 0.4 * CROP_SIZE < points[:, 0].mean() < 0.6 * CROP_SIZE  # centred left to right


def test_qa_report_carries_syncnet_numbers_only_when_enabled(clip, checkpoint, scores, tmp_path):
    from factory.settings import Settings
    from qa.report import check_video

    settings = Settings.load(data_dir=tmp_path / "data")
    plain = check_video(clip, settings=settings, transcribe=False)
    assert plain.syncnet is None and "lse_d" not in plain.summary().numbers

    # the QA report runs SyncNet only when this setting names weights
    settings.syncnet_model = str(checkpoint)
    report = check_video(clip, settings=settings, transcribe=False)
    assert report.syncnet["lse_d"] == pytest.approx(scores["lse_d"], rel=1e-5)
    assert report.syncnet["lse_c"] == pytest.approx(scores["lse_c"], abs=1e-4)
    numbers = report.summary().numbers
    assert numbers["lse_d"] == report.syncnet["lse_d"] and numbers["lse_c"] == report.syncnet["lse_c"]
    assert numbers["syncnet_offset_frames"] == report.syncnet["offset"]
    assert report.to_dict()["syncnet"]["distances"] == report.syncnet["distances"]
    assert "syncnet" in report.timings
    # Informational only: the verdict is the same as without SyncNet.
    assert (report.passed, report.reasons) == (plain.passed, plain.reasons)


def test_qa_report_notes_a_video_syncnet_cannot_score_and_stops_on_bad_weights(checkpoint, tmp_path):
    from factory.settings import Settings
    from qa.report import check_video
    from qa.syncnet import SyncNetWeightsError

    samples, rate = sc.piper_speech("No face here.")
    hidden = sc.write_clip(
        tmp_path / "no_face.mp4",
        (samples, rate),
        sc.openings_from_audio(samples, rate),
        frame_filter=lambda index, rgb: np.full_like(rgb, 90),
    )
    settings = Settings.load(data_dir=tmp_path / "data")
    settings.syncnet_model = str(checkpoint)
    report = check_video(hidden, settings=settings, transcribe=False)
    assert "No face was found" in report.syncnet["error"]
    assert "lse_d" not in report.summary().numbers

    settings.syncnet_model = str(tmp_path / "missing.model")
    with pytest.raises(SyncNetWeightsError, match="syncnet_model"):
        check_video(hidden, settings=settings, transcribe=False)
