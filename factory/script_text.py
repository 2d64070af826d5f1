"""One way in for script text: file bytes -> str (``decode_script``), str -> text safe to speak
(``clean_script``).

Editors save scripts from Notepad, Word, web pages and phones: UTF-8 with or without a BOM,
UTF-16 (Windows "Unicode"), sometimes with NULs, zero-width spaces or stray control characters
pasted in. Those break the TTS ("embedded null character") or end up spoken, so every script,
whatever its way in (CLI file, ``--script``, batch row, HTTP API, UI), should pass through
``clean_script``; a file first through ``decode_script`` / ``read_script_file``.

Stdlib only and cheap to import: the CLI imports it.
"""

from __future__ import annotations

import codecs
import os
import re
import unicodedata
from pathlib import Path

__all__ = ["ScriptTextError", "clean_script", "decode_script", "read_script_file"]


class ScriptTextError(ValueError):
    """A script file that cannot be read as text; the message is a sentence for an editor."""


# Longest first: the UTF-32 LE BOM starts with the UTF-16 LE one.
_BOMS: tuple[tuple[bytes, str, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)

# Control characters that are ordinary in text files; any other C0/C1 control counts as a sign
# of binary data.
_TEXT_CONTROLS = frozenset("\t\n\r\x0b\x0c")
_MAX_CONTROL_SHARE = 0.10  # more than this share of other control characters: not text

# BOM-less UTF-16 (tried only when the bytes are no UTF-8 text): Latin letters, digits, spaces
# and newlines are one NUL byte plus one ASCII byte each, so such text has NULs at every other
# byte, on one side only. Random or binary bytes have NULs on both sides or few of them, so we
# require many: at least this share of the code units, and at most a quarter as many on the
# other side (Chinese characters such as 一 U+4E00 put a NUL on the other side now and then).
# Chinese-only UTF-16 without a BOM has no NULs at all and is refused (not guessed at).
_MIN_UTF16_NUL_SHARE = 1 / 16


def decode_script(data: bytes, name: str) -> str:
    """The text of a script file's bytes; ``name`` (the file's name) is only used in messages.

    A BOM (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE) decides the encoding and is dropped. Without one,
    UTF-8 comes first; failing that, BOM-less UTF-16 is recognised when the bytes clearly are
    (many NULs, all at even or all at odd offsets). Raises ScriptTextError for bytes that are no text
    in any of these (a picture, a Word file, random bytes, GBK...). The result is not cleaned:
    pass it to ``clean_script``.
    """
    bom_label = None
    for bom, encoding, label in _BOMS:
        if data.startswith(bom):
            bom_label = bom_label or label
            try:
                text = data[len(bom):].decode(encoding)
            except UnicodeDecodeError:
                continue  # e.g. UTF-16 LE text whose first character is U+0000: try the next BOM
            _require_text(text, name)
            return text
    if bom_label is not None:
        raise ScriptTextError(f"{name} starts like {bom_label} text but is damaged: save it as UTF-8 text and try again.")

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if _control_share(text) <= _MAX_CONTROL_SHARE:
            return text
    # Not UTF-8 text: BOM-less UTF-16 LE of "Hello" is valid UTF-8 too, but half NULs.
    encoding = _bomless_utf16(data)
    if encoding is not None:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            pass
        else:
            if _control_share(text) <= _MAX_CONTROL_SHARE:
                return text
    raise ScriptTextError(_not_text(name))


def read_script_file(path: str | os.PathLike[str]) -> str:
    """``decode_script`` of a file's bytes; ScriptTextError (with the file's name) if it cannot
    be read or is no text."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ScriptTextError(f"{path.name} does not exist: check the file name and try again.") from None
    except IsADirectoryError:
        raise ScriptTextError(f"{path.name} is a folder, not a text file: choose the script file itself.") from None
    except OSError as exc:
        reason = (exc.strerror or "unknown error").lower()
        raise ScriptTextError(f"{path.name} could not be read ({reason}): check the file and try again.") from None
    return decode_script(data, path.name)


# Every line break str.splitlines knows (CR LF, CR, VT, FF, FS/GS/RS, NEL, LS, PS) -> "\n".
_LINE_BREAKS = re.compile("\r\n|[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")

# Invisible format characters that only hint at line breaking or byte order: dropping them
# changes nothing a listener or reader would notice, while left in they reach the TTS as odd
# symbols (or split a word in two). U+FEFF BOM / zero-width no-break space, U+FFFE (a
# byte-swapped BOM), U+200B zero-width space, U+2060 word joiner, U+00AD soft hyphen.
# Kept on purpose: U+200D zero-width joiner and U+200C zero-width non-joiner (they build emoji
# sequences and are part of the spelling of Persian and Indic words), variation selectors
# (emoji vs text style) and bidi marks (they set the display order of right-to-left captions).
_INVISIBLE = frozenset("\ufeff\ufffe\u200b\u2060\u00ad")


def clean_script(text: str) -> str:
    """``text`` made safe to speak, otherwise unchanged: line breaks become ``\\n``; NUL and
    other control characters except ``\\n`` and ``\\t`` are dropped, as are lone surrogates
    (a JSON ``"\\ud800"`` gives one; they cannot even be encoded) and the invisible characters
    in ``_INVISIBLE``."""
    text = _LINE_BREAKS.sub("\n", text)
    return "".join(ch for ch in text if ch in "\n\t" or not _dropped(ch))


def _dropped(ch: str) -> bool:
    return ch in _INVISIBLE or unicodedata.category(ch) in ("Cc", "Cs")


def _bomless_utf16(data: bytes) -> str | None:
    if len(data) < 2 or len(data) % 2:
        return None
    units = len(data) // 2
    nul_even, nul_odd = data[0::2].count(0), data[1::2].count(0)
    need = max(1.0, units * _MIN_UTF16_NUL_SHARE)
    if nul_odd >= need and nul_even * 4 <= nul_odd:
        return "utf-16-le"  # "A" is 41 00
    if nul_even >= need and nul_odd * 4 <= nul_even:
        return "utf-16-be"  # "A" is 00 41
    return None


def _control_share(text: str) -> float:
    if not text:
        return 0.0
    controls = sum(1 for ch in text if ch not in _TEXT_CONTROLS and unicodedata.category(ch) == "Cc")
    return controls / len(text)


def _require_text(text: str, name: str) -> None:
    if _control_share(text) > _MAX_CONTROL_SHARE:
        raise ScriptTextError(_not_text(name))


def _not_text(name: str) -> str:
    return f"{name} is not a text file: save it as UTF-8 text and try again."
