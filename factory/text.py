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


_LATIN_WORD = re.compile(r"[A-Za-z]+")
_LANGUAGE_NAMES = {"en": ("English", "英语"), "zh": ("Chinese", "中文")}


def written_language(text: str) -> str | None:
    """"zh" for text written mostly in Chinese characters, "en" for text in Latin letters, None
    for text with neither (digits, symbols). Each Chinese character and each Latin word counts
    once, so a Chinese script may name an English brand and an English one a Chinese term."""
    han, latin = len(CJK_CHAR.findall(text)), len(_LATIN_WORD.findall(text))
    if not han and not latin:
        return None
    return "zh" if han >= latin else "en"


def language_mismatch(text: str, language: str | None) -> tuple[str, str] | None:
    """None when a ``language`` voice can read ``text``; else why not, in English and Chinese
    (a Chinese script for an English narration, whose voice would spell out each character,
    or the reverse)."""
    written, chosen = written_language(text), language_code(language)
    if written is None or written == chosen or chosen not in _LANGUAGE_NAMES:
        return None
    (written_en, written_zh), (chosen_en, chosen_zh) = _LANGUAGE_NAMES[written], _LANGUAGE_NAMES[chosen]
    return (f"The script is written in {written_en}, but the narration language is {chosen_en}: "
            f"choose {written_en} as the language, or write the script in {chosen_en}.",
            f"讲稿是用{written_zh}写的，但讲稿语言选的是{chosen_zh}：请把语言改为{written_zh}，或用{chosen_zh}写讲稿。")


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


def zh_digits(text: str) -> str:
    """'2024' -> '二零二四': years, phone numbers and codes are read digit by digit."""
    return "".join(_ZH_DIGIT_CHARS[int(ch)] for ch in text if ch.isdigit())


_ZH_DIGIT_CHARS = "零一二三四五六七八九"
_ZH_SMALL_UNIT_CHARS = ("", "十", "百", "千")
_ZH_BIG_UNIT_CHARS = ("", "万", "亿", "万亿")


