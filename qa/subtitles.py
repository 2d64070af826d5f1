"""Subtitles (SRT and WebVTT) from the narration text, timed by Whisper's word timestamps.

The words shown are the script's own (correct spelling, names, punctuation); only their timing
comes from the ASR. Script words and recognised words are aligned with the same edit-distance
alignment as the transcript check, on normalised forms, so "sixty" in the script takes the time
of "60" in the transcript. Script words the ASR missed get times interpolated from their
neighbours. Chinese and Japanese have no spaces: they are aligned character by character and
cut into cues at clause punctuation (，。！？；：) or every 16 characters.

Burn-in uses ffmpeg's ``subtitles`` filter (libass), which the ffmpeg bundled with
imageio-ffmpeg includes (checked 2026-11-25: ``ffmpeg -filters`` lists it).
"""

from __future__ import annotations

import re
import subprocess
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from qa.asr import Word
from qa.text_metrics import align, is_cjk_text, normalize


@dataclass
class Cue:
    start: float
    end: float
    text: str


@dataclass
class SubtitleOptions:
    max_chars: int = 42
    """Per cue for space-separated languages (a common broadcast line length)."""
    max_chars_cjk: int = 16
    max_seconds: float = 5.0
    min_seconds: float = 0.7


_SENTENCE_END = re.compile(r"[.!?;:…]['\")\]]*$")
_CJK_CLAUSE_END = set("，。！？；：、,.!?;:")


def _script_tokens(script: str, cjk: bool) -> list[str]:
    """Display tokens: words with their punctuation (spaced languages) or characters (CJK)."""
    if not cjk:
        return script.split()
    tokens: list[str] = []
    for ch in script.strip():
        if ch.isspace():
            continue
        if tokens and unicodedata.category(ch)[0] == "P":
            tokens[-1] += ch  # punctuation rides on the character before it
        else:
            tokens.append(ch)
    return tokens


def _key(token: str, cjk: bool) -> str:
    """Normalised comparison form of one display token."""
    if cjk:
        return "".join(ch for ch in unicodedata.normalize("NFKC", token).lower() if ch.isalnum())
    return " ".join(normalize(token, "en"))


def _asr_units(words: list[Word], cjk: bool) -> list[tuple[str, float, float]]:
    """(key, start, end) per ASR unit; for CJK every character, times split evenly in its word."""
    units: list[tuple[str, float, float]] = []
    for w in words:
        if not cjk:
            units.append((_key(w.word, False), w.start, w.end))
            continue
        chars = [ch for ch in unicodedata.normalize("NFKC", w.word).lower() if ch.isalnum()]
        step = (w.end - w.start) / max(len(chars), 1)
        for k, ch in enumerate(chars):
            units.append((ch, w.start + k * step, w.start + (k + 1) * step))
    return units


def time_script(script: str, words: list[Word], duration: float, language: str | None = None) -> list[tuple[str, float, float]]:
    """(display token, start, end) for every token of ``script``."""
    cjk = is_cjk_text(script, language)
    tokens = _script_tokens(script, cjk)
    if not tokens:
        return []
    units = _asr_units(words, cjk)
    times: list[tuple[float, float] | None] = [None] * len(tokens)
    if units:
        ref_keys = [_key(t, cjk) or "\x00" for t in tokens]
        ops = align(ref_keys, [u[0] for u in units])
        i = j = 0
        for op in ops:
            if op.op in ("equal", "substitute"):
                times[i] = (units[j][1], units[j][2])
                i, j = i + 1, j + 1
            elif op.op == "delete":
                i += 1
            else:
                j += 1
    else:
        # No recognised words (silent or failed ASR): spread the text evenly over the clip.
        step = duration / len(tokens)
        times = [(k * step, (k + 1) * step) for k in range(len(tokens))]
    _interpolate(times, duration)
    return [(tok, t[0], t[1]) for tok, t in zip(tokens, times)]  # type: ignore[index]


