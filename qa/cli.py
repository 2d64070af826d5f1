"""``factory check VIDEO``: the QA report for any MP4, in the terminal or as JSON.

``factory/cli.py`` loads it lazily (``LAZY_COMMANDS``); importing this module is cheap (click
only): the heavy work is imported inside the command.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command("check")
@click.argument("video", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--script", "script_text", help="The narration the video should say (for WER/CER and subtitles).")
@click.option("--script-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Read the narration from a text file.")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), help="Also write qa_report.json, qa_plot.png and subtitles here.")
@click.option("--language", help="Language code of the speech (default: detected).")
@click.option("--width", type=int, help="Expected width in pixels.")
@click.option("--height", type=int, help="Expected height in pixels.")
@click.option("--fps", type=float, help="Expected frames per second (default 25).")
@click.option("--no-asr", is_flag=True, help="Skip Whisper (no transcript check).")
def check(video: Path, script_text: str | None, script_file: Path | None, as_json: bool, out_dir: Path | None,
          language: str | None, width: int | None, height: int | None, fps: float | None, no_asr: bool) -> None:
    """Check VIDEO: lip sync, transcript, and picture/sound faults. Exit code 1 when it fails."""
    from factory.settings import Settings
    from factory.stages import StageError
    from qa.report import check_video

    if script_text and script_file:
        raise click.UsageError("give --script or --script-file, not both")
    script = script_file.read_text(encoding="utf-8") if script_file else script_text
    expected = {k: v for k, v in {"width": width, "height": height, "fps": fps, "language": language}.items() if v}
    try:
        report = check_video(video, script=script, expected=expected, settings=Settings.load(), transcribe=not no_asr)
    except StageError as exc:
        raise click.ClickException(str(exc)) from None

    if out_dir:
        from qa.subtitles import Cue, write_subtitles

        out_dir.mkdir(parents=True, exist_ok=True)
        report.to_json(out_dir / "qa_report.json")
        report.save_plot(out_dir / "qa_plot.png")
        if report.cues:
            write_subtitles([Cue(**c) for c in report.cues], out_dir / "subtitles.srt", out_dir / "subtitles.vtt")

    if as_json:
        click.echo(report.to_json())
    else:
        _print_readable(report, out_dir)
    if not report.passed:
        raise SystemExit(1)


def _print_readable(report, out_dir: Path | None) -> None:
    verdict = click.style("PASS", fg="green", bold=True) if report.passed else click.style("FAIL", fg="red", bold=True)
    info = report.info
    click.echo(f"{report.video}: {verdict}")
    click.echo(f"  {info['width']}x{info['height']}, {info['fps']:g} fps, {info['video_seconds']:.2f} s")
    delay = info.get("audio_delay")
    if delay and abs(delay) >= 0.0005:
        # Read as a player plays it: the container starts the sound apart from the picture.
        click.echo(f"  the sound starts {abs(delay):.3f} s {'after' if delay > 0 else 'before'} the picture in the container")
    for c in report.checks:
        mark = click.style("ok  ", fg="green") if c.passed else click.style("FAIL", fg="red")
        click.echo(f"  {mark} {c.name:<20} {c.message}")
    if report.transcript:
        click.echo(f"  heard ({report.transcript['language']}): {report.transcript['text']}")
    if report.error_rate and report.error_rate["differences"]:
        click.echo("  differences: " + "; ".join(report.error_rate["differences"][:10]))
    click.echo(f"  QA took {report.timings.get('total', 0):.1f} s ({report.timings.get('seconds_per_video_second', 0):.2f} s per second of video)")
    if out_dir:
        click.echo(f"  report, plot and subtitles in {out_dir}")