def _zh_below_10000(n: int) -> str:
    out = []
    zero_pending = False
    for position in range(3, -1, -1):
        d = (n // 10**position) % 10
        if d == 0:
            zero_pending = bool(out)
            continue
        if zero_pending:
            out.append("零")
            zero_pending = False
        out.append(_ZH_DIGIT_CHARS[d] + _ZH_SMALL_UNIT_CHARS[position])
    return "".join(out)


def zh_cardinal(n: int) -> str:
    """2024 -> '二千零二十四', 10 -> '十', 100010 -> '十万零一十' (the standard reading)."""
    if n < 0:
        return "负" + zh_cardinal(-n)
    if n == 0:
        return "零"
    groups = []
    rest = n
    while rest:
        rest, group = divmod(rest, 10000)
        groups.append(group)
    if len(groups) > len(_ZH_BIG_UNIT_CHARS):
        return zh_digits(str(n))
    out = ""
    need_zero = False
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            need_zero = bool(out)
            continue
        if out and (need_zero or group < 1000):
            out += "零"
        out += _zh_below_10000(group) + _ZH_BIG_UNIT_CHARS[index]
        need_zero = False
    # 10-19 are read 十, 十一 ... not 一十一 when they lead the number.
    if out.startswith("一十"):
        out = out[1:]
    return out


def zh_decimal(text: str) -> str:
    """'3.14' -> '三点一四', '-0.5' -> '负零点五', '1,200' -> '一千二百'."""
    sign = ""
    if text.startswith("-"):
        sign, text = "负", text[1:]
    whole, _, frac = text.replace(",", "").partition(".")
    spoken = zh_cardinal(int(whole or "0"))
    if frac:
        spoken += "点" + zh_digits(frac)
    return sign + spoken


# --- how symbols, addresses and markup are read: the voice and the transcript check alike ------
#
# The speaker (tts/normalize.py) reads a script with these rules before it turns digits into
# words; the transcript check (qa/text_metrics.py) applies the same rules to the script and to
# Whisper's transcript, so "$9/month", "Q&A", "example.com" and "<break time='2s'/>" are
# expected exactly as the voice said them, whichever way Whisper writes them back.

_ADDRESS_WORDS = {
    "en": {"dot": " dot ", "slash": " slash ", "at": " at ", "number": "number ", "sharp": " sharp"},
    "zh": {"dot": "点", "slash": "斜杠", "at": "艾特", "number": "", "sharp": " sharp"},
}
_TAG = re.compile(r"</?[A-Za-z][\w:.-]*(?:\s[^<>]*)?/?>")
_ENTITY = re.compile(r"&(?:[A-Za-z]{2,8}|#\d{1,6}|#x[0-9A-Fa-f]{1,5});")
_MARKDOWN_LINK = re.compile(r"!?\[([^\]]*)\]\([^()\s]*\)")
_ADDRESS_END = r"[^\s<>\"'()\[\]{}\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\u3400-\u9fff]"
_TLDS = (
    "com|org|net|edu|gov|mil|int|io|ai|co|uk|us|cn|de|fr|jp|eu|info|biz|app|dev|tv|me|ly|xyz|"
    "online|site|tech|news|hk|tw|sg|au|ca|in|nz|ru|es|it|nl|ch|se|be|pl|br|kr|shop|store|cloud"
)
# With a scheme or www. anything goes; a bare host needs a known top-level domain, so "Node.js"
# and "e.g." stay words.
_URL = re.compile(
    rf"(?:https?://|www\.){_ADDRESS_END}+"
    rf"|(?<![A-Za-z0-9@._-])(?:[A-Za-z0-9-]+\.)+(?:{_TLDS})(?![A-Za-z0-9-])(?:/{_ADDRESS_END}*)?",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_HASHTAG = re.compile(r"(?<![\w&#])#([^\W\d_]\w*)#?")
# Groups of digits joined by hyphens or spaces, maybe with +country and (area) code.
_DIGIT_GROUPS = re.compile(r"(?<![A-Za-z0-9+.,-])(\+\d{1,3}[\s-]?)?(\(\d{1,4}\)\s?)?\d{1,8}(?:[\s-]\d{1,8})+(?![\w-]|[.,]\d)")


def is_phone_like(text: str) -> bool:
    """Digit groups that are read digit by digit (phone numbers, hotlines, codes): +86 138 1234
    5678, (010) 1234-5678, 1-800-555-0199, 555-0199, 010-12345678. Not a year range (2020-2025),
    an ISO date or a few numbers in a row."""
    digits = re.sub(r"\D", "", text)
    if len(digits) < 7:
        return False
    if text.lstrip().startswith(("+", "(")):
        return True
    groups = re.split(r"[\s-]+", text.strip())
    if re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", text.strip()):
        return False
    if "-" in text:
        # Two 4-digit groups are a range of years or amounts, not a number to dial.
        return not (len(groups) == 2 and all(len(g) == 4 for g in groups))
    # Space-separated groups only: a mobile or local number as people write it (138 1234 5678).
    return len(groups[0]) <= 3 and groups[0][0] in "01" and all(2 <= len(g) <= 4 for g in groups)


def _read_host_and_path(address: str, language: str) -> str:
    words = _ADDRESS_WORDS[language]
    address = re.sub(r"^(?:https?://)?(?:www\.)?", "", address, flags=re.IGNORECASE)
    address = re.split(r"[?#]", address, maxsplit=1)[0].rstrip("/")
    parts = [words["dot"].join(p for p in segment.split(".") if p) for segment in address.split("/")]
    return re.sub(r"[-_]+", " ", words["slash"].join(p for p in parts if p))


def _read_email(address: str, language: str) -> str:
    local, _, host = address.partition("@")
    local = re.sub(r"[-_+%]+", " ", _ADDRESS_WORDS[language]["dot"].join(local.split(".")))
    return f"{local}{_ADDRESS_WORDS[language]['at']}{_read_host_and_path(host, language)}"


def _split_camel_case(word: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])", " ", word)


def read_digit_groups(text: str, language: str) -> str:
    """Phone-like digit groups (``is_phone_like``) digit by digit, with a pause between groups:
    "1-800-555-0199" -> "1 8 0 0, 5 5 5, 0 1 9 9"; in Chinese "010-1234" -> "零一零，一二三四"."""

    def read(m: re.Match) -> str:
        if not is_phone_like(m.group(0)):
            return m.group(0)
        groups = [g for g in re.split(r"\D+", m.group(0)) if g]
        if language == "zh":
            return "，".join(zh_digits(g) for g in groups)
        return ", ".join(" ".join(g) for g in groups)

    return _DIGIT_GROUPS.sub(read, text)


def spell_addresses(text: str, language: str = "en") -> str:
    """Markup dropped and addresses read as words (``language`` "en" or "zh"):

    tags (``<break time="2s"/>``, ``<b>``) and HTML entities go; a markdown link keeps its text;
    e-mail addresses and URLs are read ("sales@acme.io" -> "sales at acme dot io",
    "https://www.example.com/pricing" -> "example dot com slash pricing"; scheme, www., query
    dropped); hashtags lose their sign ("#SmallBusiness" -> "Small Business", "#乡村振兴#" ->
    "乡村振兴"), "#1" is "number 1"; phone-like digit groups are read digit by digit.
    """
    import html

    language = "zh" if language_code(language) == "zh" else "en"
    words = _ADDRESS_WORDS[language]
    text = _MARKDOWN_LINK.sub(r"\1", text)
    text = _TAG.sub(" ", text)
    text = _ENTITY.sub(lambda m: html.unescape(m.group(0)), text)
    text = _EMAIL.sub(lambda m: f" {_read_email(m.group(0), language)} ", text)

    def url(m: re.Match) -> str:
        address = m.group(0)
        trail = re.search(r"[.,;:!?]+$", address)  # the sentence's own punctuation
        if trail:
            address = address[: trail.start()]
        return f" {_read_host_and_path(address, language)} " + (trail.group(0) if trail else "")

    text = _URL.sub(url, text)
    text = re.sub(r"\b([CF])#(?!\w)", lambda m: m.group(1) + words["sharp"], text)  # C#, F#
    text = re.sub(r"(?<![\w&])#(?=\d)", words["number"], text)
    text = _HASHTAG.sub(lambda m: " " + _split_camel_case(m.group(1)) + " ", text)
    return read_digit_groups(text, language)


# Money: sign -> (one, many, one of the hundredth, many of the hundredth) in English.
CURRENCY_WORDS = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "¥": ("yen", "yen", None, None),
}
_SCALES = {"k": "thousand", "m": "million", "bn": "billion", "thousand": "thousand",
           "million": "million", "billion": "billion", "trillion": "trillion"}
