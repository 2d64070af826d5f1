"""Grounding check: which facts in a narration are not in its source?

The small offline model writes fluent text that invents names, dates and prices, and hosted
models do it too now and then. Before a narration goes to speech, every number, date, amount,
percentage and proper name in it is looked up in the source (the policy document, the headline
and summary, or the product row). Whatever is not found is listed, and the write stage holds the
job for an editor.

How facts are compared (so "1,000" matches "1000" and "5%" matches "five per cent"):

* every fact becomes one or more *keys*: ``n:1000`` (a number's value), ``md:3-1`` (March 1),
  ``m:3`` (a month), ``y:2025`` (a year), ``w:monday``, ``name:brussels``;
* the source is turned into the set of all its keys with the same extractors;
* a narration fact is grounded when all its keys are in the source's set.

Numbers are compared by value, not unit: "$30" is accepted when the source says "30 days". That is
a deliberate trade-off: product rows often give a bare price ("29.99") that the narration reads
with a currency. Proper names are capitalised words that do not start a sentence (English), and
Latin-script words with a capital letter inside Chinese text; Chinese names are not checked
(no dictionary here), but Chinese numbers, amounts, percentages and dates are.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation

from factory.text import ZH_BIG_UNITS, ZH_NUMERAL_RUN, chinese_number

MONTHS = {
    name: i + 1
    for i, names in enumerate(
        [("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",),
         ("june", "jun"), ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"),
         ("october", "oct"), ("november", "nov"), ("december", "dec")]
    )
    for name in names
}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_SMALL = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}
_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000,
           "trillion": 1_000_000_000_000}

# --- patterns ------------------------------------------------------------------------------
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_MONTH_NAMES = "|".join(sorted(MONTHS, key=len, reverse=True))
_ORD = r"(?:st|nd|rd|th)?"
_DATE_PATTERNS = [
    # 2025-03-01, 2025/3/1
    (re.compile(r"\b(\d{4})[-/](\d{1,2})[-/](\d{1,2})\b"), ("y", "m", "d")),
    # March 1, 2025 / March 1st 2025 / Mar. 1
    (re.compile(rf"\b({_MONTH_NAMES})\.?\s+(\d{{1,2}}){_ORD}(?:,?\s+(\d{{4}}))?\b", re.I), ("M", "d", "y")),
    # 1 March 2025 / 1st of March
    (re.compile(rf"\b(\d{{1,2}}){_ORD}\s+(?:of\s+)?({_MONTH_NAMES})\.?(?:,?\s+(\d{{4}}))?\b", re.I), ("d", "M", "y")),
    # March 2025
    (re.compile(rf"\b({_MONTH_NAMES})\.?,?\s+(\d{{4}})\b", re.I), ("M", "y")),
    # 2025年3月1日 / 3月1号 / 2025年3月 (digits; Chinese numerals are converted first)
    (re.compile(r"(?:(\d{2,4})\s*年\s*)?(\d{1,2})\s*月\s*(?:(\d{1,2})\s*[日号])?"), ("y", "m", "d")),
]
_CURRENCY_BEFORE = re.compile(
    rf"(?:[$€£¥￥]|\b(?:USD|EUR|GBP|RMB|CNY|US\$)\s?)\s?({_NUM})(?:\s*(million|billion|thousand|trillion|[kKmM]\b|万|亿))?"
)
_CURRENCY_AFTER = re.compile(
    rf"({_NUM})\s*(million|billion|thousand|trillion|万|亿)?\s*(?:dollars?|euros?|pounds?|yuan|rmb|usd|eur|元|块|美元|欧元|英镑)",
    re.I,
)
_PERCENT = re.compile(rf"({_NUM})\s*(?:%|per\s?cent\b|percent\b)", re.I)
_ZH_PERCENT = re.compile(rf"百分之\s*({_NUM})")
_SCALED = re.compile(rf"({_NUM})\s*(million|billion|thousand|trillion|万|亿)", re.I)
_PLAIN = re.compile(rf"(?<![\w.])({_NUM})(?:st|nd|rd|th)?(?![\d])")
_WORD_NUMBER = re.compile(
    r"\b(?:" + "|".join(list(_SMALL) + list(_SCALES)) + r")(?:(?:[\s-]+(?:and[\s-]+)?)(?:"
    + "|".join(list(_SMALL) + list(_SCALES)) + r"))*\b",
    re.I,
)
# A Chinese numeral counts as a claim only next to a unit (一些/统一 are not numbers).
_ZH_NUMERAL_CLAIM = re.compile(r"[零〇一二两三四五六七八九十百千万亿]+(?=\s*(?:年|月|日|号|元|块|岁|个|项|条|天|%|倍))")
_WEEKDAY = re.compile(r"\b(" + "|".join(WEEKDAYS) + r")s?\b", re.I)
_CAP_WORD = re.compile(r"(?:[A-Z]\.){2,}|[A-Z][A-Za-z0-9&'’-]*")
_NAME_JOINERS = {"of", "the", "and", "for", "de", "la", "von", "van", "&"}
_NOT_NAMES = {"i", "i'm", "i'll", "i've", "i'd", "ok", "okay"}


@dataclass(frozen=True)
class Claim:
    kind: str
    """number, percent, amount, date or name."""
    text: str
    """As written in the narration."""
    keys: tuple[str, ...]
    """All of these must be in the source's keys for the claim to be grounded."""
    start: int = 0
    """Where it starts in the (normalised) text; claims are returned in reading order."""


