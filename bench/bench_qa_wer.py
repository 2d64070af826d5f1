"""How often the transcript check fails a good narration (prints numbers; not a test).

    .venv/bin/python bench/bench_qa_wer.py [--renditions 4] [--sentences 24] [--workdir /tmp/qa-wer] [--symbols]

Piper draws new noise on every call, so the same script sounds slightly different each time, and
Whisper base hears a few phrases differently from one rendition to the next ("mouth and voice"
became "mouth invoice" in most renditions and "moth invoice" in one, which failed CI). This
measures the false-fail rate of the gate's WER limit on narrations that are right by construction:
each calibration sentence (``bench_qa_calibrate.SENTENCES``) is spoken ``--renditions`` times by
the speak stage's engine, muxed as AAC into an MP4 as the render stage does, then transcribed and
scored exactly as ``check_video`` does (``qa.asr.transcribe``, ``qa.text_metrics.error_rate``).
``--reuse`` scores the narrations of an earlier run again, to compare two versions of the check.
``--symbols`` uses ``SYMBOL_SENTENCES`` instead: scripts full of signs, addresses and markup
($, /, %, &, =, URLs, e-mail addresses, hashtags, tags), which the voice reads in words and
the check must expect in the same words.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_qa_calibrate import SENTENCES  # noqa: E402  (bench/, the script's own folder)

SYMBOL_SENTENCES = [
    "Plans start at $9/month, and the yearly plan saves 20%.",
    "Visit example.com/pricing to compare every plan.",
    "Questions? Write to help@example.com and we answer within a day.",
    "Our Q&A session starts at 5 pm on Friday.",
    "In this lesson, x = 5 and y = 10, so x + y = 15.",
    'Take a deep breath. <break time="2s"/> Now breathe out slowly.',
    "Share your photos with #SmallBusiness and #ShopLocal.",
    "Rock & roll never dies, and neither does good coffee.",
    "The jacket costs $129.99, down from $180.",
    "Support is open 24/7, by phone or by chat.",
    "Mix flour and/or oat bran with 2 cups of water.",
    "Read the full guide at www.example.org/guides/budget today.",
    "Our A/B test showed a 12% lift in sign-ups.",
    "The new model is 30% lighter & 2x faster.",
    "Call 1-800-555-0199 to book your table.",
    "Shipping is free on orders over $50, or $5 otherwise.",
    "Follow @examplecafe for daily specials.",
    "Learn C++ in ten short lessons.",
    "Prices start at €15 per person, with children under 5 free.",
    "Each room is 20 m² with a view of the park.",
    "Our rating: 4.8/5 from more than 2,000 reviews.",
    "The sale ends on 12/31, so hurry.",
    "Use code SAVE10 at checkout & get 10% off.",
    "Temperatures will reach 25°C by noon.",
]


def narration_mp4(path: Path, samples: np.ndarray, rate: int) -> Path:
    """The narration as the AAC track of a small grey MP4: the check reads the sound from there."""
    from factory.media import VideoWriter, frame_count, write_wav

    wav = write_wav(path.with_suffix(".wav"), samples, rate)
    frame = np.full((64, 64, 3), 128, np.uint8)
    with VideoWriter(path, 64, 64, audio=wav) as video:
        for _ in range(frame_count(samples.size / rate)):
            video.write(frame)
    return path


def print_summary(rates: list[float], limit: float, misheard: collections.Counter[str], name: str) -> None:
    """Mean, 95th percentile, how many good narrations the gate's limit would hold, and the
    differences heard most often."""
    all_rates = np.array(rates)
    print(f"\nrenditions {all_rates.size}: mean {name} {all_rates.mean():.1%}, 95th percentile "
          f"{np.percentile(all_rates, 95):.1%}, max {all_rates.max():.1%}")
    print(f"over the {limit:.0%} limit (a good narration held): {(all_rates > limit).sum()} of {all_rates.size}")
    print(f"without an error: {(all_rates == 0).sum()} of {all_rates.size}")
    print("most frequent differences:")
    for difference, count in misheard.most_common(10):
        print(f"  {count:3d}  {difference}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--renditions", type=int, default=4, help="times each sentence is spoken")
    parser.add_argument("--sentences", type=int, default=len(SENTENCES))
    parser.add_argument("--workdir", default="/tmp/qa-wer")
    parser.add_argument("--symbols", action="store_true", help="speak SYMBOL_SENTENCES (signs, addresses, markup)")
    parser.add_argument("--reuse", action="store_true",
                        help="score the narrations already in --workdir again (compare two versions of the check on the same audio)")
    args = parser.parse_args()

    from factory.settings import Settings
    from qa.asr import transcribe
    from qa.gate import QAThresholds
    from qa.text_metrics import error_rate
    from tts.engine import load_engine

    work = Path(args.workdir) / ("symbols" if args.symbols else "")
    work.mkdir(parents=True, exist_ok=True)
    settings = Settings.load(data_dir=work / "data")
    limit = QAThresholds.from_settings(settings).max_wer
    engine = load_engine("")
    sentences = (SYMBOL_SENTENCES if args.symbols else SENTENCES)[: args.sentences]
    rates: list[float] = []
    misheard: collections.Counter[str] = collections.Counter()
    start = time.perf_counter()
    print(f"{len(sentences)} sentences x {args.renditions} renditions, WER limit {limit:.0%}", flush=True)
    for i, text in enumerate(sentences):
        sentence_rates = []
        for k in range(args.renditions):
            video = work / f"s{i:02d}_{k}.mp4"
            if not (args.reuse and video.exists()):
                speech = engine.synthesize(text)
                narration_mp4(video, speech.samples, speech.sample_rate)
            # English, as the check stage passes the job's language to both
            rate = error_rate(text, transcribe(video, language="en", settings=settings).text, "en")
            sentence_rates.append(rate.rate)
            misheard.update(rate.differences())
        rates += sentence_rates
        print(f"  {i:2d}  mean {np.mean(sentence_rates):6.1%}  max {max(sentence_rates):6.1%}  {text[:60]}", flush=True)

    print_summary(rates, limit, misheard, "WER")
    print(f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