_SILENT_SYMBOLS = re.compile(r"[*_#`~|<>\[\]{}\\^$€£¥￥]")
"""Markdown and signs with no amount: a voice would read "asterisk", "dollar"."""


def _english_money(m: re.Match) -> str:
    one, many, sub_one, sub_many = CURRENCY_WORDS[m.group(1)]
    whole, frac, scale = m.group(2), m.group(3), m.group(4)
    if scale:  # "$1.5 million" -> "1.5 million dollars"
        return f"{whole}{frac or ''} {_SCALES[scale.lower()]} {many}"
    number = int(whole.replace(",", ""))
    cents = int(frac[1:]) if frac and len(frac) == 3 and sub_one else None
    if frac and cents is None:
        return f"{whole}{frac} {many}"
    parts = []
    if number or not cents:
        parts.append(f"{whole} {one if number == 1 else many}")
    if cents:
        parts.append(f"{cents} {sub_one if cents == 1 else sub_many}")
    return " and ".join(parts)


def spell_symbols(text: str, language: str = "en") -> str:
    """Signs read as words, digits left as digits (English; Chinese has its own rules in
    ``read_chinese``): "$9/month" -> "9 dollars per month", "$1.5m" -> "1.5 million dollars",
    "45%" -> "45 percent", "20°C" -> "20 degrees Celsius", "20 m²" -> "20 square meters",
    "Q&A" -> "Q and A", "x = 5" -> "x equals 5", "C++" -> "C plus plus", "2x" -> "2 times",
    "5/3" -> "5 slash 3", "24/7" -> "24 7", "and/or" -> "and or", "his/her" -> "his or her",
    "A/B" -> "A B"; markdown and signs without an amount are dropped."""
    if language_code(language) == "zh":
        return _zh_symbols(text)
    text = re.sub(r"([=*_~-])\1{2,}", " ", text)  # markdown rules and underlines: ---, ===
    text = re.sub(
        r"([$€£¥])\s?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?:\s?(thousand|million|billion|trillion|bn|k|m)\b)?",
        _english_money, text, flags=re.IGNORECASE)
    text = re.sub(r"(\d)\s?€", r"\1 euros", text)  # 5 € (European order)
    text = re.sub(r"(\d)\s?%", r"\1 percent", text)
    text = re.sub(r"(\d)\s?(?:°\s?C\b|℃)", r"\1 degrees Celsius", text)
    text = re.sub(r"(\d)\s?(?:°\s?F\b|℉)", r"\1 degrees Fahrenheit", text)
    text = re.sub(r"(\d)\s?°", r"\1 degrees", text)
    text = re.sub(r"(?<=\d)\s?(km|m)(²|³)", lambda m: f" {'square' if m.group(2) == '²' else 'cubic'} "
                  f"{'kilometers' if m.group(1) == 'km' else 'meters'}", text)
    text = re.sub(r"(?<=\d)\s?km/h\b", " kilometers per hour", text)
    text = re.sub(r"\b24\s?/\s?7\b", "24 7", text)  # round the clock
    text = re.sub(r"(?<=\d)\s?/\s?(?=\d)", " slash ", text)
    text = re.sub(r"\band/or\b", "and or", text, flags=re.IGNORECASE)
    text = re.sub(r"(\d(?:[\d,.]*\d)?(?:\s?[A-Za-z]+)?)\s?/\s?(?=[A-Za-z])", r"\1 per ", text)  # $9/month
    text = re.sub(r"\b([a-z]+)/([a-z]+)\b", r"\1 or \2", text)  # his/her, yes/no
    text = text.replace("/", " ")  # A/B, TCP/IP: a short pause
    text = text.replace("&", " and ").replace("@", " at ")
    text = re.sub(r"(?<=\w)\+\+", " plus plus ", text)
    text = re.sub(r"\s?\+\s?(?=[\w(])|(?<=\w)\+", " plus ", text)
    text = re.sub(r"\s?=\s?", " equals ", text)
    text = re.sub(r"\s?±\s?", " plus or minus ", text)
    text = re.sub(r"(?<=\d)\s?[×x]\s?(?=\d)", " times ", text)
    text = re.sub(r"(?<=\d)[×x](?![\w])", " times", text)  # 2x faster
    text = re.sub(r"~\s?(?=\d)", "about ", text)
    text = re.sub(r"(?<=[\w\s])(?:>=|≥)\s?(?=[\w$])", " at least ", text)
    text = re.sub(r"(?<=[\w\s])(?:<=|≤)\s?(?=[\w$])", " at most ", text)
    text = re.sub(r"(?<=[\w\s])>\s?(?=\d)", " more than ", text)
    text = re.sub(r"(?<=[\w\s])<\s?(?=\d)", " less than ", text)
    return _SILENT_SYMBOLS.sub(" ", text)


