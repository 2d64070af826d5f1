"""Transcript check: does the audio say what the script says?

Both texts go through one normalisation (``normalize``) so that differences in writing, not in
speech, do not count as errors. The rules for what signs, addresses and markup are read as, and
for how a Chinese script is read, are the speaker's own (``factory.text``: ``spell_addresses``,
``spell_symbols``, ``read_chinese``), applied here to the script and to Whisper's transcript
alike: the check expects exactly what the voice was given ("$9/month" is "9 dollars per month"
on both sides, "<break/>" nothing).

English: case, punctuation, accents on Latin letters ("café" / "cafe"), contractions ("here's" /
"here is"), British and American spelling ("colours" / "colors"), and numbers — Whisper writes
"60" where the script says "sixty", "1999" for "nineteen ninety-nine", "2,000" for "two
thousand": number words become digits, the form Whisper prefers, so the fewest tokens change.

Chinese: simplified characters (Whisper base writes traditional ones), every number read as the
voice reads it ("1200万" = "一千二百万"), and characters that sound alike counted as the same.

Then a word-level Levenshtein alignment gives the word error rate (WER) for languages that
separate words by spaces, and a character-level one gives the character error rate (CER) for
Chinese (and Japanese), where there are no spaces between words. The alignment is returned as a
list of operations, so the report can show "said X instead of Y" word by word.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any

from factory.text import (
    CURRENCY_WORDS,
    ZH_NUMERAL_RUN,
    chinese_number,
    language_code,
    read_chinese,
    spell_addresses,
    spell_symbols,
)

# --- numbers as words -> digits (English) ------------------------------------------------

_UNITS = {
    "zero": 0, "oh": None, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
del _UNITS["oh"]  # "oh" is too often a word; listed only to say it was considered
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
_ORDINALS = {
    "first": "one", "second": "two", "third": "three", "fourth": "four", "fifth": "five", "sixth": "six",
    "seventh": "seven", "eighth": "eight", "ninth": "nine", "tenth": "ten", "eleventh": "eleven",
    "twelfth": "twelve", "thirteenth": "thirteen", "fourteenth": "fourteen", "fifteenth": "fifteen",
    "sixteenth": "sixteen", "seventeenth": "seventeen", "eighteenth": "eighteen", "nineteenth": "nineteen",
    "twentieth": "twenty", "thirtieth": "thirty", "fortieth": "forty", "fiftieth": "fifty",
    "sixtieth": "sixty", "seventieth": "seventy", "eightieth": "eighty", "ninetieth": "ninety",
    "hundredth": "hundred", "thousandth": "thousand", "millionth": "million",
}
# "second" is a time unit far more often than an ordinal in narration: leave it alone.
del _ORDINALS["second"]
_NUMBER_WORDS = set(_UNITS) | set(_TENS) | set(_SCALES)


class _NumberParser:
    """Reads a run of English number words ("two hundred and five", "nineteen ninety nine").

    Standard grammar builds one value (hundreds/thousands). When a word cannot continue the
    current value ("nineteen ninety", "twenty twenty") the value so far is closed: two two-digit
    groups in a row are read as one year-like number (Whisper writes "1999"); anything else as
    separate numbers ("one two three" -> "1 2 3", as Whisper writes it).
    """

    def __init__(self) -> None:
        self.out: list[str] = []
        self.total = 0  # completed thousands/millions part
        self.current = 0  # the part below the last scale word
        self.last = ""  # kind of the last word: unit, teen, tens, scale
        self.active = False

    def _close(self) -> int | None:
        if not self.active:
            return None
        value = self.total + self.current
        self.total, self.current, self.last, self.active = 0, 0, "", False
        return value

    def feed(self, word: str) -> None:
        if word in _UNITS:
            value = _UNITS[word]
            kind = "teen" if value >= 10 else "unit"
            if self.active and (self.last in ("unit", "teen") or (self.last == "tens" and kind == "teen")):
                self._emit_break(kind, value)
                return
            self.current += value
        elif word in _TENS:
            value, kind = _TENS[word], "tens"
            if self.active and (self.last in ("unit", "teen", "tens")):
                self._emit_break(kind, value)
                return
            self.current += value
        else:  # scale
            value, kind = _SCALES[word], "scale"
            if not self.active:
                self.current = 1  # "hundred" alone means one hundred
            if value == 100:
                self.current = max(self.current, 1) * 100
            else:
                self.total += max(self.current, 1) * value
                self.current = 0
        self.last, self.active = kind, True

    def _emit_break(self, kind: str, value: int) -> None:
        previous = self.total + self.current
        two_digit_pair = 10 <= previous <= 99 and self.total == 0 and kind in ("teen", "tens")
        self._close()
        if two_digit_pair:
            # "nineteen ninety [nine]": keep building the second pair, remember the first.
            self.out.append(f"\x00{previous}")  # marker: glue to the next number
        else:
            self.out.append(str(previous))
        self.current, self.last, self.active = value, kind, True

    def finish(self) -> None:
        value = self._close()
        if value is not None:
            self.out.append(str(value))


def _glue_pairs(tokens: list[str]) -> list[str]:
    out: list[str] = []
    for tok in tokens:
        if out and out[-1].startswith("\x00"):
            first = out.pop()[1:]
            out.append(first + tok.rjust(2, "0"))
        else:
            out.append(tok)
    return [t.lstrip("\x00") for t in out]


def _english_numbers_to_digits(words: list[str]) -> list[str]:
    out: list[str] = []
    parser = _NumberParser()
    pending_and = False
    for i, word in enumerate(words):
        ordinal = word in _ORDINALS
        base = _ORDINALS.get(word, word)
        if base in _NUMBER_WORDS:
            parser.feed(base)
            pending_and = False
            if ordinal:  # an ordinal ends the number: "twenty first" -> "21st"
                parser.finish()
                out.extend(_glue_pairs(parser.out))
                out[-1] = _ordinal_suffix(out[-1])
                parser = _NumberParser()
            continue
        if word == "and" and parser.active and parser.last == "scale" and i + 1 < len(words) and (
            _ORDINALS.get(words[i + 1], words[i + 1]) in _NUMBER_WORDS
        ):
            pending_and = True  # "one hundred and five": the 'and' belongs to the number
            continue
        parser.finish()
        out.extend(_glue_pairs(parser.out))
        parser = _NumberParser()
        if pending_and:
            out.append("and")
            pending_and = False
        out.append(word)
    parser.finish()
    out.extend(_glue_pairs(parser.out))
    return out


def _ordinal_suffix(number: str) -> str:
    n = int(number)
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"


# --- normalisation -------------------------------------------------------------------------

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def is_cjk_text(text: str, language: str | None = None) -> bool:
    """Chinese or Japanese: by language code when given, else by script (≥ 30 % CJK letters)."""
    if language:
        return language_code(language) in ("zh", "ja", "yue", "cmn", "wuu")
    letters = [ch for ch in text if ch.isalnum()]
    if not letters:
        return False
    return sum(1 for ch in letters if _CJK.match(ch)) / len(letters) >= 0.3


# --- ways of writing the same English words -------------------------------------------------

# Apostrophes go first ("here's" -> "heres", "won't" -> "wont"). Then negations are spelled out
# ("wont" -> "will not") and a pronoun or a few adverbs are joined with the verb after them
# ("here is" -> "heres"), the same way on both sides: Piper says "here is" quickly and Whisper
# writes "Here's"; "it will not", "it'll not" and "it won't" all become "itll not". Joining
# (rather than expanding) keeps the homophones Whisper mixes up equal, as before: "it's" /
# "its", "we'll" / "well". "John is" stays apart from the possessive "John's".
_SUBJECTS = {"i", "you", "we", "they", "he", "she", "it", "that", "there", "here", "what", "who", "where", "how"}
_JOINED_VERB = {"is": "s", "are": "re", "will": "ll", "have": "ve", "am": "m", "would": "d"}
_NEGATIONS = {"cannot": "can", "cant": "can", "wont": "will", "shant": "shall"} | {
    verb + "nt": verb for verb in ("do", "does", "did", "is", "are", "was", "were", "has", "have", "had",
                                   "could", "would", "should", "must", "need")
}


def _join_contractions(words: list[str]) -> list[str]:
    spelled: list[str] = []
    for word in words:
        spelled += [_NEGATIONS[word], "not"] if word in _NEGATIONS else [word]
    out: list[str] = []
    for word in spelled:
        previous = out[-1] if out else None
        if previous in _SUBJECTS and word in _JOINED_VERB:
            out[-1] = previous + _JOINED_VERB[word]
        elif previous == "let" and word == "us":
            out[-1] = "lets"
        else:
            out.append(word)
    return out


# Whisper writes American spelling ("colors", "meters") where British scripts say "colours",
# "metres". By prefix, so inflections follow (favourite, organisation, travellers), or as whole
# words (``_british_words``).
_BRITISH_PREFIXES = {
    "colour": "color", "favour": "favor", "flavour": "flavor", "honour": "honor", "humour": "humor",
    "labour": "labor", "neighbour": "neighbor", "behaviour": "behavior", "harbour": "harbor",
    "rumour": "rumor", "savour": "savor", "vapour": "vapor", "armour": "armor", "odour": "odor",
    "endeavour": "endeavor", "organis": "organiz", "realis": "realiz", "recognis": "recogniz",
    "apologis": "apologiz", "prioritis": "prioritiz", "minimis": "minimiz", "maximis": "maximiz",
    "optimis": "optimiz", "customis": "customiz", "personalis": "personaliz", "travell": "travel",
    "cancell": "cancel", "labell": "label", "modell": "model", "aluminium": "aluminum",
}
_BRITISH_PREFIX = re.compile("^(" + "|".join(sorted(_BRITISH_PREFIXES, key=len, reverse=True)) + ")")


def _british_words() -> dict[str, str]:
    """Whole words where the ending moves: metre(s), metred, metring -> meter(s), metered, metering."""
    words = {"jewellery": "jewelry", "grey": "gray", "greyer": "grayer", "cheque": "check",
             "cheques": "checks", "ageing": "aging", "mould": "mold", "moulds": "molds"}
    for british, american in {
        "metre": "meter", "kilometre": "kilometer", "centimetre": "centimeter", "millimetre": "millimeter",
        "litre": "liter", "millilitre": "milliliter", "centre": "center", "epicentre": "epicenter",
        "theatre": "theater", "fibre": "fiber", "tyre": "tire", "calibre": "caliber",
    }.items():
        words.update({british: american, british + "s": american + "s",
                      british + "d": american + "ed", british[:-1] + "ing": american + "ing"})
    for british, american in {"catalogue": "catalog", "dialogue": "dialog", "programme": "program",
                              "defence": "defense", "licence": "license", "offence": "offense"}.items():
        words.update({british: american, british + "s": american + "s"})
    return words


_BRITISH_WORDS = _british_words()


def _american_spelling(word: str) -> str:
    if word in _BRITISH_WORDS:
        return _BRITISH_WORDS[word]
    match = _BRITISH_PREFIX.match(word)
    return _BRITISH_PREFIXES[match.group(1)] + word[match.end():] if match else word


def _fold_latin_accents(text: str) -> str:
    """café -> cafe, naïve -> naive: Whisper base often writes loanwords without their accents.

    Only marks on Latin letters go; kana voicing marks (が) and other scripts keep theirs.
    """
    out: list[str] = []
    for ch in unicodedata.normalize("NFD", text):
        if unicodedata.combining(ch) and out and "a" <= out[-1] <= "z":
            continue
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


def normalize(text: str, language: str | None = None) -> list[str]:
    """Text -> comparison tokens: words (space-separated languages) or characters (CJK).

    English (and text in no known language that is not CJK): signs, addresses and markup read
    as the voice reads them (``factory.text.spell_addresses``, ``spell_symbols``: "$9/month" ->
    "9 dollars per month", "example.com" -> "example dot com", tags dropped); lower-cased,
    NFKC-folded, accents on Latin letters dropped, punctuation removed, number words as digits,
    a number said digit by digit as one token ("one eight zero zero" = "1-800" = "1800");
    contractions made one form ("here is" -> "heres", "won't" -> "will not") and British
    spellings made American. Chinese: see ``chinese_tokens``. Latin words and digit runs inside
    CJK text stay whole tokens.
    """
    lang = language_code(language) if language else None
    if is_cjk_text(text, language):
        return chinese_tokens(text) if lang in (None, "zh", "yue", "cmn", "wuu") else _cjk_tokens(text, chinese=False)
    english = lang in (None, "en")
    if english:  # on the text as written, as the voice reads it ("m²" before NFKC makes it "m2")
        text = spell_symbols(spell_addresses(text, "en"), "en")
    text = _fold_latin_accents(unicodedata.normalize("NFKC", text).lower())
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 2,000 -> 2000
    # Digits glued to letters are said apart ("SAVE10", "MP4", "5pm"); ordinals stay whole.
    text = re.sub(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])(?!(?:st|nd|rd|th)\b)", " ", text)
    text = re.sub(r"\b([ap])\.\s?m\b\.?", r"\1m", text)  # "5 p.m." as the voice's "five PM"
    if not english:
        text = re.sub(r"([$€£¥])\s*(\d+(?:\.\d+)?)", lambda m: f"{m.group(2)} {CURRENCY_WORDS[m.group(1)][1]}", text)
        text = text.replace("%", " percent ")
    words = _words(text).split()
    if english:
        words = _join_contractions([_american_spelling(w) for w in words])
    return _join_digit_runs(_decimal_points(_english_numbers_to_digits(words)))


def _decimal_points(tokens: list[str]) -> list[str]:
    """Decimals as one token, however they were said or written: "3 point 1 4" -> "3.14";
    "1 point 5000000" (one point five million) and "1.5 1000000" (1.5 million) -> "1500000"."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "point" and out and out[-1].isdigit() and i + 1 < len(tokens) and tokens[i + 1].isdigit():
            i += 1
            digits = ""
            while i < len(tokens) and re.fullmatch(r"\d", tokens[i]):
                digits += tokens[i]
                i += 1
            scaled = re.fullmatch(r"([1-9])((?:000)+)", tokens[i]) if i < len(tokens) else None
            if scaled:  # "five million" after the point: the last digit carries the scale
                out[-1] = _times_scale(f"{out[-1]}.{digits}{scaled.group(1)}", len(scaled.group(2)))
                i += 1
            elif digits:
                out[-1] += "." + digits
            else:
                out.append("point")
            continue
        if re.fullmatch(r"\d+\.\d+", token) and i + 1 < len(tokens) and re.fullmatch(r"1(?:000)+", tokens[i + 1]):
            out.append(_times_scale(token, len(tokens[i + 1]) - 1))  # 1.5 million
            i += 2
            continue
        out.append(token)
        i += 1
    return out