def _interpolate(times: list[tuple[float, float] | None], duration: float) -> None:
    """Give untimed tokens a share of the gap between their timed neighbours."""
    k = 0
    n = len(times)
    while k < n:
        if times[k] is not None:
            k += 1
            continue
        end = k
        while end < n and times[end] is None:
            end += 1
        left = times[k - 1][1] if k > 0 else 0.0  # type: ignore[index]
        right = times[end][0] if end < n else duration  # type: ignore[index]
        right = max(right, left)
        step = (right - left) / (end - k)
        for m in range(k, end):
            times[m] = (left + (m - k) * step, left + (m - k + 1) * step)
        k = end


def build_cues(
    script: str,
    words: list[Word],
    duration: float,
    language: str | None = None,
    options: SubtitleOptions | None = None,
) -> list[Cue]:
    """Cut the timed script into readable cues (at sentence/clause ends or length limits)."""
    options = options or SubtitleOptions()
    cjk = is_cjk_text(script, language)
    timed = time_script(script, words, duration, language)
    joiner = "" if cjk else " "
    max_chars = options.max_chars_cjk if cjk else options.max_chars
    cues: list[Cue] = []
    current: list[tuple[str, float, float]] = []

    def flush() -> None:
        if current:
            cues.append(Cue(current[0][1], current[-1][2], joiner.join(t[0] for t in current)))
            current.clear()

    for token, start, end in timed:
        candidate_len = len(joiner.join([t[0] for t in current] + [token]))
        if current and (candidate_len > max_chars or end - current[0][1] > options.max_seconds):
            flush()
        current.append((token, start, end))
        if (cjk and token[-1] in _CJK_CLAUSE_END) or (not cjk and _SENTENCE_END.search(token)):
            flush()
    flush()
    # Readable timing: each cue at least min_seconds, never overlapping the next one.
    for k, cue in enumerate(cues):
        limit = cues[k + 1].start if k + 1 < len(cues) else max(duration, cue.end)
        cue.end = min(max(cue.end, cue.start + options.min_seconds), limit)
    return cues


def _stamp(seconds: float, sep: str) -> str:
    ms = int(round(max(seconds, 0.0) * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_srt(cues: list[Cue]) -> str:
    blocks = [f"{k}\n{_stamp(c.start, ',')} --> {_stamp(c.end, ',')}\n{c.text}\n" for k, c in enumerate(cues, 1)]
    return "\n".join(blocks)


def to_vtt(cues: list[Cue]) -> str:
    blocks = [f"{_stamp(c.start, '.')} --> {_stamp(c.end, '.')}\n{c.text}\n" for c in cues]
    return "WEBVTT\n\n" + "\n".join(blocks)


def write_subtitles(cues: list[Cue], srt_path: str | Path, vtt_path: str | Path) -> tuple[Path, Path]:
    Path(srt_path).write_text(to_srt(cues), encoding="utf-8")
    Path(vtt_path).write_text(to_vtt(cues), encoding="utf-8")
    return Path(srt_path), Path(vtt_path)


def burn_in(video: str | Path, srt_path: str | Path, out_path: str | Path) -> Path:
    """Draw the subtitles into the picture (re-encodes the video, copies the sound)."""
    from factory.media import MediaError, ffmpeg_exe

    srt_path = Path(srt_path).resolve()
    # The filter's argument syntax treats ':' '\\' and quotes specially: run from the
    # subtitle file's folder and pass a plain file name instead of escaping a full path.
    cmd = [
        ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(Path(video).resolve()),
        "-vf", f"subtitles=filename={srt_path.name}:charenc=UTF-8",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
        "-c:a", "copy", "-movflags", "+faststart", str(Path(out_path).resolve()),
    ]
    done = subprocess.run(cmd, cwd=srt_path.parent, capture_output=True, text=True)
    if done.returncode != 0:
        raise MediaError(f"Could not burn the subtitles into the video: {done.stderr.strip()[-400:]}")
    return Path(out_path)
