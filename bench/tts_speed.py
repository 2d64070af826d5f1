"""Speed of the speech engines: real-time factor and time to first audio for a ~30-second script.

    .venv/bin/python bench/tts_speed.py [--language en|zh|all] [--voice NAME_OR_PATH] [--repeats 3]

For each language (default: English with the bundled Piper voice, then Chinese with the bundled
Mandarin voice) prints the model load time (once per process), the time to first audio (text
normalised and the first sentence spoken: what a streaming player would wait for), then for
each run the synthesis wall time, the seconds of speech produced and the real-time factor
(wall / speech; lower is faster). The process's CPU seconds are printed beside the wall time:
on a shared machine the wall time grows with the load, the CPU time much less (with 2 threads
it can exceed the wall time on an idle machine).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

# About 80 words with the kinds of things the normaliser rewrites: ~30 s at a normal pace.
SCRIPT_EN = (
    "Welcome back to the channel. Today we look at the new Aurora kettle, which went on sale "
    "on March 5, 2024 for $49.99. It boils one litre of water in about 3 minutes, roughly 20% "
    "faster than last year's model. Dr. Smith, our reviewer, tested it for two weeks. "
    "She liked the quiet lid, the 1.7 litre size and the clear water window. "
    "She did not like the short cable. Overall, it is a solid choice for most kitchens. "
    "Thanks for watching, and see you next time."
)
# A policy explainer of about 130 characters with dates, percentages and money: ~30 s.
SCRIPT_ZH = (
    "大家好，今天为大家解读新出台的住房补贴政策。该政策从2026年3月5日起正式实施，"
    "面向在本市工作满两年的新就业人员。符合条件的家庭，每户每月最多可以领取1200元补贴，"
    "补贴期限为三年。申请人需要通过政务服务平台提交材料，审核时间一般不超过十五个工作日。"
    "与去年相比，补贴标准提高了15%，覆盖人数预计增加约3万人。如果有疑问，可以拨打服务热线咨询。"
)
SCRIPTS = {"en": SCRIPT_EN, "zh": SCRIPT_ZH}


def bench(language: str, voice: str, repeats: int, cache_dir: Path) -> None:
    from tts.engine import load_engine
    from tts.normalize import normalize, split_sentences

    script = SCRIPTS[language]
    started = time.perf_counter()
    engine = load_engine(voice, language, cache_dir=cache_dir)
    load_seconds = time.perf_counter() - started
    print(f"[{language}] engine {engine.name} ({engine.version})")
    print(f"[{language}] load (once per process): {load_seconds:.2f} s")

    started = time.perf_counter()
    first = split_sentences(normalize(script, language), language)[0]
    audio = engine.synthesize_sentence(first, language)
    first_audio = time.perf_counter() - started
    print(f"[{language}] time to first audio (cold, first sentence {len(audio.samples) / engine.sample_rate:.1f} s): "
          f"{first_audio:.2f} s")
    started = time.perf_counter()
    engine.synthesize_sentence(first, language)
    print(f"[{language}] time to first audio (warm): {time.perf_counter() - started:.2f} s")

    rtfs, cpu_rtfs = [], []
    for run in range(1, repeats + 1):
        started, cpu_started = time.perf_counter(), time.process_time()
        speech = engine.synthesize(script, language)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        rtfs.append(wall / speech.seconds)
        cpu_rtfs.append(cpu / speech.seconds)
        print(
            f"[{language}] run {run}: {speech.seconds:.1f} s of speech in {wall:.2f} s wall ({cpu:.2f} s CPU) -> "
            f"real-time factor {wall / speech.seconds:.3f}; {len(speech.phonemes)} phonemes, {len(speech.words)} words"
        )
    print(f"[{language}] median real-time factor: {statistics.median(rtfs):.3f} (best {min(rtfs):.3f}); "
          f"CPU seconds per second of speech: {statistics.median(cpu_rtfs):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--language", choices=("en", "zh", "all"), default="all")
    parser.add_argument("--voice", default="", help="a voice from `factory voices` or a Piper .onnx path "
                                                    "(default: the language's bundled voice)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    languages = ("en", "zh") if args.language == "all" else (args.language,)
    with tempfile.TemporaryDirectory() as cache:  # a fresh cache: the Mandarin model edit is timed too
        for language in languages:
            bench(language, args.voice, args.repeats, Path(cache))


if __name__ == "__main__":
    main()
