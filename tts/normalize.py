"""Text normalisation: turn a script into words a voice reads the way a person would.

``normalize(text, language)`` dispatches per language:

* ``en`` — numbers, decimals, ordinals (1st, 22nd), years (1999 -> nineteen ninety-nine),
  dates (2024-03-05, March 5, 2024, 5 March 2024, and d/m/y only when unambiguous), currency
  ($ € £ ¥), percentages, times (3:30 pm), common abbreviations (Dr., Mr., e.g., etc., vs.),
  and symbols a voice must not spell out (markdown ``**``, ``#``, ...).
* ``zh`` — the seam for Chinese: Arabic numerals become Chinese numerals (years before 年 digit by
  digit, percentages as 百分之…, decimals with 点). Chinese text needs no other rewriting for a
  Chinese Piper voice; anything smarter (units, dates with 月/日 already read well) goes here.
* any other language — whitespace and symbol clean-up only; espeak reads digits itself.

``split_sentences(text, language)`` cuts normalised text into sentences the engine speaks one
at a time (English ``.!?`` with abbreviation and initial guards; Chinese ``。！？``).

Why rules and not a model: they are predictable, instant, and an editor can read what will be
said. (QA compares Whisper's transcript with the script as written, after its own number-aware
normalisation in ``qa/text_metrics.py``; the spoken text is kept in ``values["speech"]["text"]``.)
"""

from __future__ import annotations

import re

from factory.text import language_code
from factory.text import split_sentences as split_text_sentences
import unicodedata
from typing import Callable

from tts.numbers import (
    cardinal,
    decimal,
    ordinal,
    plural_year,
    year,
    zh_cardinal,
    zh_decimal,
    zh_digits,
)

# Bump when a rule changes what is spoken: the speak stage's cache key includes it.
NORMALIZER_VERSION = "1"


def normalize(text: str, language: str = "en") -> str:
    """Rewrite ``text`` into speakable words for ``language`` (``en``, ``zh``, others: clean-up only)."""
    language = language_code(language)
    text = _clean_unicode(text)
    handler = _NORMALIZERS.get(language, _normalize_other)
    return _collapse_spaces(handler(text))


def has_speakable_text(text: str) -> bool:
    """True when normalised text has anything a voice would say (letters of any script)."""
    return any(ch.isalpha() for ch in text)


# --- shared clean-up -----------------------------------------------------------------------

_UNICODE_REPLACEMENTS = {
    "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " ", "\u2009": " ",
    "\u202f": " ", "\u2026": "...", "\u2013": "-", "\u2212": "-",
}


def _clean_unicode(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    for old, new in _UNICODE_REPLACEMENTS.items():
        text = text.replace(old, new)
    text = text.replace("\u2014", ", ")  # an em dash is a pause
    return text


def _collapse_spaces(text: str) -> str:
    # Keep paragraph breaks (split_sentences uses them), squeeze everything else.
    paragraphs = re.split(r"\n\s*\n", text)
    paragraphs = [re.sub(r"\s+", " ", p).strip() for p in paragraphs]
    text = "\n\n".join(p for p in paragraphs if p)
    return re.sub(r"\s+([,.;:!?])", r"\1", text)


# Markdown and symbols an LLM or an editor leaves in text; a voice would read "asterisk".
_SILENT_SYMBOLS = re.compile(r"[*_#`~|<>\[\]{}\\^]")


def _strip_symbols(text: str) -> str:
    return _SILENT_SYMBOLS.sub(" ", text)


def _normalize_other(text: str) -> str:
    return _strip_symbols(text)


# --- English -------------------------------------------------------------------------------

_MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
]
_MONTH_ABBR = {m[:3].lower(): i for i, m in enumerate(_MONTHS, 1)}
_MONTH_PATTERN = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December"
    r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.?"
)


def _month_number(name: str) -> int:
    return _MONTH_ABBR[name.rstrip(".").lower()[:3]]


def _sentence_end_follows(text: str, end: int) -> bool:
    """True when a period we are about to swallow also ended the sentence."""
    rest = text[end:]
    return not rest.strip() or bool(re.match(r"\s+[\"']?[A-Z]", rest)) or rest.startswith("\n")


