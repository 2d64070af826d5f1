"""What the console says about a job, computed without Streamlit (easy to test).

* ``stage_lines`` — one line per stage of the job's plan: waiting, running (with the live
  fraction when this process runs it), done / cached with seconds, failed with the reason;
* ``qa_view``    — the QA stage's verdict and numbers (``values["qa"]``, or kept with a review);
* ``job_rows``   — the job list as table rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from factory.store import Job, JobStatus, StageRun
from factory.dispatch import StageProgress

STATUS_LABELS: dict[str, str] = {
    JobStatus.QUEUED: "⏳ queued",
    JobStatus.RUNNING: "⚙️ running",
    JobStatus.NEEDS_REVIEW: "🚩 needs review",
    JobStatus.FAILED: "❌ failed",
    JobStatus.DEAD: "💀 gave up",
    JobStatus.PUBLISHED: "✅ published",
}
STAGE_MARKS: dict[str, str] = {
    "waiting": "·",
    "running": "⚙️",
    "done": "✅",
    "cached": "✅",
    "failed": "❌",
    "error": "⚠️",
    "review": "🚩",
    "rerun": "↺",
}


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


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
    """waiting | running | done | cached | failed | error | review | rerun"""
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

    @property
    def summary(self) -> str:
        """One line for people: "render  ✅ done in 12.3 s (cache hit)"."""
        text = f"{self.mark} {self.stage}"
        if self.state == "running":
            text += " — running"
            if self.fraction is not None:
                text += f" {self.fraction * 100:.0f}%"
            if self.note:
                text += f" ({self.note})"
        elif self.state == "waiting":
            text += " — waiting"
        else:
            text += f" — {self.state}"
            if self.seconds is not None:
                text += f" in {self.seconds:.1f} s"
            if self.state == "cached":
                text += " (cache hit)"
        if self.attempts > 1:
            text += f", attempt {self.attempts}"
        return text


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


def qa_view(qa: Mapping[str, Any] | None) -> QAView | None:
    if not qa:
        return None
    numbers = qa.get("numbers") if isinstance(qa.get("numbers"), Mapping) else {}
    checks = qa.get("checks") if isinstance(qa.get("checks"), Mapping) else {}
    if not numbers and not checks:
        # Some other layout: show its plain values, one level of nesting flattened.
        numbers = dict(qa_numbers(qa))
    rows = []
    for name in [*checks, *(n for n in numbers if n not in checks)]:
        ok = checks.get(name)
        rows.append({
            "check": _label(name),
            "value": format_value(numbers[name]) if name in numbers else "",
            "ok": "" if ok is None else ("✅" if ok else "❌"),
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


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def job_rows(jobs: Iterable[Job]) -> list[dict[str, Any]]:
    """The job list as rows for a table."""
    return [
        {
            "job": job.id,
            "created": job.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            "status": status_label(job.status),
            "next stage": job.next_stage or "",
            "batch": job.batch or "",
            "problem": first_line(job.error, 100),
        }
        for job in jobs
    ]


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
