"""Length control: seconds <-> words (English) or characters (Chinese).

The speaking rates are data (``prompts/speaking_rates.toml``); a rate measured by the TTS
engine for the chosen voice can replace them (pass ``rate``).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from factory.text import CJK_CHAR, count_units, split_sentences  # noqa: F401  (part of this module's API)

RATES_FILE = Path(__file__).parent / "speaking_rates.toml"

_CLAUSE_END = re.compile(r"(?<=[,;:，；：、])\s*")


@dataclass(frozen=True)
class SpeakingRate:
    language: str
    unit: str
    """What is counted: "words" (English) or "字" (Chinese characters)."""
    per_second: float


@lru_cache(maxsize=None)
def _rates() -> dict[str, SpeakingRate]:
    with open(RATES_FILE, "rb") as f:
        data = tomllib.load(f)
    return {lang: SpeakingRate(lang, v["unit"], float(v["per_second"])) for lang, v in data.items()}


def speaking_rate(language: str, measured_per_second: float | None = None) -> SpeakingRate:
    """The default rate for ``language``, or the TTS engine's measured one when given."""
    base = _rates()[language]
    if measured_per_second and measured_per_second > 0:
        return SpeakingRate(language, base.unit, float(measured_per_second))
    return base


def budget_units(target_seconds: float, rate: SpeakingRate) -> int:
    return max(1, int(target_seconds * rate.per_second))


def estimate_seconds(text: str, rate: SpeakingRate) -> float:
    return round(count_units(text, rate.language) / rate.per_second, 1)


def join_sentences(sentences: list[str], language: str) -> str:
    return ("" if language == "zh" else " ").join(sentences)


def cut_to_budget(text: str, language: str, budget: int) -> str:
    """Keep whole sentences while they fit in ``budget`` units.

    If not even the first sentence fits, cut that sentence at its last clause boundary (comma)
    that fits, or at the budget itself, and close it with a full stop: never return nothing.
    """
    if count_units(text, language) <= budget:
        return text
    kept: list[str] = []
    used = 0
    for sentence in split_sentences(text):
        n = count_units(sentence, language)
        if used + n > budget:
            break
        kept.append(sentence)
        used += n
    if kept:
        return join_sentences(kept, language)
    return _cut_inside_sentence(split_sentences(text)[0], language, budget)


def _cut_inside_sentence(sentence: str, language: str, budget: int) -> str:
    clauses = [c for c in _CLAUSE_END.split(sentence) if c]
    out = ""
    for clause in clauses:
        candidate = out + ("" if language == "zh" or not out else " ") + clause
        if count_units(candidate, language) > budget:
            break
        out = candidate
    if not out:  # one long clause: cut at the unit budget
        if language == "zh":
            out = _take_zh_units(sentence, budget)
        else:
            out = " ".join(sentence.split()[:budget])
    out = out.rstrip(" ,;:，；：、")
    return out + ("。" if language == "zh" else ".")


def _take_zh_units(text: str, budget: int) -> str:
    taken = 0
    for i, ch in enumerate(text):
        if CJK_CHAR.match(ch) or ch.isdigit():
            taken += 1
        if taken > budget:
            return text[:i]
    return text


def drop_unfinished_sentence(text: str) -> str:
    """Remove a last sentence the model did not finish (it ran out of tokens), when there is
    at least one finished sentence before it."""
    stripped = text.rstrip()
    if re.search(r"[.!?。！？…][\"'”’)）」』]*$", stripped):
        return stripped
    sentences = split_sentences(stripped)
    if len(sentences) < 2:
        return stripped
    end = stripped.rfind(sentences[-1])
    return stripped[:end].rstrip()
