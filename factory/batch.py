"""Batches: one job per row of a CSV or JSON-lines file (e-commerce catalogues, topic feeds).

Columns (header names, case-insensitive; any missing column is simply not used):

* ``script``                       — the narration as is, or
* ``topic`` (+ ``summary``)        — a short neutral narration written by the LLM, or
* ``name`` (+ ``features``, ``price``, ``promotion``, ``currency``) — a product pitch;
  ``features`` is a list in JSON lines, or ``;``-separated in CSV;
* ``image``                        — the row's own portrait (else the batch's ``--image``);
* ``language``, ``seconds``        — per row, else the batch's.

Every row becomes its own job in one batch (low queue priority, so an editor's single video
overtakes the batch). A bad row fails only its own job, with the reason on it.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factory.payloads import PRODUCT_FIELDS, WriterRequest


@dataclass
class BatchRow:
    number: int
    """1-based row number in the file (as an editor would count it)."""
    image: Path
    language: str = "en"
    script: str | None = None
    writer_request: dict[str, Any] | None = None
    """``WriterRequest.to_value()``, as ``JobService.submit`` takes it."""
    problem: str | None = None
    """Why the row cannot become a job (reported; other rows go on)."""


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a .csv (header line) or .jsonl / .json (one object per line, or a JSON list)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        return [{k.strip().lower(): (v or "").strip() for k, v in row.items() if k} for row in csv.DictReader(text.splitlines())]
    if text.lstrip().startswith("["):
        rows = json.loads(text)
    else:
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [{str(k).lower(): v for k, v in row.items()} for row in rows]


def plan_rows(rows: list[dict[str, Any]], default_image: Path | None, language: str, seconds: float | None, base: Path) -> list[BatchRow]:
    """Turn raw rows into what ``JobService.submit`` needs, noting rows that cannot be used."""
    planned = []
    for number, row in enumerate(rows, start=1):
        # Only a row's own image is relative to the rows file; --image is as the user typed it.
        image = (base / row["image"] if not Path(row["image"]).is_absolute() else Path(row["image"])) if row.get("image") else default_image
        lang = row.get("language") or language
        item = BatchRow(number=number, image=image or Path(), language=lang)
        try:
            target = float(row["seconds"]) if row.get("seconds") else seconds
        except (TypeError, ValueError):
            item.problem = f"seconds must be a number, got {row['seconds']!r}"
            planned.append(item)
            continue
        if image is None:
            item.problem = "no image: give the batch an --image or the row an image column"
        elif row.get("script"):
            item.script = str(row["script"])
        elif row.get("topic"):
            item.writer_request = WriterRequest.for_topic(row["topic"], row.get("summary"), lang, target).to_value()
        elif any(k in row for k in ("name", "features", "price")):
            # Only the product's columns: the row also holds image, language, seconds...
            # A row without a name still becomes a job: the writer refuses it with its own message.
            product = {k: row[k] for k in PRODUCT_FIELDS if k in row}
            item.writer_request = WriterRequest.for_product(product, lang, target).to_value()
        else:
            item.problem = "nothing to say: the row needs a script, a topic or a product name"
        planned.append(item)
    return planned
