"""What the console says about a job, computed without Streamlit (easy to test).

* ``stage_lines`` — one line per stage of the job's plan: waiting, running (with the live
  fraction when this process runs it), done / cached with seconds, failed with the reason;
* ``qa_view``    — the QA stage's verdict and numbers (``values["qa"]``, or kept with a review);
* ``job_rows``   — the job list as table rows (title = first words of the narration);
* ``difference_lines`` — what Whisper heard differently from the script, as sentences;
* ``models_of``  — the models and licences a job used (``values["models"]``).

Every word for people comes from ``ui.i18n`` (``tr``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from factory.dispatch import StageProgress
from factory.store import Job, JobStatus, StageRun
from factory.text import CJK_CHAR
from ui.i18n import Texts

STAGE_MARKS: dict[str, str] = {
    "waiting": "·",
    "not_run": "–",
    "running": "⚙️",
    "done": "✅",
    "cached": "✅",
    "failed": "❌",
    "error": "⚠️",
    "review": "🚩",
    "rerun": "↺",
}


def first_line(text: str | None, limit: int = 160) -> str:
    """The first line of an error, shortened (tracebacks stay in the detail view)."""
    if not text:
        return ""
    line = text.strip().splitlines()[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass
class StageLine:
    stage: str
    state: str
    """waiting | running | done | cached | failed | error | review | rerun | not_run (the job
    ended before this stage)"""
    seconds: float | None = None
    """Time of the latest attempt (all finished attempts summed in ``total_seconds``)."""
    total_seconds: float = 0.0
    attempts: int = 0
    fraction: float | None = None
    """Live progress of a running stage, when known."""
    note: str = ""
    error: str | None = None

    @property
    def mark(self) -> str:
        return STAGE_MARKS.get(self.state, "·")

    def summary(self, tr: Texts) -> str:
        """One line for people: "✅ render — done (cache hit) in 12.3 s"."""
        text = f"{self.mark} {tr.stage(self.stage)} — {tr('run.' + self.state)}"
        if self.state == "running":
            if self.fraction is not None:
                text += f" {self.fraction * 100:.0f}%"
            if self.note:
                text += f" ({self.note})"
        elif self.state not in ("waiting", "not_run") and self.seconds is not None:
            text += " " + tr("run.in_seconds", seconds=self.seconds)
        if self.attempts > 1:
            text += tr("run.attempt", attempt=self.attempts)
        return text


ENDED_SHORT = frozenset({JobStatus.FAILED, JobStatus.DEAD, JobStatus.CANCELLED})
"""Job states that never reach their remaining stages (a held job may still publish)."""


def stage_lines(job: Job, runs: Iterable[StageRun], live: Mapping[str, StageProgress] | None = None) -> list[StageLine]:
    """The job's plan, stage by stage, from its recorded runs plus live progress (if any)."""
    live = live or {}
    by_stage: dict[str, list[StageRun]] = {}
    for run in runs:
        by_stage.setdefault(run.stage, []).append(run)
    lines = []
    for stage in job.plan:
        attempts = by_stage.get(stage, [])
        line = StageLine(stage, "waiting", attempts=len(attempts))
        line.total_seconds = sum(r.seconds or 0.0 for r in attempts)
        if attempts:
            last = attempts[-1]
            line.state = last.status if last.finished_at else "running"
            line.seconds = last.seconds
            line.error = last.error
        progress = live.get(stage)
        if progress is not None and line.state in ("waiting", "running"):
            # The stage process reported progress before the store shows the run: it is running.
            line.state, line.fraction, line.note = "running", progress.fraction, progress.note
        if line.state == "waiting" and job.status in ENDED_SHORT:
            line.state = "not_run"
        lines.append(line)
    return lines


@dataclass
class QAView:
    """The QA stage's verdict for people: passed or not, why, and one row per check."""

    passed: bool | None
    reasons: list[str]
    rows: list[dict[str, Any]]
    """{"check": name, "value": the measured number, "ok": "✅" / "❌" / ""}."""
    raw: Mapping[str, Any]


def qa_of(job: Job) -> Mapping[str, Any] | None:
    """The QA result: ``values["qa"]`` once it passed, or the one kept with a review hold."""
    qa = job.values.get("qa")
    if not isinstance(qa, Mapping) and isinstance(job.review, Mapping):
        qa = job.review.get("qa")
    return qa if isinstance(qa, Mapping) else None


def qa_view(qa: Mapping[str, Any] | None, tr: Texts) -> QAView | None:
    if not qa:
        return None
    numbers = qa.get("numbers") if isinstance(qa.get("numbers"), Mapping) else {}
    checks = qa.get("checks") if isinstance(qa.get("checks"), Mapping) else {}
    if not numbers and not checks:
        # Some other layout: show its plain values, one level of nesting flattened.
        numbers = dict(qa_numbers(qa))
    rows = []
    # a number that only repeats a check's own value (the same confidence, the same offset) is not listed again
    repeats = {number for number, check in SAME_AS_CHECK.items() if check in checks}
    for name in [*checks, *(n for n in numbers if n not in checks and n not in repeats)]:
        ok = checks.get(name)
        rows.append({
            tr("job.qa_col_check"): tr.qa_check(name),
            tr("job.qa_col_value"): _qa_value(name, numbers[name], tr) if name in numbers else "",
            tr("job.qa_col_ok"): "" if ok is None else ("✅" if ok else "❌"),
        })
    passed = qa.get("passed")
    reasons = [str(r) for r in qa.get("reasons") or []] if isinstance(qa.get("reasons"), list) else []
    return QAView(passed if isinstance(passed, bool) else None, reasons, rows, qa)


