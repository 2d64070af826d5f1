"""Plain-text helpers that several stages share: sentences and length units.

The writer (prompts/) cuts narrations at sentence boundaries and budgets them in words or
characters; the speaker (tts/) speaks sentence by sentence; both must agree on what a sentence
is, so the rules live here once.
"""

from __future__ import annotations

import re

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
CJK_CHAR = re.compile(f"[{_CJK}]")
"""One Chinese (CJK unified) character."""
_EN_WORD = re.compile(r"[A-Za-z0-9\u00c0-\u024f][A-Za-z0-9\u00c0-\u024f'’.,%$€£¥-]*")
_ZH_OTHER = re.compile(r"[0-9]|[A-Za-z]+")  # a digit or a Latin word counts as about one character

# Words whose period does not end a sentence.
_NO_SPLIT_AFTER = {"mr", "mrs", "ms", "dr", "prof", "st", "mt", "vs", "e.g", "i.e", "no", "jr", "sr", "etc", "inc", "ltd", "u.s"}


def is_chinese(text: str) -> bool:
    return bool(CJK_CHAR.search(text))


def count_units(text: str, language: str) -> int:
    """Length in the unit speaking rates use: words for English, characters for Chinese."""
    if language == "zh":
        return len(CJK_CHAR.findall(text)) + len(_ZH_OTHER.findall(text))
    return len(_EN_WORD.findall(text))


def split_sentences(text: str, language: str | None = None) -> list[str]:
    """Sentences of ``text``; blank lines always separate. English ends at . ! ? except after
    abbreviations and initials ("Dr.", "J. K."); Chinese at 。！？ (closing quotes kept).
    ``language=None`` picks Chinese rules when the text has Chinese characters."""
    if language is None:
        language = "zh" if is_chinese(text) else "en"
    language = language.lower()[:2]
    sentences: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = re.sub(r"\s+", " ", paragraph).strip()
        if paragraph:
            sentences.extend(_split_zh(paragraph) if language == "zh" else _split_en(paragraph))
    return [s for s in sentences if s]


def _split_zh(paragraph: str) -> list[str]:
    parts = re.split(r"(?<=[。！？!?；])(?![”」』）)\"'])|(?<=[。！？!?][”」』）)\"'])", paragraph)
    return [p.strip() for p in parts if p.strip()]


def _split_en(paragraph: str) -> list[str]:
    sentences = []
    start = 0
    for m in re.finditer(r"[.!?]+[\"')\]”’]*(?=\s+|$)", paragraph):
        before = paragraph[start : m.start()].split(" ")[-1].lower()
        rest = paragraph[m.end() :].lstrip()
        if m.group(0).startswith(".") and (
            before.rstrip(".") in _NO_SPLIT_AFTER
            or re.fullmatch(r"[a-z]", before)  # an initial: "J. K. Rowling"
            or (rest and rest[0].islower())
        ):
            continue
        sentences.append(paragraph[start : m.end()].strip())
        start = m.end()
    sentences.append(paragraph[start:].strip())
    return [s for s in sentences if s]