def _times_scale(number: str, zeros: int) -> str:
    """``number`` times 10**zeros, written without a float: ("1.25", 6) -> "1250000"."""
    whole, _, frac = number.partition(".")
    frac = frac.ljust(zeros, "0")
    return (whole + frac[:zeros]).lstrip("0") + ("." + frac[zeros:] if frac[zeros:] else "") or "0"


def _words(text: str) -> str:
    """Punctuation and signs as spaces; decimal points and apostrophes inside words kept."""
    text = re.sub(r"(?<=\d)\.(?=\d)", "\x01", text)
    text = re.sub(r"(?<=\w)['’](?=\w)", "", text)  # it's -> its, don't -> dont (both sides alike)
    text = "".join(" " if unicodedata.category(ch)[0] in "PSZC" and ch != "\x01" else ch for ch in text)
    return text.replace("\x01", ".")


def _join_digit_runs(tokens: list[str]) -> list[str]:
    """Digits read one by one ("1 8 0 0") and the same number written in groups ("1 800",
    "1-800") become one token, whichever way Whisper writes them."""
    out: list[str] = []
    for token in tokens:
        if token.isdigit() and out and out[-1].isdigit():
            out[-1] += token
        else:
            out.append(token)
    return out


# Characters Whisper and the voice write differently for the same sound or number.
_ZH_VARIANTS = str.maketrans({"两": "二", "〇": "零", "幺": "一", "兩": "二"})


