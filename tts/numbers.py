"""Numbers to words, written out for a voice to read (English; Chinese numerals are read by
``factory.text``, which the transcript check shares).

Our own small implementation (no dependency): the text normaliser needs only cardinals,
ordinals, decimals, years and digit-by-digit reading, and knowing exactly what is said
matters for the QA step, which compares Whisper's transcript with the script.
"""

from __future__ import annotations

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
# Short scale, as used in US and modern British English.
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))

_ORDINAL_WORDS = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
    "nine": "ninth", "twelve": "twelfth",
}


def _below_thousand(n: int) -> str:
    words = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        words.append(f"{_ONES[hundreds]} hundred")
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(_TENS[tens] + (f"-{_ONES[ones]}" if ones else ""))
    elif rest or not hundreds:
        words.append(_ONES[rest])
    return " ".join(words)


def cardinal(n: int) -> str:
    """1250 -> 'one thousand two hundred fifty' (US style: no 'and'); negatives say 'minus'."""
    if n < 0:
        return "minus " + cardinal(-n)
    if n < 1000:
        return _below_thousand(n)
    if n >= 10**15:  # beyond "trillions" people read digits anyway
        return digits(str(n))
    words = []
    for value, name in _SCALES:
        count, n = divmod(n, value)
        if count:
            words.append(f"{cardinal(count)} {name}")
    if n:
        words.append(_below_thousand(n))
    return " ".join(words)


def ordinal(n: int) -> str:
    """22 -> 'twenty-second', 103 -> 'one hundred third'."""
    words = cardinal(n)
    # Only the last word changes: "twenty-one" -> "twenty-first", "hundred" -> "hundredth".
    head, sep, last = words.rpartition("-" if "-" in words.split(" ")[-1] else " ")
    if last in _ORDINAL_WORDS:
        last = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return head + sep + last


def digits(text: str) -> str:
    """'0421' -> 'zero four two one' (phone numbers, decimals after the point)."""
    return " ".join(_ONES[int(ch)] for ch in text if ch.isdigit())


def decimal(text: str) -> str:
    """'3.14' -> 'three point one four'; '-0.5' -> 'minus zero point five'."""
    sign = ""
    if text.startswith("-"):
        sign, text = "minus ", text[1:]
    whole, _, frac = text.partition(".")
    spoken = cardinal(int(whole.replace(",", "") or "0"))
    if frac:
        spoken += " point " + digits(frac)
    return sign + spoken


def year(n: int) -> str:
    """Years as people say them: 1999 -> 'nineteen ninety-nine', 2005 -> 'two thousand five',
    2024 -> 'twenty twenty-four', 1900 -> 'nineteen hundred', 1805 -> 'eighteen oh five'."""
    if not 1000 <= n <= 9999:
        return cardinal(n)
    high, low = divmod(n, 100)
    if n % 1000 == 0 or (2000 <= n <= 2009):
        return cardinal(n)
    if low == 0:
        return f"{cardinal(high)} hundred"
    if low < 10:
        return f"{cardinal(high)} oh {_ONES[low]}"
    return f"{cardinal(high)} {cardinal(low)}"


def plural_year(n: int) -> str:
    """1990 -> 'nineteen nineties' (for '1990s')."""
    words = year(n)
    head, sep, last = words.rpartition(" ")
    last = last[:-1] + "ies" if last.endswith("y") else last + "s"
    return head + sep + last