def _keep_period(match: re.Match, spoken: str) -> str:
    if match.group(0).endswith(".") and _sentence_end_follows(match.string, match.end()):
        return spoken + "."
    return spoken


# Abbreviations that stand before a name: "Dr. Smith" -> "Doctor Smith".
_TITLES = {
    "Dr": "Doctor", "Mr": "Mister", "Mrs": "Missus", "Ms": "Miz", "Prof": "Professor",
    "St": "Saint", "Mt": "Mount", "Gen": "General", "Capt": "Captain", "Sgt": "Sergeant",
    "Rev": "Reverend", "Lt": "Lieutenant", "Col": "Colonel",
}
# Abbreviations that follow a word: "Elm St." -> "Elm Street", "Acme Inc." -> "Acme Incorporated".
_SUFFIXES = {
    "St": "Street", "Dr": "Drive", "Ave": "Avenue", "Rd": "Road", "Blvd": "Boulevard",
    "Jr": "Junior", "Sr": "Senior", "Inc": "Incorporated", "Ltd": "Limited", "Corp": "Corporation",
    "Co": "Company", "Bros": "Brothers",
}
# Anywhere (case-insensitive).
_PHRASES = [
    (r"\be\.\s?g\.", "for example"),
    (r"\bi\.\s?e\.", "that is"),
    (r"\ba\.k\.a\.", "also known as"),
    (r"\betc\.", "et cetera"),
    (r"\bvs\.?(?=\s)", "versus"),
    (r"\bapprox\.", "approximately"),
    (r"\bw/(?=\s)", "with"),
]


def _expand_abbreviations(text: str) -> str:
    titles = "|".join(_TITLES)
    text = re.sub(rf"\b({titles})\.(?=\s+[A-Z])", lambda m: _TITLES[m.group(1)], text)
    # British style writes these without the period: "Dr Smith", "Mrs Jones".
    text = re.sub(r"\b(Mr|Mrs|Ms|Dr)(?=\s+[A-Z])", lambda m: _TITLES[m.group(1)], text)
    suffixes = "|".join(_SUFFIXES)
    text = re.sub(rf"(?<=[A-Za-z0-9] )({suffixes})\.", lambda m: _keep_period(m, _SUFFIXES[m.group(1)]), text)
    for pattern, spoken in _PHRASES:
        text = re.sub(pattern, lambda m, s=spoken: _keep_period(m, s), text, flags=re.IGNORECASE)
    # "No. 5" -> "number five"; "#1" -> "number one".
    text = re.sub(r"\bNo\.\s?(?=\d)", "number ", text)
    text = re.sub(r"#(?=\d)", "number ", text)
    return text


def _spoken_date(month: int, day: int, year_text: str | None, day_first: bool = False) -> str:
    name = _MONTHS[month - 1]
    spoken = f"the {ordinal(day)} of {name}" if day_first else f"{name} {ordinal(day)}"
    if year_text:
        spoken += f", {year(int(year_text))}"
    return spoken