# --- Chinese: how a script is read aloud ---------------------------------------------------

_FULL_WIDTH = str.maketrans(
    {chr(0xFF10 + i): str(i) for i in range(10)}
    | {chr(0xFF21 + i): chr(0x41 + i) for i in range(26)}
    | {chr(0xFF41 + i): chr(0x61 + i) for i in range(26)}
    | dict(zip("％＄￥＆＝＋＠＃／．－～＜＞", "%$¥&=+@#/.-~<>"))
)
"""Full-width letters, digits and signs as their ASCII forms; Chinese punctuation (，。：) stays."""

_ZH_NUMBER = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_ZH_UNITS = {
    "km²": "平方公里", "km2": "平方公里", "㎢": "平方公里", "cm²": "平方厘米", "m²": "平方米", "m2": "平方米",
    "㎡": "平方米", "m³": "立方米", "m3": "立方米", "㎥": "立方米", "km/h": "公里每小时", "m/s": "米每秒",
    "kW·h": "千瓦时", "kWh": "千瓦时", "kwh": "千瓦时", "mAh": "毫安时", "kW": "千瓦", "kw": "千瓦",
    "MW": "兆瓦", "GW": "吉瓦", "W": "瓦", "kV": "千伏", "V": "伏", "mA": "毫安",
    "km": "公里", "㎞": "公里", "cm": "厘米", "㎝": "厘米", "mm": "毫米", "㎜": "毫米", "nm": "纳米", "m": "米",
    "kg": "公斤", "㎏": "公斤", "mg": "毫克", "㎎": "毫克", "g": "克", "t": "吨",
    "ml": "毫升", "mL": "毫升", "㎖": "毫升", "L": "升",
    "GHz": "吉赫兹", "MHz": "兆赫兹", "kHz": "千赫兹", "Hz": "赫兹", "dB": "分贝", "MPa": "兆帕", "kPa": "千帕", "Pa": "帕",
    "℃": "摄氏度", "°C": "摄氏度", "℉": "华氏度", "°F": "华氏度", "°": "度",
    "ms": "毫秒", "min": "分钟", "h": "小时",
}
"""Units read in Chinese after a number ("5km" -> "五公里"). Latin abbreviations that Chinese
speakers say as letters (5G, GB, 4K, 5A) are not units here and stay for the voice."""
_ZH_UNIT = "|".join(re.escape(u) for u in sorted(_ZH_UNITS, key=len, reverse=True))
_ZH_CURRENCY = {"¥": "元", "$": "美元", "€": "欧元", "£": "英镑", "HK$": "港元", "US$": "美元", "NT$": "新台币"}
_ZH_PER = "月|年|天|日|周|小时|分钟|次|人|户|公斤|斤|千克|克|平方米|吨|件|台|个|份|亩|公里|米|立方米|升|度|张|瓶|盒|箱|袋|套|间"
# A digit string after one of these words (or before 热线) is a number to dial or type.
_ZH_CODE_WORDS = (
    "电话|手机|热线|号码|编号|代码|账号|帐号|卡号|证号|身份证|邮编|工号|学号|订单号|验证码|房间|拨打|致电|"
    "QQ|微信|传真|尾号|批准文号|车次|航班"
)
# Measure words after which 2 is read 两 ("2个" -> "两个", but "2月", "第2", "12个" keep 二).
_ZH_LIANG = "个|位|名|种|次|家|辆|项|条|台|件|天|周|小时|分钟|倍|岁|人|本|张|只|套|批|所|座|口|双|对|份|块|层|场|轮|届|期|款|元|万|亿|千|点|年(?!级)"


