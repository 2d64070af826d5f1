"""Text normalisation: turn a script into words a voice reads the way a person would.

``normalize(text, language)`` dispatches per language:

* ``en`` — numbers, decimals, ordinals (1st, 22nd), years (1999 -> nineteen ninety-nine),
  dates (2024-03-05, March 5, 2024, 5 March 2024, and d/m/y only when unambiguous), times
  (3:30 pm), common abbreviations (Dr., Mr., e.g., etc., vs.); then what ``factory.text``
  says for signs, addresses and markup (``spell_addresses``, ``spell_symbols``: $ € £ ¥ % / &
  = + @, URLs, e-mail addresses, hashtags, phone numbers, tags such as ``<break time="2s"/>``).
* ``zh`` — ``factory.text.read_chinese``: years, dates, percentages, decimals, money, phone and
  ID numbers, units, signs and addresses in Chinese words; Latin abbreviations kept.
* any other language — whitespace and symbol clean-up only; espeak reads digits itself.

``split_sentences(text, language)`` cuts normalised text into sentences the engine speaks one
at a time (English ``.!?`` with abbreviation and initial guards; Chinese ``。！？``).

Why rules and not a model: they are predictable, instant, and an editor can read what will be
said. The rules for signs, addresses and Chinese live in ``factory.text`` because the transcript
check (``qa/text_metrics.py``) applies the same ones to the script and to Whisper's transcript:
QA expects what the voice was given. The spoken text is kept in ``values["speech"]["text"]``.
"""

from __future__ import annotations

import re

import unicodedata
from typing import Callable

from factory.text import language_code, read_chinese, spell_addresses, spell_symbols
from factory.text import split_sentences as split_text_sentences
from tts.numbers import cardinal, decimal, ordinal, plural_year, year

# Bump when a rule changes what is spoken: the speak stage's cache key includes it.
NORMALIZER_VERSION = "2"


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
    text = re.sub(r"(?<=\d)\s?\u2014\s?(?=\d)", "-", text)  # 2020—2025: a range
    text = text.replace("\u2014", ", ")  # elsewhere an em dash is a pause
    return text


def _collapse_spaces(text: str) -> str:
    # Keep paragraph breaks (split_sentences uses them), squeeze everything else.
    paragraphs = re.split(r"\n\s*\n", text)
    paragraphs = [re.sub(r"\s+", " ", p).strip() for p in paragraphs]
    text = "\n\n".join(p for p in paragraphs if p)
    return re.sub(r"\s+([,.;:!?，。；：！？、])", r"\1", text)


# Markdown and symbols an LLM or an editor leaves in text; a voice would read "asterisk".
_SILENT_SYMBOLS = re.compile(r"[*_#`~|<>\[\]{}\\^]")


def _normalize_other(text: str) -> str:
    return _SILENT_SYMBOLS.sub(" ", text)


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
    # "No. 5" -> "number five" ("#1" is read by factory.text.spell_addresses).
    return re.sub(r"\bNo\.\s?(?=\d)", "number ", text)


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


_YEAR_CONTEXT = (
    r"(?:in|since|by|from|until|till|of|year|around|circa|before|after|during|early|late|mid|"
    r"summer|winter|spring|autumn|fall|between)"
)


def _expand_numbers(text: str) -> str:
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


def normalize_en(text: str) -> str:
    """English: addresses and markup, abbreviations, dates, times, signs and money, numbers — in
    that order, since each step relies on the earlier ones (a URL's dots before abbreviations,
    dates before the slash between numbers, "$5" -> "5 dollars" before digits become words)."""
    text = spell_addresses(text, "en")
    text = _expand_abbreviations(text)
    text = _expand_dates(text)
    text = _expand_times(text)
    text = spell_symbols(text, "en")
    return _expand_numbers(text)


# --- Chinese -------------------------------------------------------------------------------


def normalize_zh(text: str) -> str:
    """Chinese: ``factory.text.read_chinese`` (numbers, dates, money, units, signs in words)."""
    return read_chinese(text)


_NORMALIZERS: dict[str, Callable[[str], str]] = {"en": normalize_en, "zh": normalize_zh}


# --- sentences -----------------------------------------------------------------------------

_MAX_SENTENCE_CHARS = {"zh": 30}
"""Longest piece spoken in one breath, in characters: 300 (about 50 English words); Chinese
characters are each a syllable, and the Mandarin voice (trained on short sentences) slurs
the end of a clause run longer than about 40 of them."""


def split_sentences(text: str, language: str = "en") -> list[str]:
    """Sentences to speak one at a time (``factory.text.split_sentences``); very long ones are
    cut again at ``;``, ``:`` or ``,`` (Chinese ``；：，、``) so one breath never runs on for a
    paragraph."""
    language = language_code(language)
    limit = _MAX_SENTENCE_CHARS.get(language, 300)
    return [piece for sentence in split_text_sentences(text, language) for piece in _cut_long(sentence, limit)]


def _cut_long(sentence: str, limit: int) -> list[str]:
    if len(sentence) <= limit:
        return [sentence]
    middle = len(sentence) // 2
    cuts = [m.end() for m in re.finditer(r"[;:,]\s|[，；：、]", sentence)]
    if not cuts:
        cuts = [m.start() for m in re.finditer(r" ", sentence)]
    if not cuts:
        return [sentence]
    cut = min(cuts, key=lambda c: abs(c - middle))
    return _cut_long(sentence[:cut].strip(), limit) + _cut_long(sentence[cut:].strip(), limit)