def chinese_tokens(text: str) -> list[str]:
    """Chinese text -> characters to compare: traditional characters made simplified (Whisper
    base writes traditional), the text read as the voice reads it (``factory.text.read_chinese``:
    "1200万" and "一千二百万", "15%" and "百分之十五", "2026年" and "二零二六年" are the same),
    两/二 and 〇/零 as one, punctuation removed, Latin words lower-cased and kept whole."""
    import zhconv

    return _cjk_tokens(read_chinese(zhconv.convert(text, "zh-hans")).translate(_ZH_VARIANTS), chinese=True)


_CJK_OR_OTHER = re.compile(rf"{_CJK.pattern}|[^{_CJK.pattern[1:-1]}]+")
"""One CJK character, or a run of anything else (a Latin word, digits)."""


def _cjk_tokens(text: str, chinese: bool) -> list[str]:
    text = unicodedata.normalize("NFKC", text).lower()
    if not chinese:  # Japanese: kanji numerals as digits, as before
        text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
        text = ZH_NUMERAL_RUN.sub(lambda m: str(chinese_number(m.group())), text)
    tokens: list[str] = []
    for word in _words(text).split():  # CJK characters apart, Latin/digit runs whole
        tokens.extend(t for t in _CJK_OR_OTHER.findall(word) if t)
    return tokens


