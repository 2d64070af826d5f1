"""The ``check`` stage: QA of the rendered video, then the publish gate.

Reads ``files["video"]`` (and ``files["audio"]``, the narration, for its exact length), the
script (``values["script"]``, or the writer's ``values["narration"]["script"]``), and the
expected output facts (``values["render"]`` and params: width/height/size, fps, language).
Stores ``qa_report`` (JSON), ``qa_plot`` (PNG), ``subtitles_srt``, ``subtitles_vtt`` and
``values["qa"]``; then ``qa.gate.decide`` publishes, re-renders or asks for review.

When the gate raises (re-render or review) the stage's files and values ride on the exception
as ``exc.result``, and the runner stores them like a normal result.
Not cacheable: a re-render with a new seed must be checked again, and the decision depends on
``qa_attempt`` and settings.
"""

from __future__ import annotations

from typing import Any

from factory.stages import ReviewRequired, Rerun, Stage, StageContext, StageError, StageResult


def _script(values: dict[str, Any]) -> str | None:
    script = values.get("script")
    if isinstance(script, str) and script.strip():
        return script
    narration = values.get("narration")
    if isinstance(narration, dict):
        text = narration.get("script") or narration.get("text")
        if isinstance(text, str) and text.strip():
            return text
    return None


def _expected(ctx: StageContext) -> dict[str, Any]:
    """What the video should be: size and fps from the render facts or params, the narration length."""
    expected: dict[str, Any] = {}
    render = ctx.values.get("render") or {}
    speech = ctx.values.get("speech") or {}
    for source in (ctx.params, render):
        for key in ("width", "height", "fps", "size", "language"):
            if source.get(key) is not None:
                expected[key] = source[key]
    if ctx.params.get("language"):
        expected["language"] = ctx.params["language"]
    for key in ("seconds", "duration", "audio_seconds"):
        if isinstance(speech, dict) and speech.get(key):
            expected["audio_seconds"] = float(speech[key])
            break
    if "audio_seconds" not in expected and "audio" in ctx.files:
        from factory.media import decode_audio

        samples, rate = decode_audio(ctx.files["audio"])
        expected["audio_seconds"] = samples.size / rate
    return expected


def run(ctx: StageContext) -> StageResult:
    from qa.gate import QAThresholds, decide
    from qa.report import check_video
    from qa.subtitles import Cue, to_srt, to_vtt

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
    )
    files = {
        "qa_report": ctx.workdir / "qa_report.json",
        "qa_plot": ctx.workdir / "qa_plot.png",
    }
    report.to_json(files["qa_report"])
    report.save_plot(files["qa_plot"])
    if report.cues:
        cues = [Cue(**c) for c in report.cues]
        files["subtitles_srt"] = ctx.workdir / "subtitles.srt"
        files["subtitles_vtt"] = ctx.workdir / "subtitles.vtt"
        files["subtitles_srt"].write_text(to_srt(cues), encoding="utf-8")
        files["subtitles_vtt"].write_text(to_vtt(cues), encoding="utf-8")
    summary = report.summary()
    summary["attempt"] = int(ctx.params.get("qa_attempt", 0))
    result = StageResult(files=files, values={"qa": summary})
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
    reads_files=("video", "audio"),
    reads_values=("script", "narration", "speech", "render"),
    reads_params=("width", "height", "size", "fps", "language", "qa_attempt"),
    cacheable=False,
)