@dataclass(frozen=True)
class GroundingIssue:
    kind: str
    text: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


# --- numbers ------------------------------------------------------------------------------
def _canonical(value: Decimal | int | float | str) -> str:
    try:
        d = Decimal(str(value).replace(",", ""))
    except InvalidOperation:
        return str(value)
    return format(d.normalize(), "f")


def _scale_value(word: str | None) -> int:
    if not word:
        return 1
    w = word.lower()
    if w in ("k",):
        return 1_000
    if w in ("m",):
        return 1_000_000
    return _SCALES.get(w) or ZH_BIG_UNITS.get(word, 1)


def parse_word_number(text: str) -> int | None:
    """"two hundred and fifty thousand" -> 250000; None when it is not a number."""
    total, current = 0, 0
    seen = False
    for token in re.split(r"[\s-]+", text.lower()):
        if token == "and" or not token:
            continue
        if token in _SMALL:
            current += _SMALL[token]
            seen = True
        elif token == "hundred":
            current = max(current, 1) * 100
            seen = True
        elif token in _SCALES:
            total += max(current, 1) * _SCALES[token]
            current = 0
            seen = True
        else:
            return None
    return total + current if seen else None


def _normalise(text: str) -> str:
    """NFKC (full-width digits and ％ become ASCII); Chinese numerals before units become digits."""
    text = unicodedata.normalize("NFKC", text)

    def to_digits(m: re.Match[str]) -> str:
        value = chinese_number(m.group(0))
        return m.group(0) if value is None else str(value)

    text = _ZH_NUMERAL_CLAIM.sub(to_digits, text)
    text = re.sub(r"百分之([零〇一二两三四五六七八九十百千]+)",
                  lambda m: "百分之" + str(chinese_number(m.group(1))), text)
    return text


# --- extraction -----------------------------------------------------------------------------
class _Spans:
    """Remembers which characters a more specific pattern already claimed."""

    def __init__(self) -> None:
        self.taken: list[tuple[int, int]] = []

    def free(self, start: int, end: int) -> bool:
        return all(end <= a or start >= b for a, b in self.taken)

    def take(self, start: int, end: int) -> None:
        self.taken.append((start, end))