def _zh_date(m: re.Match) -> str:
    year, month, day = m.group(1), int(m.group(2)), int(m.group(3))
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return m.group(0)
    return f"{zh_digits(year)}年{month}月{day}日"


def _zh_dates_and_times(text: str) -> str:
    text = re.sub(r"(?<![\d.])(\d{4})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{1,2})(?![\d.])", _zh_date, text)
    text = re.sub(r"(?<![\d.])(1[5-9]\d\d|20\d\d)\s*[-~至到]\s*(1[5-9]\d\d|20\d\d)(?=\s*年)",
                  lambda m: f"{zh_digits(m.group(1))}至{zh_digits(m.group(2))}", text)
    # A year is read digit by digit (2026年 -> 二零二六年); "10年" (ten years) is a number.
    text = re.sub(r"(?<![\d.])(1[5-9]\d\d|20\d\d)(?=\s*(?:年|版|款|届|级|财年|赛季|学年))",
                  lambda m: zh_digits(m.group(1)), text)

    def clock(m: re.Match) -> str:
        hour, minute, second = int(m.group(1)), int(m.group(2)), m.group(3)
        spoken = f"{hour}点"
        if minute or second:
            spoken += f"{'零' if minute < 10 else ''}{minute}分"
        if second:
            spoken += f"{int(second)}秒"
        return spoken

    text = re.sub(r"(?<![\d.])([01]?\d|2[0-4])[:：]([0-5]\d)(?:[:：]([0-5]\d))?(?!\d)", clock, text)
    text = re.sub(r"(?<![\d.])([01]?\d|2[0-4])\.([0-5]\d)()\s*分", clock, text)  # 17.30分, as Whisper writes it
    return re.sub(r"(?<![\d.])(\d+)\s*[:：]\s*(\d+)(?![\d.])", r"\1比\2", text)  # 3:2 -> 三比二