# --- alignment and error rates --------------------------------------------------------------


@dataclass
class EditOp:
    """One step of the alignment: ``equal``, ``substitute``, ``insert`` (only in what was heard)
    or ``delete`` (in the script, not heard)."""

    op: str
    ref: str | None
    hyp: str | None


@dataclass
class ErrorRate:
    rate: float
    """(substitutions + deletions + insertions) / reference length; can exceed 1."""
    unit: str
    """``word`` (WER) or ``char`` (CER)."""
    reference_length: int
    substitutions: int
    deletions: int
    insertions: int
    ops: list[EditOp] = field(default_factory=list)

    @property
    def name(self) -> str:
        return "WER" if self.unit == "word" else "CER"

    def differences(self) -> list[str]:
        """Readable lines for every non-matching step: 'said "60 times" instead of "sixty"'."""
        lines = []
        for op in self.ops:
            if op.op == "substitute":
                lines.append(f'heard "{op.hyp}" instead of "{op.ref}"')
            elif op.op == "delete":
                lines.append(f'missing "{op.ref}"')
            elif op.op == "insert":
                lines.append(f'extra "{op.hyp}"')
        return lines

    def to_dict(self, with_equal: bool = False) -> dict[str, Any]:
        data = asdict(self)
        data["name"] = self.name
        data["ops"] = [asdict(op) for op in self.ops if with_equal or op.op != "equal"]
        data["differences"] = self.differences()
        return data