def _date_keys(groups: dict[str, str | None]) -> tuple[str, ...]:
    keys: list[str] = []
    month = None
    if groups.get("M"):
        month = MONTHS[groups["M"].lower().rstrip(".")]
    elif groups.get("m"):
        month = int(groups["m"])
    day = int(groups["d"]) if groups.get("d") else None
    if month is not None and not 1 <= month <= 12 or day is not None and not 1 <= day <= 31:
        return ()
    if groups.get("y"):
        keys.append(f"y:{int(groups['y'])}")
    if month is not None and day is not None:
        keys.append(f"md:{month}-{day}")
    elif month is not None:
        keys.append(f"m:{month}")
    return tuple(keys)


def extract_claims(text: str, language: str = "en", names: bool = True) -> list[Claim]:
    """Numbers, dates, amounts, percentages and proper names stated in ``text``."""
    text = _normalise(text)
    spans = _Spans()
    claims: list[Claim] = []

    def add(kind: str, m: re.Match[str], keys: tuple[str, ...]) -> None:
        if keys and spans.free(m.start(), m.end()):
            spans.take(m.start(), m.end())
            claims.append(Claim(kind, m.group(0).strip(), keys, m.start()))

    for pattern, roles in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            add("date", m, _date_keys(dict(zip(roles, m.groups()))))
    for pattern in (_CURRENCY_BEFORE, _CURRENCY_AFTER):
        for m in pattern.finditer(text):
            value = Decimal(m.group(1).replace(",", "")) * _scale_value(m.group(2))
            add("amount", m, (f"n:{_canonical(value)}",))
    for pattern in (_PERCENT, _ZH_PERCENT):
        for m in pattern.finditer(text):
            add("percent", m, (f"n:{_canonical(m.group(1))}",))
    for m in _SCALED.finditer(text):
        value = Decimal(m.group(1).replace(",", "")) * _scale_value(m.group(2))
        add("number", m, (f"n:{_canonical(value)}",))
    for m in _PLAIN.finditer(text):
        add("number", m, (f"n:{_canonical(m.group(1))}",))
    for m in _WORD_NUMBER.finditer(text):
        value = parse_word_number(m.group(0))
        # "one" on its own is mostly not a number ("one of the", "no one").
        if value is not None and m.group(0).lower() not in ("one", "zero"):
            add("number", m, (f"n:{value}",))
    for m in _WEEKDAY.finditer(text):
        add("date", m, (f"w:{m.group(1).lower()}",))
    if names:
        claims.extend(_name_claims(text, spans, language))
    return sorted(claims, key=lambda c: c.start)


def _starts_sentence(text: str, previous: re.Match[str] | None, current: re.Match[str]) -> bool:
    """True for the first word of the text, after . ! ? : ; or an opening quote, or a new line."""
    if previous is None:
        return True
    if "\n" in text[previous.end():current.start()]:
        return True
    return bool(re.search(r"[.!?。！？:;\"“‘(（]$", previous.group(0)))


def _name_key(word: str) -> str:
    word = re.sub(r"['’]s$", "", word).replace(".", "").lower()
    return f"name:{word}"