def _zh_codes(text: str) -> str:
    read = lambda m: zh_digits(m.group(1)) + (m.group(2) or "")  # noqa: E731  (X of an ID card kept)
    text = re.sub(rf"((?:{_ZH_CODE_WORDS})[^\d\n。！？，,；;]{{0,6}}?)(\d{{3,}})([Xx])?(?![\d.,]|\s*(?:元|万|亿|千|百|%|个|人|年|月|日))",
                  lambda m: m.group(1) + zh_digits(m.group(2)) + (m.group(3) or ""), text)
    text = re.sub(r"(?<![\d.])(\d{3,})()(?=\s*(?:服务)?(?:热线|专线))", read, text)
    text = re.sub(r"(?<![\d.])(1[3-9]\d{9})()(?![\d.])", read, text)  # a mobile number
    text = re.sub(r"(?<![\d.,])(\d{12,}|\d{17}(?=[Xx]))([Xx])?(?![\d.])", read, text)  # IDs, account numbers
    # 007, 0571: a leading zero means a code (but 03月, 05日 are dates).
    return re.sub(r"(?<![\d.,])(0\d{2,}|0\d(?!\s*[月日号时点分秒]))()(?![\d.,])", read, text)


def _zh_money(text: str) -> str:
    def prefixed(m: re.Match) -> str:
        name = _ZH_CURRENCY[m.group(1)]
        return f"{m.group(2)}{m.group(3) or ''}{name}"

    text = re.sub(rf"(HK\$|US\$|NT\$|[¥$€£])\s*({_ZH_NUMBER})\s*(万亿|亿|万|千)?(?:\s*元)?", prefixed, text)

    def yuan(m: re.Match) -> str:  # 12.50元 -> 12元5角, 0.05元 -> 5分
        whole, cents = int(m.group(1).replace(",", "")), m.group(2).ljust(2, "0")
        jiao, fen = int(cents[0]), int(cents[1])
        spoken = f"{whole}元" if whole or not (jiao or fen) else ""
        if jiao:
            spoken += f"{jiao}角"
        if fen:
            spoken += ("零" if whole and not jiao else "") + f"{fen}分"
        return spoken

    return re.sub(r"(?<![\d.])(\d{1,3}(?:,\d{3})+|\d+)\.(\d{1,2})\s*元", yuan, text)


def _zh_percent_and_units(text: str) -> str:
    number = _ZH_NUMBER
    text = re.sub(rf"({number})\s*%?\s*[-~至到]\s*({number})\s*%", r"百分之\1至\2", text)
    text = re.sub(rf"(?<![A-Za-z0-9])-\s*({number})\s*%", r"负百分之\1", text)
    text = re.sub(rf"({number})\s*%", r"百分之\1", text)
    text = re.sub(rf"({number})\s*‰", r"千分之\1", text)
    text = re.sub(rf"(?<![A-Za-z0-9])-\s*({number})\s*(?:℃|°C)", r"零下\1摄氏度", text)
    text = re.sub(rf"([\d\u4e00-\u9fff])\s*/\s*({_ZH_UNIT})(?![A-Za-z])",
                  lambda m: m.group(1) + "每" + _ZH_UNITS[m.group(2)], text)  # 元/kg -> 元每公斤
    text = re.sub(rf"(\d)\s*({_ZH_UNIT})(?![A-Za-z0-9²³])", lambda m: m.group(1) + _ZH_UNITS[m.group(2)], text)
    return re.sub(r"(?<![\d/.])(\d+)/(\d+)(?![\d/])", r"\2分之\1", text)  # 1/3 -> 三分之一


