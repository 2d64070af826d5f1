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


def language_code(language: str | None) -> str:
    """The language family of a code or locale: "en-US", "EN", "zh_CN", None -> "en", "en", "zh", "en"."""
    return (language or "en").strip().lower().replace("_", "-").split("-")[0] or "en"


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
    language = language_code(language)
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


# --- Chinese numerals ----------------------------------------------------------------------

ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
ZH_UNITS = {"十": 10, "百": 100, "千": 1000}
ZH_BIG_UNITS = {"万": 10_000, "亿": 100_000_000}
ZH_NUMERAL_RUN = re.compile("[零〇一二两三四五六七八九十百千万亿]+")


def chinese_number(text: str) -> int | None:
    """"三千五百" → 3500, "十二" → 12, "一亿三千万" → 130000000; a run of bare digits is read
    digit by digit, as years and codes are: "二〇二五" → 2025. None if it is not a numeral."""
    if not text:
        return None
    if len(text) > 1 and all(ch in ZH_DIGITS for ch in text):
        return int("".join(str(ZH_DIGITS[ch]) for ch in text))
    total, section, digit = 0, 0, None
    for ch in text:
        if ch in ZH_DIGITS:
            digit = ZH_DIGITS[ch]
        elif ch in ZH_UNITS:
            section += (digit if digit is not None else 1) * ZH_UNITS[ch]
            digit = None
        elif ch in ZH_BIG_UNITS:
            section += digit or 0
            total += max(section, 1) * ZH_BIG_UNITS[ch]
            section, digit = 0, None
        else:
            return None
    return total + section + (digit or 0)