def align(ref: list[str], hyp: list[str]) -> list[EditOp]:
    """Minimum-edit alignment (Levenshtein, unit costs) of two token lists, in order."""
    n, m = len(ref), len(hyp)
    # cost[i][j]: edits to turn ref[:i] into hyp[:j]. O(n·m) is fine for narration lengths.
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        cost[i][0] = i
    for j in range(m + 1):
        cost[0][j] = j
    for i in range(1, n + 1):
        row, prev = cost[i], cost[i - 1]
        r = ref[i - 1]
        for j in range(1, m + 1):
            row[j] = min(prev[j - 1] + (r != hyp[j - 1]), prev[j] + 1, row[j - 1] + 1)
    ops: list[EditOp] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and cost[i][j] == cost[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]):
            ops.append(EditOp("equal" if ref[i - 1] == hyp[j - 1] else "substitute", ref[i - 1], hyp[j - 1]))
            i, j = i - 1, j - 1
        elif i > 0 and cost[i][j] == cost[i - 1][j] + 1:
            ops.append(EditOp("delete", ref[i - 1], None))
            i -= 1
        else:
            ops.append(EditOp("insert", None, hyp[j - 1]))
            j -= 1
    ops.reverse()
    return ops


def error_rate(reference: str, hypothesis: str, language: str | None = None) -> ErrorRate:
    """WER, or CER for Chinese/Japanese (decided from ``language`` or the reference's script).
    In Chinese two characters that are read alike count as the same (``sounds_alike``)."""
    cjk = is_cjk_text(reference, language)
    lang = language or ("zh" if cjk else None)
    ref = normalize(reference, lang)
    hyp = normalize(hypothesis, lang)
    if cjk and language_code(lang) in ("zh", "yue", "cmn", "wuu"):
        ops = _with_tokens(align(sounds_alike(ref), sounds_alike(hyp)), ref, hyp)
    else:
        ref, hyp = _join_compounds(ref, set(hyp)), _join_compounds(hyp, set(ref))
        ops = align(ref, hyp)
    subs = sum(op.op == "substitute" for op in ops)
    dels = sum(op.op == "delete" for op in ops)
    ins = sum(op.op == "insert" for op in ops)
    errors = subs + dels + ins
    rate = errors / len(ref) if ref else (0.0 if not hyp else 1.0)
    return ErrorRate(round(rate, 4), "char" if cjk else "word", len(ref), subs, dels, ins, ops)