def _zh_symbols(text: str) -> str:
    text = re.sub(r"([=*_~-])\1{2,}", " ", text)  # markdown rules: ---, ===
    text = re.sub(r"(?<=[%\d年月日号点万亿千百])\s*[-–~]\s*(?=\d|[零一二三四五六七八九十])", "至", text)  # ranges
    text = re.sub(rf"(?<=[\u4e00-\u9fff\d])\s*/\s*(?={_ZH_PER})", "每", text)
    words = {"&": "和", "=": "等于", "@": "艾特", "×": "乘", "÷": "除以", "±": "正负", "≈": "约等于",
             ">=": "大于等于", "≥": "大于等于", "<=": "小于等于", "≤": "小于等于", ">": "大于", "<": "小于"}
    text = re.sub(r">=|<=|[&=@×÷±≈≥≤<>]", lambda m: words[m.group(0)], text)
    text = re.sub(r"\+(?=\s*[\w(])|(?<=\w)\+", "加", text)
    text = re.sub(r"~\s*(?=\d)", "约", text)
    text = re.sub(r"(?<=[A-Za-z0-9])-(?=[A-Za-z0-9])", " ", text)  # COVID-19, GPT-4
    text = re.sub(r"(?<![A-Za-z0-9\d])-(?!\s*\d)", " ", text)
    return _SILENT_SYMBOLS.sub(" ", text.replace("/", " ").replace("%", " "))


def _zh_numbers(text: str) -> str:
    text = re.sub(rf"(?<![\d.第])2(?=\s*(?:{_ZH_LIANG}))", "两", text)

    def number(m: re.Match) -> str:
        sign = "负" if m.group(1) else ""  # _zh_symbols left "-" only where it is a minus sign
        whole, rest = m.group(2), m.group(3) or ""
        if rest.count(".") > 1:  # a version: 3.5.1 -> 三点五点一
            return sign + "点".join(zh_cardinal(int(p)) for p in (whole + rest).replace(",", "").split("."))
        return sign + zh_decimal(whole + rest)

    return re.sub(r"(-)?(\d{1,3}(?:,\d{3})+(?!\d)|\d+)((?:\.\d+)+)?", number, text)


def read_chinese(text: str) -> str:
    """A Chinese script as it is read aloud, with no Arabic digits or signs left: years digit by
    digit (2026年3月5日 -> 二零二六年三月五日), dates, clock times and ratios, percentages
    (15% -> 百分之十五), decimals, money (¥1200 -> 一千二百元, 12.5元 -> 十二元五角, 3.5亿元,
    $5 -> 五美元), phone numbers, IDs and codes digit by digit, units after a number (5km,
    120㎡, -5℃), fractions, ranges (3-5年 -> 三至五年), 2 as 两 before a measure word, signs
    (& = + @ / ~ > <) in words. Latin abbreviations and brand names stay as written for the
    voice (GDP, iPhone 15 -> iPhone 十五, 5G -> 五G). Addresses and markup as ``spell_addresses``."""
    text = text.translate(_FULL_WIDTH)
    text = re.sub(r"(?<=\d)\s*[—–]+\s*(?=\d)", "-", text)
    text = spell_addresses(text, "zh")
    text = _zh_dates_and_times(text)
    text = _zh_codes(text)
    text = _zh_money(text)
    text = _zh_percent_and_units(text)
    text = _zh_symbols(text)
    return _zh_numbers(text)