def _valid_date(month: int, day: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= 31


def _expand_dates(text: str) -> str:
    def iso(m: re.Match) -> str:
        mo, d = int(m.group(2)), int(m.group(3))
        return _spoken_date(mo, d, m.group(1)) if _valid_date(mo, d) else m.group(0)

    text = re.sub(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b", iso, text)

    def month_day(m: re.Match) -> str:
        month, day = _month_number(m.group(1)), int(m.group(2))
        if not _valid_date(month, day):
            return m.group(0)
        return _spoken_date(month, day, m.group(4))

    text = re.sub(rf"\b({_MONTH_PATTERN})\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(,?\s+(\d{{4}})\b)?", month_day, text)

    def day_month(m: re.Match) -> str:
        day, month = int(m.group(1)), _month_number(m.group(2))
        if not _valid_date(month, day):
            return m.group(0)
        return _spoken_date(month, day, m.group(4), day_first=True)

    text = re.sub(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH_PATTERN})(,?\s+(\d{{4}})\b)?", day_month, text)

    def slashed(m: re.Match) -> str:
        a, b, y = int(m.group(1)), int(m.group(2)), m.group(3)
        if len(y) == 2:
            y = ("20" if int(y) < 50 else "19") + y
        # Only dates that cannot be misread: 25/12/2024 (day first) or 12/25/2024 (month first).
        # 5/3/2024 could be either, so it is left as numbers for the editor to rewrite.
        if a > 12 and _valid_date(b, a):
            return _spoken_date(b, a, y, day_first=True)
        if b > 12 and _valid_date(a, b):
            return _spoken_date(a, b, y)
        return m.group(0)

    return re.sub(r"\b(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})\b", slashed, text)


def _expand_times(text: str) -> str:
    def clock(m: re.Match) -> str:
        hour, minute = int(m.group(1)), int(m.group(2) or 0)
        if hour > 24 or minute > 59:
            return m.group(0)
        meridiem = m.group(3)
        spoken = cardinal(hour)
        if minute:
            spoken += f" oh {cardinal(minute)}" if minute < 10 else f" {cardinal(minute)}"
        elif not meridiem:
            spoken += " hundred" if hour > 12 else " o'clock"  # 15:00 is "fifteen hundred"
        if meridiem:
            spoken += " AM" if meridiem[0].lower() == "a" else " PM"
            return _keep_period(m, spoken)
        return spoken

    meridiem = r"\s?([AaPp]\.?[Mm]\b\.?)"
    text = re.sub(rf"\b(\d{{1,2}}):(\d{{2}})(?:{meridiem})?", clock, text)
    return re.sub(rf"\b(\d{{1,2}})(){meridiem}", clock, text)


_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "¥": ("yen", "yen", None, None),
}
_SCALE_WORDS = {"k": "thousand", "m": "million", "bn": "billion", "thousand": "thousand",
                "million": "million", "billion": "billion", "trillion": "trillion"}


def _expand_currency(text: str) -> str:
    def money(m: re.Match) -> str:
        one, many, sub_one, sub_many = _CURRENCIES[m.group(1)]
        whole_text, frac, scale = m.group(2).replace(",", ""), m.group(3), m.group(4)
        if scale:  # "$1.5 million" -> "one point five million dollars"
            return f"{decimal(whole_text + (frac or ''))} {_SCALE_WORDS[scale.lower()]} {many}"
        whole = int(whole_text)
        cents = int(frac[1:]) if frac and len(frac) == 3 else None
        if frac and cents is None or (cents and sub_one is None):
            return f"{decimal(whole_text + frac)} {many}"
        parts = []
        if whole or not cents:
            parts.append(f"{cardinal(whole)} {one if whole == 1 else many}")
        if cents:
            parts.append(f"{cardinal(cents)} {sub_one if cents == 1 else sub_many}")
        return " and ".join(parts)

    return re.sub(
        r"([$€£¥])\s?(\d[\d,]*)(\.\d+)?(?:\s?(thousand|million|billion|trillion|bn|k|m)\b)?",
        money,
        text,
        flags=re.IGNORECASE,
    )


_YEAR_CONTEXT = (
    r"(?:in|since|by|from|until|till|of|year|around|circa|before|after|during|early|late|mid|"
    r"summer|winter|spring|autumn|fall|between)"
)


