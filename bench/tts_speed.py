"""Speed of the speech engine: real-time factor for a ~30-second script.

    .venv/bin/python bench/tts_speed.py [--voice PATH.onnx] [--repeats 3]

Prints the model load time (once per process), then for each run the synthesis wall time,
the seconds of speech produced and the real-time factor (wall / speech; lower is faster).
"""

from __future__ import annotations

import argparse
import statistics
import time

# About 80 words with the kinds of things the normaliser rewrites: ~30 s at a normal pace.
SCRIPT = (
    "Welcome back to the channel. Today we look at the new Aurora kettle, which went on sale "
    "on March 5, 2024 for $49.99. It boils one litre of water in about 3 minutes, roughly 20% "
    "faster than last year's model. Dr. Smith, our reviewer, tested it for two weeks. "
    "She liked the quiet lid, the 1.7 litre size and the clear water window. "
    "She did not like the short cable. Overall, it is a solid choice for most kitchens. "
    "Thanks for watching, and see you next time."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voice", default="", help="Piper .onnx voice (default: the bundled voice)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from tts.engine import load_engine

    started = time.perf_counter()
    engine = load_engine(args.voice)
    load_seconds = time.perf_counter() - started
    print(f"engine {engine.name} ({engine.version})")
    print(f"load (once per process, includes the in-memory alignment patch): {load_seconds:.2f} s")

    rtfs = []
    for run in range(1, args.repeats + 1):
        started = time.perf_counter()
        speech = engine.synthesize(SCRIPT)
        wall = time.perf_counter() - started
        rtfs.append(wall / speech.seconds)
        print(
            f"run {run}: {speech.seconds:.1f} s of speech in {wall:.2f} s wall -> real-time factor "
            f"{wall / speech.seconds:.3f}; {len(speech.phonemes)} phonemes, {len(speech.words)} words"
        )
    print(f"median real-time factor: {statistics.median(rtfs):.3f} (best {min(rtfs):.3f})")


if __name__ == "__main__":
    main()
