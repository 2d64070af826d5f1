"""Two checks on text that goes in or comes out of the writer.

* ``find_override_attempts``: phrases in the *input* (a topic, a document, a product row) that try
  to change the model's instructions ("ignore the above and ..."). The templates already mark all
  input as data; this only records a warning on the job so an editor can see it. The narration
  is grounding-checked as usual either way.
* ``find_blocked_terms``: a deployment's list of words that must never be published (competitor
  names, banned claims, ...). Any hit in the narration, title or captions holds the job.
"""

from __future__ import annotations

import re
from pathlib import Path
from factory.text import CJK_CHAR

_OVERRIDE_PATTERNS = [
    r"\b(?:ignore|disregard|forget|override)\b[^.\n]{0,40}\b(?:above|previous|prior|earlier|preceding|all|your|system)\b[^.\n]{0,30}\b(?:instructions?|prompts?|rules?|directions?|text|messages?)\b",
    r"\bignore (?:the|everything|all) (?:above|before)\b",
    r"\byou are now\b",
    r"\b(?:new|updated) (?:system )?instructions?\s*:",
    r"\b(?:reveal|print|show|repeat) (?:your|the) (?:system )?(?:prompt|instructions)\b",
    r"\bact as\b[^.\n]{0,40}\b(?:instead|now)\b",
    r"</?\s*(?:system|document|headline|summary|product|excerpt)\s*>",
    r"(?:忽略|无视|忘记|忘掉)[^。\n]{0,10}(?:以上|上面|之前|前面|所有)[^。\n]{0,10}(?:指令|指示|内容|规则|要求|提示)",
    r"(?:你现在是|从现在开始你是|新的指令[:：])",
]
_OVERRIDE = [re.compile(p, re.IGNORECASE) for p in _OVERRIDE_PATTERNS]


def find_override_attempts(text: str) -> list[str]:
    """The phrases in ``text`` that look like attempts to override the instructions."""
    hits: list[str] = []
    for pattern in _OVERRIDE:
        for m in pattern.finditer(text):
            phrase = m.group(0).strip()
            if phrase not in hits:
                hits.append(phrase)
    return hits


def load_blocked_terms(terms: list[str] | tuple[str, ...] | str | None = None,
                       terms_file: str | Path | None = None) -> list[str]:
    """Terms from a list (or a comma-separated string) and/or a file with one term a line
    (``#`` starts a comment)."""
    out: list[str] = []
    if isinstance(terms, str):
        terms = terms.split(",")
    for term in terms or ():
        if term.strip():
            out.append(term.strip())
    if terms_file:
        for line in Path(terms_file).read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                out.append(line)
    return list(dict.fromkeys(out))


def find_blocked_terms(text: str, blocked: list[str]) -> list[str]:
    """The blocked terms that occur in ``text``: whole words, case-insensitive, for Latin-script
    terms ("free" does not hit "freedom"); plain substring for Chinese terms (no spaces there)."""
    hits: list[str] = []
    for term in blocked:
        if CJK_CHAR.search(term):
            found = term in text
        else:
            found = re.search(r"(?<!\w)" + re.escape(term) + r"(?!\w)", text, re.IGNORECASE) is not None
        if found:
            hits.append(term)
    return hits