def _expand_numbers(text: str) -> str:
    # Whatever slash between numbers is left (fractions, ambiguous dates) is read as "slash".
    text = re.sub(r"(?<=\d)\s?/\s?(?=\d)", " slash ", text)
    text = re.sub(
        r"(-?\d[\d,]*(?:\.\d+)?)\s?%",
        lambda m: f"{decimal(m.group(1).replace(',', ''))} percent",
        text,
    )
    text = re.sub(r"(-?\d+(?:\.\d+)?)\s?°\s?([CF])\b",
                  lambda m: f"{decimal(m.group(1))} degrees {'Celsius' if m.group(2) == 'C' else 'Fahrenheit'}",
                  text)
    text = re.sub(r"\b(\d+)(?:st|nd|rd|th)\b", lambda m: ordinal(int(m.group(1))), text)
    # Decades: 1990s, '90s.
    text = re.sub(r"\b(\d{3}0)'?s\b", lambda m: plural_year(int(m.group(1))), text)
    text = re.sub(r"'(\d)0s\b", lambda m: plural_year(1900 + int(m.group(1)) * 10).split(" ")[-1], text)
    # Year ranges and years after a preposition: "from 1990 to 2005", "in 1850".
    text = re.sub(
        r"\b(1[1-9]\d\d|20\d\d)\s?-\s?(1[1-9]\d\d|20\d\d)\b",
        lambda m: f"{year(int(m.group(1)))} to {year(int(m.group(2)))}",
        text,
    )
    text = re.sub(
        rf"\b({_YEAR_CONTEXT})\s+(1[1-9]\d\d|20\d\d)\b(?![.,]\d)",
        lambda m: f"{m.group(1)} {year(int(m.group(2)))}",
        text,
        flags=re.IGNORECASE,
    )
    text = re.sub(r"\b(\d{4})\s?(BC|BCE|AD|CE)\b", lambda m: f"{year(int(m.group(1)))} {' '.join(m.group(2))}", text)
    # A bare 19xx/20xx is far more often a year ("the 2024 election") than a count.
    text = re.sub(r"(?<![\d,.])\b(19\d\d|20\d\d)\b(?![.,]\d)", lambda m: year(int(m.group(1))), text)
    # Ranges of plain numbers: "10-20 minutes" -> "ten to twenty minutes".
    text = re.sub(r"\b(\d+)\s?-\s?(\d+)\b", lambda m: f"{cardinal(int(m.group(1)))} to {cardinal(int(m.group(2)))}", text)
    # Plain numbers: "1,250", "3.14", "-5"; digits glued to letters ("MP4", "4K") get spaces.
    text = re.sub(
        r"(?<![\w.])-(?=\d)|(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?",
        lambda m: "minus " if m.group(1) is None else f" {decimal(m.group(1).replace(',', '') + (m.group(2) or ''))} ",
        text,
    )
    return text


def _expand_symbols(text: str) -> str:
    text = text.replace("&", " and ").replace("@", " at ")
    text = re.sub(r"(?<=\w)\s?\+\s?(?=\w)", " plus ", text)
    text = re.sub(r"(?<=\w)\s?=\s?(?=\w)", " equals ", text)
    return _strip_symbols(text)


def normalize_en(text: str) -> str:
    """English: abbreviations, dates, times, money, numbers, symbols — in that order, since
    each step relies on the earlier ones ("No. 5" before plain numbers, dates before years)."""
    text = _expand_abbreviations(text)
    text = _expand_dates(text)
    text = _expand_times(text)
    text = _expand_currency(text)
    text = _expand_numbers(text)
    return _expand_symbols(text)


# --- Chinese -------------------------------------------------------------------------------


def normalize_zh(text: str) -> str:
    """Chinese (first step): Arabic numerals to Chinese numerals; symbols removed."""
    text = re.sub(r"(\d{4})(?=\s?年)", lambda m: zh_digits(m.group(1)), text)
    text = re.sub(r"(\d+(?:\.\d+)?)\s?%", lambda m: "百分之" + zh_decimal(m.group(1)), text)
    text = re.sub(r"(\d[\d,]*)(\.\d+)?", lambda m: zh_decimal(m.group(1).replace(",", "") + (m.group(2) or ""))
                  if m.group(2) else zh_cardinal(int(m.group(1).replace(",", ""))), text)
    return _strip_symbols(text)


_NORMALIZERS: dict[str, Callable[[str], str]] = {"en": normalize_en, "zh": normalize_zh}


# --- sentences -----------------------------------------------------------------------------

_MAX_SENTENCE_CHARS = 300


def split_sentences(text: str, language: str = "en") -> list[str]:
    """Sentences to speak one at a time (``factory.text.split_sentences``); very long ones are
    cut again at ``;``, ``:`` or ``,`` so one breath never runs on for a paragraph."""
    return [piece for sentence in split_text_sentences(text, language or "en") for piece in _cut_long(sentence)]


def _cut_long(sentence: str) -> list[str]:
    if len(sentence) <= _MAX_SENTENCE_CHARS:
        return [sentence]
    middle = len(sentence) // 2
    cuts = [m.end() for m in re.finditer(r"[;:,，；：]\s", sentence)]
    if not cuts:
        cuts = [m.start() for m in re.finditer(r" ", sentence)]
    if not cuts:
        return [sentence]
    cut = min(cuts, key=lambda c: abs(c - middle))
    return _cut_long(sentence[:cut].strip()) + _cut_long(sentence[cut:].strip())
