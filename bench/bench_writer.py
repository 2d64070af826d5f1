"""Seconds to a 60-second narration with the offline default model, and tokens per second.

    .venv/bin/python bench/bench_writer.py [--runs 3] [--model local/smollm2-135m] [--language en]

Prints one line per run and a summary. The first run includes loading the model (about a
second); litellm's import (~4 s) is measured separately and not counted.
"""

from __future__ import annotations

import argparse
import statistics
import time

POLICY = (
    "The city council approved the Green Roofs Programme on 4 June 2025. From 1 January 2026, every new "
    "commercial building with a flat roof larger than 500 square metres must cover at least 40% of the "
    "roof with plants or solar panels. Owners of existing buildings can apply for a grant of up to "
    "20,000 euros per building to retrofit their roofs. The programme has a total budget of 3 million "
    "euros for 2026 and 2027. Applications are handled by the Department of Urban Planning, which will "
    "publish the application form on its website in November 2025. Buildings that do not comply face "
    "a fine of 50 euros per square metre of missing green roof. The council expects the programme to "
    "lower summer roof temperatures and to reduce storm-water run-off."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", default="local/smollm2-135m")
    parser.add_argument("--language", default="en", choices=["en", "zh"])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()

    t0 = time.perf_counter()
    from factory.settings import Settings
    from prompts.request import NarrationRequest
    from prompts.writer import _litellm, write_narration

    _litellm()
    print(f"import litellm + register local model: {time.perf_counter() - t0:.1f} s")

    settings = Settings(llm_model=args.model)
    request = NarrationRequest(use_case="policy", language=args.language, target_seconds=args.seconds,
                               source=POLICY)
    totals, rates = [], []
    for run in range(1, args.runs + 1):
        start = time.perf_counter()
        n = write_narration(request, settings)
        elapsed = time.perf_counter() - start
        tokens = n.prompt_tokens + n.completion_tokens
        totals.append(elapsed)
        rates.append(n.completion_tokens / elapsed)
        print(f"run {run}: {elapsed:.1f} s, {n.attempts} call(s), prompt {n.prompt_tokens} + completion "
              f"{n.completion_tokens} tokens ({tokens / elapsed:.0f} tok/s overall, "
              f"{n.completion_tokens / elapsed:.0f} generated tok/s), estimated {n.estimated_seconds:.0f} s "
              f"of speech, fallback={n.plain_text_fallback}, cut={n.cut_to_length}, "
              f"grounding issues={len(n.grounding_issues)}")
    print(f"median seconds to a {args.seconds:g}-second narration: {statistics.median(totals):.1f} s; "
          f"median generated tokens/s: {statistics.median(rates):.0f}")
    print(f"last narration ({n.estimated_seconds:.0f} s): {n.narration}")


if __name__ == "__main__":
    main()
