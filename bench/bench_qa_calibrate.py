"""Calibrate the lip-sync pass threshold on mismatched pairs (prints numbers; not a test).

    .venv/bin/python bench/bench_qa_calibrate.py [--workdir /tmp/qa-calibration]

Method:
1. Speak varied sentences with the bundled Piper voice (two speaking rates), render each with
   the warped-portrait clip maker (``qa.synthetic_clips``, mouth in sync by construction),
   encode to MP4 and measure the mouth series back from the MP4 with MediaPipe, as QA does.
2. Null distribution: the mouth of clip i against the speech energy of clip j (i ≠ j), at the
   full common length and in windows of 75, 125 and 250 frames (3, 5, 10 s). The statistic is
   z = confidence × sqrt(frames), which the 1/sqrt(frames) noise law makes length-free; the
   output shows per-length quantiles so that assumption can be checked.
3. Matched pairs (mouth and sound of the same clip) in the same windows show the margin.
The threshold is set above the largest mismatched z seen, with room to spare.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SENTENCES = [
    "Welcome back to the channel. Today we look at three ways to keep your kitchen knives sharp.",
    "Our new running shoe weighs only two hundred grams and still cushions every step.",
    "The museum opens at nine in the morning and closes at six in the evening, every day but Monday.",
    "If you water this plant once a week and keep it out of direct sun, it will live for years.",
    "Quarterly revenue grew by twelve percent, driven mostly by subscriptions in Europe.",
    "Please remember to bring your ticket, a photo identity card, and a bottle of water.",
    "The train to the airport leaves from platform four, every fifteen minutes.",
    "This recipe needs flour, butter, two eggs, a pinch of salt and a little patience.",
    "Scientists measured the glacier again this summer and found it had retreated another forty metres.",
    "Hello! I am your virtual assistant. Ask me anything about your order.",
    "Lightweight, waterproof and built to last: this jacket is ready for any weather.",
    "To reset the router, hold the small button on the back for ten seconds.",
    "Yesterday the city council approved a new bicycle lane along the river.",
    "Our support team answers every message within one working day.",
    "Stretch slowly, breathe in, hold it, and breathe out again.",
    "The festival brings together musicians from more than thirty countries.",
    "Good evening. Here is the weather: clouds in the north, sunshine in the south, and a cool breeze on the coast.",
    "Each lesson takes about twenty minutes, and you can pause whenever you like.",
    "Thank you for watching. Subscribe to get a new video every Friday.",
    "The battery lasts a full day, and charges to eighty percent in half an hour.",
    "In this short guide, you will learn how to plan a budget that actually works.",
    "Bright colours, soft fabric, and a price that will make you smile.",
    "Our hotel is five minutes from the beach, with free breakfast and parking.",
    "Never share your password with anyone, not even with someone who says they work for us.",
]


def _render_cpu(work: Path, i: int, samples: np.ndarray, rate: int) -> Path:
    """Render with the project's CPU renderer through its stage (astronaut photo, seed = clip)."""
    import shutil

    from skimage import data

    from factory.media import save_image, write_wav
    from factory.settings import Settings
    from factory.stages import StageContext
    from sonic.stage import STAGE

    photo = work / "astronaut.png"
    if not photo.exists():
        save_image(photo, data.astronaut())
    audio = write_wav(work / f"clip{i:02d}.wav", samples, rate)
    scratch = work / f"render{i:02d}"
    scratch.mkdir(exist_ok=True)
    ctx = StageContext(job_id=f"calib{i}", params={"seed": i, "min_resolution": 384}, files={"image": photo, "audio": audio},
                       values={}, workdir=scratch, settings=Settings.load(data_dir=work / "data"))
    video = work / f"clip{i:02d}.mp4"
    shutil.move(STAGE.run(ctx).files["video"], video)
    shutil.rmtree(scratch, ignore_errors=True)
    return video


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", default="/tmp/qa-calibration")
    parser.add_argument("--renderer", choices=["synthetic", "cpu"], default="synthetic",
                        help="synthetic: qa.synthetic_clips; cpu: the project's CPU renderer (sonic.stage)")
    args = parser.parse_args()

    from qa import synthetic_clips as sc
    from qa.frames import scan_video
    from qa.lipsync import score_series, speech_energy

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    # Clips: every sentence alone (slower voice) and disjoint groups of three (normal voice),
    # so lengths range from ~4 to ~20 s. Pairs that share a sentence are never compared:
    # the same words at nearly the same time would be genuinely in sync.
    plans = [((k,), 1.15) for k in range(len(SENTENCES))]
    plans += [(tuple(range(k, k + 3)), 1.0) for k in range(0, len(SENTENCES) - 2, 3)]
    mouths, energies = [], []
    t0 = time.perf_counter()
    for i, (sentence_ids, rate_scale) in enumerate(plans):
        text = " ".join(SENTENCES[k] for k in sentence_ids)
        samples, rate = sc.piper_speech(text, length_scale=rate_scale)
        if args.renderer == "cpu":
            video = _render_cpu(work, i, samples, rate)
        else:
            video = sc.write_clip(work / f"clip{i:02d}.mp4", (samples, rate), sc.openings_from_audio(samples, rate))
        scan = scan_video(video)
        mouths.append(scan.mouth)
        energies.append(speech_energy(video, scan.frames))
        print(f"clip {i:2d}: {scan.frames} frames, {np.isnan(scan.mouth).sum()} without face", flush=True)
    print(f"made and scanned {len(mouths)} clips in {time.perf_counter() - t0:.1f} s")
    np.savez(work / "series.npz", **{f"mouth{i}": m for i, m in enumerate(mouths)}, **{f"energy{i}": e for i, e in enumerate(energies)})

    rng = np.random.default_rng(0)
    null: dict[str, list[float]] = {}
    matched: dict[str, list[float]] = {}
    null_offsets_ok = []
    for i in range(len(mouths)):
        for j in range(len(mouths)):
            if i != j and set(plans[i][0]) & set(plans[j][0]):
                continue
            n = min(mouths[i].size, energies[j].size)
            windows = {"full": (0, n)}
            for w in (75, 125, 250):
                if n > w:
                    start = int(rng.integers(0, n - w))
                    windows[str(w)] = (start, start + w)
            for name, (a, b) in windows.items():
                res = score_series(mouths[i][a:b], energies[j][a:b])
                (matched if i == j else null).setdefault(name, []).append(res.z)
                if i == j:
                    null_offsets_ok.append(abs(res.offset) <= 1)

    print("\nz = confidence × sqrt(frames)")
    print(f"{'window':>8} {'pairs':>6} {'null p50':>9} {'p95':>6} {'p99':>6} {'max':>6} | {'matched min':>11} {'p05':>6}")
    for name in ("75", "125", "250", "full"):
        z = np.asarray(null.get(name, []))
        mz = np.asarray(matched.get(name, []))
        if not z.size:
            continue
        print(
            f"{name:>8} {z.size:>6} {np.median(z):9.2f} {np.quantile(z, 0.95):6.2f} {np.quantile(z, 0.99):6.2f} "
            f"{z.max():6.2f} | {mz.min():11.2f} {np.quantile(mz, 0.05):6.2f}"
        )
    all_null = np.concatenate([np.asarray(v) for v in null.values()])
    print(f"\nall mismatched windows: {all_null.size}, max z {all_null.max():.2f}, p99.9 {np.quantile(all_null, 0.999):.2f}")
    print(f"matched windows with |offset| <= 1: {np.mean(null_offsets_ok) * 100:.1f} %")


if __name__ == "__main__":
    main()
