"""``factory voices``: the voice library on the command line.

    factory voices                                   list every voice, its language and licence
    factory voices --json                            the same as JSON
    factory voices sample zh_CN-baker-fastspeech2 --out baker.wav     hear a voice
"""

from __future__ import annotations

import json

import click

SAMPLE_TEXT = {
    "en": "Hello! This is how I sound. I can read your scripts aloud, numbers like 42 included.",
    "zh": "你好！这是我的声音。我可以为你朗读稿件，也会读数字，比如2026年3月5日。",
}


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.pass_context
def voices(ctx: click.Context, as_json: bool) -> None:
    """List the voices (name, engine, language, sample rate, licence, source) or write a sample."""
    if ctx.invoked_subcommand is not None:
        return
    from tts.engine import LANGUAGE_NAMES
    from tts.voices import install_hint, is_installed, list_voices

    rows = [(voice, is_installed(voice)) for voice in list_voices()]
    if as_json:
        click.echo(json.dumps([{**voice.to_dict(), "installed": installed} for voice, installed in rows],
                              ensure_ascii=False, indent=2))
        return
    for voice, installed in rows:
        aliases = f" (also: {', '.join(voice.aliases)})" if voice.aliases else ""
        click.echo(f"{voice.name}{aliases}")
        click.echo(f"    {LANGUAGE_NAMES.get(voice.language, voice.language)}, {voice.engine}, {voice.sample_rate} Hz"
                   f"{'' if installed else ' — NOT INSTALLED: ' + install_hint(voice)}")
        click.echo(f"    licence: {voice.licence}")
        click.echo(f"    commercial use: {'yes' if voice.commercial_use else 'NO'}")
        click.echo(f"    source: {voice.source}")
    click.echo("Your own voice: --voice /path/to/voice.onnx (a Piper voice with its .onnx.json beside it),")
    click.echo("or --voice /path/to/folder (Coqui VITS / XTTS-v2 weights; see docs/coqui.md).")


@voices.command()
@click.argument("name")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Where to write the WAV file.")
@click.option("--text", help="What to say (default: a short sentence in the voice's language).")
@click.pass_context
def sample(ctx: click.Context, name: str, out: str, text: str | None) -> None:
    """Write a short sample of the voice NAME (a library name or a .onnx path) to --out."""
    from factory.cli import load_settings
    from factory.media import write_wav
    from tts.engine import TTSError, load_engine
    from tts.voices import find_voice

    settings = load_settings(ctx)
    try:
        voice = find_voice(name)
        engine = load_engine(voice.name, voice.language, cache_dir=settings.cache_dir)
        speech = engine.synthesize(text or SAMPLE_TEXT.get(voice.language, SAMPLE_TEXT["en"]), voice.language)
    except TTSError as exc:
        raise click.ClickException(str(exc)) from None
    path = write_wav(out, speech.samples, speech.sample_rate)
    click.echo(f"{path}: {speech.seconds:.1f} s of {voice.name}")
    if not voice.commercial_use:
        click.echo(f"note: {voice.name} is not cleared for commercial use ({voice.licence}).", err=True)
