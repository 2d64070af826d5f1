"""Head motion from the speech: how well the nods follow the loud syllables, how still the head
is in the pauses, and how much of the picture moves with it once pasted back.

    .venv/bin/python bench/bench_head_motion.py

Real inputs: Piper narrations (English) and a recorded person (tests/data), the astronaut
photo. Per clip: the correlation of the head's downward motion with the loudness in the spoken
frames (lag 0) and the lag where it peaks, the mean pose (degrees + pixels) in pauses and in
speech, and for the deepest nod the share of the pasted frame that changes by more than 4 grey
levels, with only the crop's head moving ("boxed") and with hair and shoulders following
("body"), plus the time of one head-following paste.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TEXTS = [
    "Hello there. My name is Eileen, and today I will tell you about the weather. Thank you, everyone!",
    "Good morning, and welcome to the mission briefing. Today we look at the launch window, "
    "and the last checks before the crew climbs aboard.",
    "First, use a honing steel before every meal. Second, sharpen on a whetstone once a month. "
    "Third, never put good knives in the dishwasher.",
]
RECORDING = Path(__file__).resolve().parents[1] / "tests" / "data" / "thank_you_for_watching.m4a"


def main() -> None:
    import numpy as np
    import skimage.data
    from scipy.ndimage import gaussian_filter1d

    from factory.media import decode_audio, frame_count
    from sonic.cpu_renderer import build_rig, plan_performance, render_frames, speech_prosody
    from sonic.crop import PasteBack, crop_face
    from sonic.params import RenderParams
    from tts.engine import load_engine

    photo = skimage.data.astronaut()
    crop = crop_face(photo)
    rig = build_rig(crop.image)
    paste = PasteBack(photo, crop.transform)
    engine = load_engine()
    clips = []
    for i, text in enumerate(TEXTS):
        speech = engine.synthesize(text)
        rows = [[p.phoneme, p.start, p.end] for p in speech.phonemes]
        clips.append((f"piper {i + 1}", speech.samples, speech.sample_rate, rows))
    samples, rate = decode_audio(RECORDING)
    clips.append(("recording", samples, rate, None))

    print(f"{'clip':<11} {'frames':>6} {'corr':>5} {'lag':>4} {'pause':>6} {'speech':>6} {'boxed %':>8} {'body %':>7} {'paste ms':>8}")
    for name, samples, rate, rows in clips:
        n = frame_count(len(samples) / rate)
        performance = plan_performance(rig, n, RenderParams(seed=5), samples, rate, rows)
        loud, gate = speech_prosody(performance.mouth)
        head = performance.head
        spoken = gate > 0
        smooth = gaussian_filter1d(loud.astype(np.float64), 1.0)
        corr = [np.corrcoef(np.roll(head[:, 2], k)[spoken], smooth[spoken])[0, 1] for k in range(-4, 5)]
        size = np.abs(head[:, :3]).sum(1)
        nod = int(np.argmax(head[:, 2]))
        rest = list(render_frames(rig, performance, move_head=False))[nod]
        moving = list(render_frames(rig, performance))[nod]
        start = time.perf_counter()
        body = paste(rest, head[nod], rig.head.pivot)
        paste_ms = (time.perf_counter() - start) * 1000
        boxed = paste(moving)

        def share(frame) -> float:
            return float((np.abs(frame.astype(np.float32) - photo).mean(2) > 4).mean() * 100)

        print(f"{name:<11} {n:>6} {corr[4]:>5.2f} {int(np.argmax(corr)) - 4:>4} {size[~spoken].mean():>6.2f} "
              f"{size[spoken].mean():>6.2f} {share(boxed):>8.1f} {share(body):>7.1f} {paste_ms:>8.1f}")


if __name__ == "__main__":
    main()
