"""Where scheduled work comes from: each source lists its items, each item with a stable key.

    items = read_source(SourceSpec("feed", "https://example.org/news.xml"))

Kinds (``SourceSpec.kind``) and the key that makes an item "already made":

* ``feed``      an RSS or Atom feed (http(s) URL, file URL or path)  — the entry's GUID, else its link;
* ``topics``    a fixed list of headlines, one per line               — the headline's text;
* ``folder``    a watched folder of policy documents (PDF, DOCX, HTML, TXT; uploads are saved
                into it)                                               — the SHA-256 of the file's bytes;
* ``products``  a product file (CSV or XLSX, one product per row)     — the row's content.

Reading a source never creates anything: the scheduler (``factory.scheduler``) decides which
items are new. A source that cannot be read raises ``SourceError`` with a sentence.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SOURCE_KINDS = ("feed", "topics", "folder", "products")

FEED_TIMEOUT_SECONDS = 20.0
MAX_FEED_BYTES = 20_000_000  # a feed is text; anything larger is not one


class SourceError(Exception):
    """A source that cannot be read now (network, missing file, not a feed); a sentence."""


@dataclass
class SourceSpec:
    kind: str
    """One of SOURCE_KINDS."""
    location: str
    """feed: URL or path; topics: the headlines, one per line; folder / products: a path."""

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise ValueError(f"Unknown source kind {self.kind!r}: choose one of {', '.join(SOURCE_KINDS)}.")
        if not self.location.strip():
            raise ValueError("The source is empty: give a feed URL, topics, a folder or a product file.")


@dataclass
class SourceItem:
    key: str
    """Stable identity within its source: the same key is never made twice."""
    title: str
    """Headline, file name or product name (shown in run records)."""
    summary: str = ""
    """feed: the entry's summary, as text."""
    link: str = ""
    path: Path | None = None
    """folder: the document (its text is read only when the item becomes a job)."""
    row: dict[str, Any] = field(default_factory=dict)
    """products: the row, column name -> value."""


def read_source(spec: SourceSpec, timeout: float = FEED_TIMEOUT_SECONDS) -> list[SourceItem]:
    """The items the source lists now, in its own order (a feed's newest first, as published)."""
    if spec.kind == "feed":
        return read_feed(spec.location, timeout)
    if spec.kind == "topics":
        return read_topics(spec.location)
    if spec.kind == "folder":
        return read_folder(spec.location)
    return read_products(spec.location)


def read_feed(url: str, timeout: float = FEED_TIMEOUT_SECONDS) -> list[SourceItem]:
    """Entries of an RSS/Atom feed. The bytes are fetched here (with a time limit) and parsed by
    feedparser; a feed feedparser cannot make sense of raises SourceError."""
    import feedparser

    data = _fetch(url, timeout)
    parsed = feedparser.parse(data)
    if not parsed.entries and (parsed.bozo or not parsed.get("version")):
        raise SourceError(f"{url} is not an RSS or Atom feed ({_bozo_reason(parsed)}).")
    items = []
    for entry in parsed.entries:
        key = entry.get("id") or entry.get("link") or ""
        title = _html_text(entry.get("title", ""))
        if not key:  # neither GUID nor link: the title is all there is to recognise it by
            key = "title:" + _digest(title)
        if not title:
            continue
        items.append(SourceItem(key=key[:500], title=title, summary=_html_text(entry.get("summary", "")),
                                link=entry.get("link", "")))
    return items


def read_topics(text: str) -> list[SourceItem]:
    topics = [line.strip() for line in text.splitlines() if line.strip()]
    return [SourceItem(key="topic:" + _digest(topic), title=topic) for topic in topics]


def read_folder(folder: str) -> list[SourceItem]:
    from factory.documents import document_key, is_document

    path = Path(folder).expanduser()
    if not path.is_dir():
        raise SourceError(f"The watched folder {path} does not exist or is not a folder.")
    files = sorted(p for p in path.iterdir() if p.is_file() and is_document(p) and not p.name.startswith("."))
    return [SourceItem(key=document_key(p), title=p.name, path=p) for p in files]


def save_document(folder: str | Path, file_name: str, data: bytes) -> Path:
    """Put an uploaded policy document into a watched folder (the API's and the console's
    upload): the name is reduced to its last part, the file appears whole (written aside, then
    renamed) so a scheduler never reads half of it. Raises ValueError with a sentence for a file
    type the folder does not pick up."""
    from factory.artifacts import atomic_write
    from factory.documents import DOCUMENT_SUFFIXES, is_document

    name = Path(file_name.replace("\\", "/")).name.lstrip(".") or "document.txt"
    if not is_document(name):
        raise ValueError(f"{name}: a watched folder takes {', '.join(DOCUMENT_SUFFIXES)} files.")
    return atomic_write(Path(folder).expanduser() / name, lambda tmp: Path(tmp).write_bytes(data))


def read_products(path: str) -> list[SourceItem]:
    from factory.batch import BatchFileError, read_rows

    try:
        rows = read_rows(path)
    except (BatchFileError, OSError) as exc:
        raise SourceError(f"The product file {Path(path).name} cannot be read: {exc}") from None
    items = []
    for row in rows:
        blob = json.dumps(row, sort_keys=True, ensure_ascii=False, default=str)
        items.append(SourceItem(key="row:" + _digest(blob), title=str(row.get("name") or ""), row=row))
    return items


def _fetch(url: str, timeout: float) -> bytes:
    """The feed's bytes: http(s) and file URLs, or a path."""
    import urllib.error
    import urllib.request

    if "://" not in url:
        try:
            return Path(url).expanduser().read_bytes()[:MAX_FEED_BYTES]
        except OSError as exc:
            raise SourceError(f"The feed file {url} cannot be read ({exc.strerror or exc}).") from None
    request = urllib.request.Request(url, headers={"User-Agent": "talking-factory-scheduler/1"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read(MAX_FEED_BYTES)
    except urllib.error.HTTPError as exc:
        raise SourceError(f"The feed {url} answered HTTP {exc.code} ({exc.reason}).") from None
    except urllib.error.URLError as exc:
        raise SourceError(f"The feed {url} cannot be reached ({exc.reason}).") from None
    except (TimeoutError, OSError) as exc:
        raise SourceError(f"The feed {url} did not answer in time ({exc}).") from None


def _bozo_reason(parsed: Any) -> str:
    exc = parsed.get("bozo_exception")
    return str(getattr(exc, "getMessage", lambda: exc)()) if exc else "no entries"


def _html_text(value: str) -> str:
    """Feed titles and summaries often carry HTML; the writer gets text."""
    if "<" not in value:
        return " ".join(value.split())
    from factory.documents import html_to_text

    return " ".join(html_to_text(value).split())


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
