"""Policy documents in any of the formats editors receive them in -> plain text for the writer.

    text = read_document("notice.pdf")      # .pdf, .docx, .html/.htm, .txt/.md

* PDF: pypdf reads the text layer, Chinese CID fonts included (it maps glyphs through the
  Adobe CJK CMaps). A PDF with no usable text layer (a scan) is refused with a sentence: the
  factory does no OCR.
* DOCX: python-docx, paragraphs and table cells in document order.
* HTML: BeautifulSoup; scripts, styles, navigation, headers, footers and forms are dropped.
* TXT (and any other name): ``factory.script_text.decode_script`` (UTF-8/16/32 with or without
  a BOM); bytes that are no text are refused.

Every result passes through ``clean_script`` (no control characters reach the writer), and a
document with no text raises ``DocumentError`` with a sentence for the editor. The parsers are
imported inside the functions: the CLI stays light.
"""

from __future__ import annotations

import re
from pathlib import Path

from factory.script_text import ScriptTextError, clean_script, decode_script

DOCUMENT_SUFFIXES = (".pdf", ".docx", ".html", ".htm", ".txt", ".md")
"""The file types a watched folder picks up (``read_document`` also reads text files of any name)."""

# HTML elements that are page furniture, not the document's content.
_HTML_FURNITURE = ("script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form",
                   "button", "iframe", "svg")


class DocumentError(ValueError):
    """A document whose text cannot be read; the message is a sentence for an editor."""


def is_document(path: str | Path) -> bool:
    return Path(path).suffix.lower() in DOCUMENT_SUFFIXES


def document_key(path: str | Path) -> str:
    """``sha256:<hex>`` of the file's bytes: the same document under another name is the same item."""
    from factory.artifacts import file_sha256

    return f"sha256:{file_sha256(path)}"


def read_document(path: str | Path) -> str:
    """The text of a policy document, by its suffix. Raises DocumentError with a sentence.
    ``factory make --source-file`` and folder schedules read documents here."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise DocumentError(f"The document {path.name} does not exist.")
    try:
        if suffix == ".pdf":
            text = _pdf_text(path)
        elif suffix == ".docx":
            text = _docx_text(path)
        elif suffix in (".html", ".htm"):
            text = html_to_text(path.read_bytes())
        else:  # .txt, .md, or any other name: text, if its bytes are text
            text = decode_script(path.read_bytes(), path.name)
    except ScriptTextError:
        raise DocumentError(f"{path.name} is neither text nor a supported document; "
                            f"use one of {', '.join(DOCUMENT_SUFFIXES)}.") from None
    text = _tidy(clean_script(text))
    if not text:
        raise DocumentError(f"{path.name} contains no text.")
    return text


def html_to_text(html: bytes | str) -> str:
    """The readable text of an HTML page: page furniture dropped, one block per line."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(list(_HTML_FURNITURE)):
        tag.decompose()
    main = soup.find("main") or soup.find("article") or soup.body or soup
    return _tidy(main.get_text("\n"))


def _pdf_text(path: Path) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            raise DocumentError(f"{path.name} is password-protected; save an unprotected copy and upload that.")
        text = "\n".join(page.extract_text() or "" for page in reader.pages)
    except (PdfReadError, ValueError, KeyError) as exc:
        if isinstance(exc, DocumentError):
            raise
        raise DocumentError(f"{path.name} is not a readable PDF ({exc}).") from None
    if not _usable(text):
        raise DocumentError(f"{path.name} has no text layer (it looks like a scan); "
                            "the factory does not read scanned pages: upload the text instead.")
    return text


def _usable(text: str) -> bool:
    """Text with letters, and not mostly glyphs without a character (U+FFFD)."""
    letters = sum(ch.isalnum() for ch in text)
    unmapped = text.count("\ufffd")
    return letters > 0 and unmapped < letters / 10


def _docx_text(path: Path) -> str:
    import zipfile

    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError):
        # python-docx's messages name its internals (packages, parts): the editor needs only this
        raise DocumentError(f"{path.name} is not a readable Word (.docx) file; open it in Word and save it again as .docx.") from None
    # Paragraphs and tables in the order they appear in the body.
    lines: list[str] = []
    for block in document.element.body.iterchildren():
        tag = block.tag.rsplit("}", 1)[-1]
        if tag == "p":
            lines.append("".join(node.text or "" for node in block.iter() if node.tag.endswith("}t")))
        elif tag == "tbl":
            for row in block.iter():
                if row.tag.endswith("}tr"):
                    cells = ["".join(t.text or "" for t in cell.iter() if t.tag.endswith("}t"))
                             for cell in row if cell.tag.endswith("}tc")]
                    lines.append(" | ".join(c for c in cells if c.strip()))
    return "\n".join(lines)


def _tidy(text: str) -> str:
    """Trailing spaces gone, at most one blank line in a row."""
    lines = [line.strip() for line in text.splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