def qa_numbers(qa: Mapping[str, Any] | None) -> list[tuple[str, Any]]:
    """Scalars of a QA value (numbers, yes/no, short text), one level of nesting flattened:
    ``{"passed": True, "lipsync": {"offset_frames": 1}}`` → passed, lipsync · offset frames."""
    if not qa:
        return []
    pairs: list[tuple[str, Any]] = []
    for key, value in qa.items():
        if isinstance(value, Mapping):
            for sub, inner in value.items():
                if _is_scalar(inner):
                    pairs.append((f"{_label(key)} · {_label(sub)}", inner))
        elif _is_scalar(value):
            pairs.append((_label(key), value))
    return pairs


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (bool, int, float)) or (isinstance(value, str) and len(value) <= 80)


def _label(key: str) -> str:
    return str(key).replace("_", " ")


SAME_AS_CHECK = {"sync_confidence": "lip_sync_confidence", "offset_frames": "lip_sync_offset"}
"""QA numbers that ``qa.report`` also gives as a check's value."""

PERCENT_NUMBERS = frozenset({"wer", "cer", "face_visible"})
"""QA numbers that are shares (0..1 and beyond for an error rate), shown in per cent."""


def _qa_value(name: str, value: Any, tr: Texts) -> str:
    if name in PERCENT_NUMBERS and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{100 * value:.1f} %"
    return format_value(value, tr)


def format_value(value: Any, tr: Texts) -> str:
    if isinstance(value, bool):
        return tr("yes") if value else tr("no")
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def spoken_text(job: Job) -> str | None:
    """What the video says: the script given, or the writer's draft, if known."""
    script = job.values.get("script")
    if isinstance(script, str) and script.strip():
        return script
    narration = job.values.get("narration")  # factory.payloads.Narration: the text is under "narration"
    if isinstance(narration, Mapping) and isinstance(narration.get("narration"), str):
        return narration["narration"]
    speech = job.values.get("speech")
    if isinstance(speech, Mapping) and isinstance(speech.get("text"), str):
        return speech["text"]
    return None


def title_of(job: Job, words: int = 8) -> str:
    """The job's title for lists: the first words of its narration (characters for Chinese),
    or "" while nothing is written yet."""
    text = " ".join((spoken_text(job) or "").split())
    if not text:
        return ""
    if CJK_CHAR.search(text[:words * 2]):
        return text if len(text) <= words * 2 else text[: words * 2] + "…"
    parts = text.split(" ")
    return " ".join(parts[:words]) + ("…" if len(parts) > words else "")


def created_by(job: Job) -> str:
    """Who made the job (a user name or "token:<name>"), "" where the store does not say."""
    return getattr(job, "created_by", None) or ""


def job_rows(jobs: Iterable[Job], tr: Texts, thumbnails: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The job list as table rows; ``thumbnails``: job id -> image URL (a data: URL) if any."""
    thumbnails = thumbnails or {}
    return [
        {
            tr("jobs.col_picture"): thumbnails.get(job.id),
            tr("jobs.col_title"): title_of(job) or tr("jobs.untitled"),
            tr("jobs.col_status"): tr.status(job.status),
            tr("jobs.col_who"): created_by(job),
            tr("jobs.col_when"): job.created_at.strftime("%Y-%m-%d %H:%M"),
            tr("jobs.col_batch"): job.batch or "",
            tr("jobs.col_problem"): first_line(job.error, 100),
            tr("jobs.col_job"): job.id,
        }
        for job in jobs
    ]


def matches(job: Job, who: str = "", words: str = "") -> bool:
    """The list's text filters: ``who`` is part of the creator's name, ``words`` part of the
    narration (both case-insensitive; empty matches everything)."""
    if who.strip() and who.strip().lower() not in created_by(job).lower():
        return False
    return not words.strip() or words.strip().lower() in (spoken_text(job) or "").lower()


# --- transcript, differences, models ------------------------------------------------------------

def difference_lines(error_rate: Mapping[str, Any] | None, tr: Texts, most: int = 20) -> list[str]:
    """The QA report's alignment of script and transcript (``error_rate.ops``) as sentences:
    'heard "sea" instead of "see"', 'missing "today"', 'extra "um"'; past ``most`` of them, one
    line says how many more (a wrong voice can make hundreds)."""
    ops = (error_rate or {}).get("ops") or []
    lines = []
    for op in ops[:most]:
        kind = op.get("op")
        if kind == "substitute":
            lines.append(tr("job.diff_substitute", heard=op.get("hyp"), said=op.get("ref")))
        elif kind == "delete":
            lines.append(tr("job.diff_delete", said=op.get("ref")))
        elif kind == "insert":
            lines.append(tr("job.diff_insert", heard=op.get("hyp")))
    if len(ops) > most:
        lines.append(tr("job.diff_more", count=len(ops) - most))
    return lines


@dataclass
class ModelUse:
    """One model a job used (``values["models"]``), as the console lists it."""

    role: str
    name: str
    licence: str
    commercial_use: bool | None
    """None: not known."""
    source: str = ""


def models_of(job: Job) -> list[ModelUse]:
    """The models and licences the job's stages recorded (missing fields left empty)."""
    uses = []
    for item in job.values.get("models") or []:
        if not isinstance(item, Mapping):
            continue
        commercial = item.get("commercial_use")
        uses.append(ModelUse(
            role=str(item.get("role") or ""), name=str(item.get("name") or ""), licence=str(item.get("licence") or ""),
            commercial_use=commercial if isinstance(commercial, bool) else None, source=str(item.get("source") or ""),
        ))
    return uses


def non_commercial(models: Iterable[ModelUse]) -> list[ModelUse]:
    """The models whose licence forbids commercial use (unknown is not counted here)."""
    return [m for m in models if m.commercial_use is False]