def _name_claims(text: str, spans: _Spans, language: str) -> list[Claim]:
    """Runs of capitalised words ("European Commission", "Department of Health")."""
    claims: list[Claim] = []
    run: list[re.Match[str]] = []

    def flush() -> None:
        words = [m for m in run if m.group(0).lower() not in _NAME_JOINERS]
        if words:
            start, end = words[0].start(), words[-1].end()
            keys = tuple(dict.fromkeys(_name_key(m.group(0)) for m in words))
            name = text[start:end]
            if not re.search(r"(?:[A-Z]\.){2,}$", name):
                name = name.rstrip(".")  # "Main Street." -> "Main Street"
            claims.append(Claim("name", name, keys, start))
        run.clear()

    previous: re.Match[str] | None = None
    for m in re.finditer(r"[A-Za-z][A-Za-z0-9&'’.-]*|\S", text):
        token = m.group(0)
        word = token if re.fullmatch(r"(?:[A-Z]\.){2,}", token) else token.rstrip(".")
        is_cap = bool(_CAP_WORD.fullmatch(word)) and word.lower() not in _NOT_NAMES
        if language == "zh":
            # Chinese text has no capitalisation of names; any Latin word with a capital is one.
            is_cap = is_cap or bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*[A-Z][A-Za-z0-9-]*", word))
            sentence_initial = False
        else:
            sentence_initial = _starts_sentence(text, previous, m)
        lowered = word.lower()
        if lowered in MONTHS or lowered.rstrip("s") in WEEKDAYS:
            is_cap = False  # months and weekdays are dates, checked above
        if is_cap and not sentence_initial and spans.free(m.start(), m.start() + len(word)):
            run.append(m)
        elif run and lowered in _NAME_JOINERS and (word[:1].islower() or word == "&"):
            run.append(m)
        else:
            while run and run[-1].group(0).lower() in _NAME_JOINERS:
                run.pop()
            flush()
        if token.endswith(".") and word != token:
            while run and run[-1].group(0).lower() in _NAME_JOINERS:
                run.pop()
            flush()  # "... in Brussels. The" ends the run at the full stop
        previous = m
    while run and run[-1].group(0).lower() in _NAME_JOINERS:
        run.pop()
    flush()
    return claims


def source_keys(source: str) -> set[str]:
    """Every key the source supports: its numbers, dates, months, weekdays and all its words."""
    text = _normalise(source)
    keys: set[str] = set()
    for language in ("en", "zh"):
        for claim in extract_claims(text, language, names=False):
            keys.update(claim.keys)
    # Parts of a fact are also facts: "1.5 million" supports 1.5; a date supports its year and day.
    for m in re.finditer(_NUM, text):
        keys.add(f"n:{_canonical(m.group(0))}")
    for key in list(keys):
        if key.startswith("y:"):
            keys.add("n:" + key[2:])
        elif key.startswith("md:"):
            month, day = key[3:].split("-")
            keys.update({f"m:{month}", f"n:{day}"})
    for m in ZH_NUMERAL_RUN.finditer(text):
        value = chinese_number(m.group(0))
        if value is not None:
            keys.add(f"n:{value}")
    for m in _WORD_NUMBER.finditer(text):
        value = parse_word_number(m.group(0))
        if value is not None:
            keys.add(f"n:{value}")
    for m in re.finditer(r"(?:[A-Za-z]\.){2,}|[A-Za-z][A-Za-z0-9&'’-]*", text):
        keys.add(_name_key(m.group(0)))
    for m in re.finditer(rf"\b({_MONTH_NAMES})\b", text, re.I):
        keys.add(f"m:{MONTHS[m.group(1).lower()]}")
    return keys


def looks_title_cased(line: str) -> bool:
    """"New Rules For Online Platforms": most words capitalised, so capitals say nothing about names."""
    words = re.findall(r"[A-Za-z][A-Za-z'’-]*", line)
    if len(words) < 3:
        return False
    return sum(w[0].isupper() for w in words) / len(words) >= 0.6


def check_grounding(narration: str | list[str], source: str, language: str = "en") -> list[GroundingIssue]:
    """Facts in ``narration`` that ``source`` does not contain, each once, in order.

    ``narration`` may be a list of texts (title, caption lines, narration); each is checked on its
    own, and names are not looked for in title-cased lines (every word is capitalised there).
    """
    texts = [narration] if isinstance(narration, str) else list(narration)
    available = source_keys(source)
    issues: list[GroundingIssue] = []
    seen: set[tuple[str, str]] = set()
    for text in texts:
        names = not (language == "en" and looks_title_cased(text))
        for claim in extract_claims(text, language, names=names):
            missing = [k for k in claim.keys if k not in available]
            if not missing or (claim.kind, claim.text) in seen:
                continue
            seen.add((claim.kind, claim.text))
            issues.append(GroundingIssue(claim.kind, claim.text, f"{claim.kind} {claim.text!r} is not in the source"))
    return issues
