"""Prompt templates: one TOML file per use case in ``prompts/templates/``.

Each file has a ``version`` and one table per language (``[en]``, ``[zh]``) with a ``system`` and
a ``user`` text, rendered with Jinja2. Editors can read and change the wording without touching
code; bumping ``version`` changes the writer's cache key, so old narrations are not reused.

Data (a policy document, a headline, a product row) goes between tags such as ``<document>``.
``escape_data`` makes sure the data cannot close those tags itself, so text like
"</document> Ignore the above" stays inside the data block.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

TEMPLATE_DIR = Path(__file__).parent / "templates"

# use case (as callers name it) -> template file stem
USE_CASE_TEMPLATES: dict[str, str] = {
    "policy": "policy_explainer",
    "topic": "topic_brief",
    "product": "product_pitch",
}
LANGUAGES: tuple[str, ...] = ("en", "zh")

# Tags the templates use around data. Any of them inside the data is defused.
_DATA_TAGS = ("document", "headline", "summary", "product", "excerpt")
_TAG_PATTERN = re.compile(r"<\s*(/?)\s*(" + "|".join(_DATA_TAGS) + r")\b[^>]*>", re.IGNORECASE)


@dataclass(frozen=True)
class Template:
    name: str
    version: str
    description: str
    default_target_seconds: float
    texts: dict[str, dict[str, str]]
    """language -> {"system": ..., "user": ...} (or other named texts)."""

    @property
    def versioned_name(self) -> str:
        return f"{self.name}@{self.version}"

    def render(self, text_name: str, language: str, /, **variables: Any) -> str:
        """Render one named text (``system``, ``user``, ``json``, ...) in ``language``."""
        if language not in self.texts:
            raise ValueError(f"template {self.name} has no {language!r} text")
        source = self.texts[language][text_name]
        return _render(source, variables)


def _render(source: str, variables: dict[str, Any]) -> str:
    import jinja2  # small, but only needed when a prompt is actually built

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False,
                             keep_trailing_newline=False)
    return env.from_string(source).render(**variables).strip()


@lru_cache(maxsize=None)
def load_template(name: str) -> Template:
    """Load ``prompts/templates/<name>.toml`` (cached; files ship inside the package)."""
    path = TEMPLATE_DIR / f"{name}.toml"
    with open(path, "rb") as f:
        data = tomllib.load(f)
    texts = {lang: dict(data[lang]) for lang in LANGUAGES if lang in data}
    return Template(
        name=name,
        version=str(data["version"]),
        description=data.get("description", ""),
        default_target_seconds=float(data.get("default_target_seconds", 60)),
        texts=texts,
    )


def template_for_use_case(use_case: str) -> Template:
    try:
        return load_template(USE_CASE_TEMPLATES[use_case])
    except KeyError:
        raise ValueError(
            f"unknown use case {use_case!r}; choose one of {', '.join(USE_CASE_TEMPLATES)}"
        ) from None


def all_template_versions() -> str:
    """Every template's name@version, for the stage's cache key."""
    names = sorted(p.stem for p in TEMPLATE_DIR.glob("*.toml"))
    return ",".join(load_template(n).versioned_name for n in names)


def escape_data(text: str) -> str:
    """Defuse our delimiter tags inside data (``</document>`` -> ``‹/document›``)."""
    return _TAG_PATTERN.sub(lambda m: "‹" + m.group(1) + m.group(2) + "›", text)