def _join_compounds(words: list[str], other_side: set[str]) -> list[str]:
    """Two words written as one on the other side become that word: "check out" / "checkout",
    "sign ups" / "signups" are the same speech written two ways."""
    out: list[str] = []
    i = 0
    while i < len(words):
        if i + 1 < len(words) and words[i] + words[i + 1] in other_side:
            out.append(words[i] + words[i + 1])
            i += 2
        else:
            out.append(words[i])
            i += 1
    return out


def sounds_alike(tokens: list[str]) -> list[str]:
    """Chinese characters as their syllables without tone (pypinyin, each read in its phrase):
    Whisper base often writes a character that sounds the same as the script's (税 / 睡, 附 / 付,
    辆 / 量); the voice said the right thing, so the check does not count it. Latin words and
    other tokens stay as they are."""
    from pypinyin import Style, lazy_pinyin

    keys = list(tokens)
    start = 0
    while start < len(tokens):
        if not _CJK.match(tokens[start]):
            start += 1
            continue
        end = start
        while end < len(tokens) and _CJK.match(tokens[end]):
            end += 1
        run = tokens[start:end]
        readings = lazy_pinyin("".join(run), style=Style.NORMAL, errors=lambda chars: list(chars))
        if len(readings) != len(run):  # one reading per character; be safe
            readings = [lazy_pinyin(ch, style=Style.NORMAL, errors=lambda c: list(c))[0] for ch in run]
        keys[start:end] = [f"\x02{r}" for r in readings]  # marked: never equal to a Latin word
        start = end
    return keys


def _with_tokens(ops: list[EditOp], ref: list[str], hyp: list[str]) -> list[EditOp]:
    """An alignment made on other keys, shown with the tokens themselves."""
    out: list[EditOp] = []
    i = j = 0
    for op in ops:
        if op.op in ("equal", "substitute"):
            out.append(EditOp(op.op, ref[i], hyp[j]))
            i, j = i + 1, j + 1
        elif op.op == "delete":
            out.append(EditOp("delete", ref[i], None))
            i += 1
        else:
            out.append(EditOp("insert", None, hyp[j]))
            j += 1
    return out
