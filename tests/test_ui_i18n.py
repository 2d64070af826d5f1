"""The console's two languages: the catalogue is complete, and the pages take every word from it."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

from factory.store import JobStatus, RunStatus
from ui.i18n import LANGUAGES, MESSAGES, PARAM_LABELS, Texts, translate

UI = Path(__file__).resolve().parents[1] / "ui"
CJK = re.compile(r"[\u4e00-\u9fff]")
LETTERS = re.compile(r"[A-Za-z\u4e00-\u9fff]{2,}")


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_languages_have_every_message_with_the_same_placeholders():
    for key, (en, zh) in MESSAGES.items():
        assert en.strip() and zh.strip(), key
        assert fields(en) == fields(zh), key
        if LETTERS.search(en.replace("{", " ").split("}")[-1]) and not en.startswith("{"):
            assert CJK.search(zh), f"{key}: the Chinese text is not Chinese: {zh!r}"
    for name, (en, zh, help_zh) in PARAM_LABELS.items():
        assert en and CJK.search(zh) and CJK.search(help_zh), name
    # Every render parameter the stage declares has its Chinese label and help.
    from ui.render_params import render_param_specs

    assert sorted(spec.name for spec in render_param_specs()) == sorted(PARAM_LABELS)


def test_every_key_the_pages_use_exists():
    used: set[str] = set()
    for path in UI.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"""\btr\(\s*["']([a-z_]+\.[a-z_.]+)["']""", source))
        used |= set(re.findall(r"""FormError\(\s*["']([a-z_]+\.[a-z_.]+)["']""", source))
    assert used, "no keys found: the pattern is wrong"
    assert sorted(used - set(MESSAGES)) == []

    # Keys built from values: every value they can take.
    from ui.pages import PAGES
    from ui.submission import LANGUAGES as NARRATION_LANGUAGES, SOURCES
    from factory.identity import ROLES
    from factory.sources import SOURCE_KINDS
    from factory.stages import BUILT_IN_STAGES

    built = ([f"nav.{p}" for p in PAGES] + [f"status.{s}" for s in JobStatus.ALL]
             + [f"run.{s}" for s in vars(RunStatus).values() if isinstance(s, str) and s.isalpha() and s.islower()]
             + ["run.waiting"] + [f"source.{s}" for s in SOURCES] + [f"lang.{c}" for c in NARRATION_LANGUAGES]
             + [f"role.{r}" for r in ROLES] + [f"stage.{s}" for s in BUILT_IN_STAGES]
             + [f"job.{r}" for r in ("resume", "retry", "cancel")]
             + [f"sched.{part}_{kind}" for kind in SOURCE_KINDS for part in ("kind", "source")]
             + [f"new.photo_{c}" for c in ("upload", "library")])
    assert sorted(set(built) - set(MESSAGES)) == []


WIDGETS = {"markdown", "error", "warning", "info", "success", "caption", "button", "header", "subheader", "title",
           "text_input", "text_area", "selectbox", "radio", "checkbox", "slider", "number_input", "file_uploader",
           "download_button", "expander", "write", "spinner", "toast", "form_submit_button", "progress", "image"}


def literal_words(node: ast.AST) -> list[str]:
    """Words written into the code in a widget's text argument."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return LETTERS.findall(node.value)
    if isinstance(node, ast.JoinedStr):
        return [w for part in node.values for w in literal_words(part)]
    if isinstance(node, ast.BinOp):
        return literal_words(node.left) + literal_words(node.right)
    return []


def test_pages_show_no_words_of_their_own():
    found = []
    for path in UI.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in WIDGETS:
                texts = node.args[:1] + [k.value for k in node.keywords if k.arg in ("label", "text", "help", "caption")]
                for text in texts:
                    words = literal_words(text)
                    if words:
                        found.append(f"{path.name}:{node.lineno}: {words}")
    assert found == []


def test_texts_fill_placeholders_and_fall_back_to_the_key():
    assert Texts("zh")("nav.jobs") == "任务" and Texts("en")("nav.jobs") == "Jobs"
    assert translate("job.failed", "en", reason="no face") == "Failed — no face"
    assert Texts("zh").status(JobStatus.PUBLISHED) == "✅ 已发布"
    assert Texts("en")("no.such.key") == "no.such.key"
    assert set(LANGUAGES) == {"zh", "en"}


def test_qa_numbers_read_in_the_editors_language_with_units():
    from ui.i18n import Texts
    from ui.job_details import difference_lines, qa_view

    qa = {"passed": False, "checks": {"cer": False, "duration": True, "lip_sync_offset": True},
          "numbers": {"cer": 0.25, "duration": 0.02, "sync_z": 7.5, "lip_sync_offset": 0, "offset_frames": 0}}
    rows = {row["检查项"]: row["数值"] for row in qa_view(qa, Texts("zh")).rows}
    assert rows == {"字错误率": "25.0 %", "声音与画面结束时间差（秒）": "0.02", "声音滞后（帧）": "0",
                    "口型同步证据（置信度 × √帧数）": "7.5"}  # the offset once, not twice
    ops = [{"op": "insert", "hyp": "chinese"}] * 30
    lines = difference_lines({"ops": ops}, Texts("zh"))
    assert len(lines) == 21 and lines[-1] == "……还有 10 处差异"


def test_a_failed_jobs_later_stages_say_they_did_not_run():
    from datetime import datetime, timezone

    from factory.store import Job, StageRun
    from ui.i18n import Texts
    from ui.job_details import stage_lines

    now = datetime.now(timezone.utc)
    job = Job(id="j1", status="failed", plan=["speak", "render", "check", "publish"])
    runs = [StageRun(job_id="j1", stage="speak", status="done", seconds=1.0, started_at=now, finished_at=now),
            StageRun(job_id="j1", stage="render", status="failed", seconds=0.5, started_at=now, finished_at=now)]
    lines = stage_lines(job, runs)
    assert [line.state for line in lines] == ["done", "failed", "not_run", "not_run"]
    assert lines[2].summary(Texts("zh")).endswith("未运行")
    job.status = "needs_review"  # a held job may still go on: its publish stage waits
    assert stage_lines(job, runs[:1])[-1].state == "waiting"
