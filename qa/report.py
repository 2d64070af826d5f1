"""``check_video``: every QA measurement for one video, as one report.

    report = check_video("clip.mp4", script="Hello there ...")
    report.passed, report.reasons        # the verdict and why
    report.to_json("qa.json"); report.save_plot("qa.png")

One decode of the frames (``qa.frames``) feeds the lip-sync score and the picture checks; one
decode of the sound (``qa.lipsync.sound_as_played``) feeds the speech energy and Whisper, which
transcribes it once, in a thread while the frames are read. The sound is read where a player
plays it against the picture (start times and edit lists applied, ``factory.media.stream_times``), so a sound track that starts late in the
container reads as late, in the offset, the duration check and the subtitles alike. Thresholds
come from ``qa.gate.QAThresholds`` (settings ``qa_*``).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from factory.payloads import QASummary
from factory.settings import Settings
from qa.av_checks import Check
from qa.lipsync import Sound, sound_as_played


@dataclass
class QAReport:
    video: str
    passed: bool
    reasons: list[str]
    checks: list[Check]
    info: dict[str, Any]
    lipsync: dict[str, Any]
    transcript: dict[str, Any] | None = None
    error_rate: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    mouth: list[float] = field(default_factory=list)
    """Per-frame mouth opening (NaN → None where no face)."""
    energy_db: list[float] = field(default_factory=list)
    """Per-frame speech energy (RMS dB)."""
    cues: list[dict[str, Any]] = field(default_factory=list)
    """Subtitle cues (start, end, text) when a script was given."""
    syncnet: dict[str, Any] | None = None
    """LSE-D / LSE-C from the user's SyncNet weights (``qa.syncnet``), when the setting
    ``syncnet_model`` names them; ``{"error": ...}`` if this video could not be scored.
    For comparison with published numbers only: never part of pass/fail."""

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)

    @property
    def lip_sync_passed(self) -> bool:
        """Both lip-sync checks passed (the plot's verdict; the report's may fail on others)."""
        return all(c.passed for c in self.checks if c.name.startswith("lip_sync"))

    def summary(self, attempt: int = 0) -> QASummary:
        """The verdict and the small numbers stored on the job (values["qa"]); ``attempt``: the
        re-renders before this check."""
        numbers: dict[str, Any] = {
            "offset_frames": self.lipsync.get("offset_frames"),
            "sync_confidence": self.lipsync.get("confidence"),
            "sync_min_confidence": self.lipsync.get("min_confidence"),
            "sync_z": self.lipsync.get("z"),
        }
        if self.error_rate:
            numbers[self.error_rate["name"].lower()] = self.error_rate["rate"]
        if self.syncnet and "lse_d" in self.syncnet:
            numbers["lse_d"] = self.syncnet["lse_d"]
            numbers["lse_c"] = self.syncnet["lse_c"]
            numbers["syncnet_offset_frames"] = self.syncnet["offset"]
        for c in self.checks:
            numbers.setdefault(c.name, c.to_dict()["value"])
        return QASummary(
            passed=self.passed,
            reasons=list(self.reasons),
            numbers=numbers,
            checks={c.name: bool(c.passed) for c in self.checks},
            seconds=self.timings.get("total"),
            attempt=attempt,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "video": self.video,
            "passed": self.passed,
            "reasons": self.reasons,
            "checks": [c.to_dict() for c in self.checks],
            "info": self.info,
            "lipsync": self.lipsync,
            "transcript": self.transcript,
            "error_rate": self.error_rate,
            "timings": self.timings,
            "cues": self.cues,
            "syncnet": self.syncnet,
            "series": {
                "mouth": [None if m is None or (isinstance(m, float) and np.isnan(m)) else round(float(m), 5) for m in self.mouth],
                "energy_db": [round(float(e), 2) for e in self.energy_db],
            },
        }

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def save_plot(self, path: str | Path) -> Path:
        """PNG: standardised mouth opening against speech energy, and the sync curve."""
        import matplotlib

        matplotlib.use("Agg")  # no display on servers
        import matplotlib.pyplot as plt

        mouth = np.array([np.nan if m is None else m for m in self.mouth], dtype=float)
        energy = np.asarray(self.energy_db, dtype=float)
        offset = int(self.lipsync.get("offset_frames") or 0)
        fps = float(self.info.get("fps") or 25.0)

        def z(x: np.ndarray) -> np.ndarray:
            """Standardised over the measured (finite) values; frames without a measure stay NaN
            (a gap in the line). With nothing measured at all — no face in any frame, e.g. the
            face mesh found none in a photo with two faces — the line is simply absent."""
            measured = x[np.isfinite(x)]
            if measured.size == 0:
                return np.full(x.shape, np.nan)
            spread = float(measured.std())
            return (x - float(measured.mean())) / (spread if spread > 0 else 1.0)

        fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), gridspec_kw={"height_ratios": [2, 1]})
        t = np.arange(mouth.size) / fps
        no_face = not np.isfinite(mouth).any()
        top.plot(t, z(mouth), label="mouth opening (z)" + (": no face found" if no_face else ""), color="tab:red", lw=1.2)
        top.plot(np.arange(energy.size) / fps, z(energy), label="speech energy (z)", color="tab:blue", lw=1.0, alpha=0.8)
        if offset:
            # Energy moved back by the offset: where it lines up with the mouth, that offset is right.
            top.plot((np.arange(energy.size) - offset) / fps, z(energy), label=f"energy shifted by {-offset} frames", color="tab:green", lw=0.8, ls="--")
        top.set_xlabel("seconds")
        top.set_title(f"{Path(self.video).name}: offset {offset:+d} frames, confidence {self.lipsync.get('confidence', 0):.2f} (needs {self.lipsync.get('min_confidence', 0):.2f}) — lip sync {'PASS' if self.lip_sync_passed else 'FAIL'}")
        top.legend(loc="upper right", fontsize=8)
        lags = self.lipsync.get("lags") or []
        limits = self.lipsync.get("offset_limits")
        if limits:
            # The offsets the gate accepts: viewers forgive late sound more than early sound.
            low, high = limits
            bottom.axvspan(low - 0.5, high + 0.5, color="tab:green", alpha=0.12,
                           label=f"accepted: {-low} early … {high} late")
            for edge in (low - 0.5, high + 0.5):
                bottom.axvline(edge, color="tab:green", lw=0.8)
        bottom.plot(lags, self.lipsync.get("correlation") or [], marker="o", ms=3)
        bottom.axvline(offset, color="tab:green", ls="--", label=f"measured {offset:+d}")
        if limits:
            bottom.legend(loc="upper right", fontsize=8)
        bottom.set_xlabel("lag in frames (positive: audio late)")
        bottom.set_ylabel("correlation")
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)
        return Path(path)


def _read_sound(video: str | Path, for_whisper: bool) -> tuple[Sound | None, float]:
    """(The video's sound as played, seconds it took); None when there is no usable sound track
    (the A/V checks report it). ``for_whisper``: also the whole track at Whisper's rate, from
    the same decode."""
    from factory.media import MediaError
    from qa.asr import SAMPLE_RATE

    t = time.perf_counter()
    try:
        sound = sound_as_played(video, track_rate=SAMPLE_RATE if for_whisper else None)
    except MediaError:
        sound = None
    return sound, time.perf_counter() - t


def _timed_transcript(sound_job: Future, language: str | None, settings: Settings):
    """(Whisper's transcript or None, seconds it took). Whisper runs beside the frame scan, which
    keeps one core busy: it gets the others (one on a 2-core machine). More threads than free
    cores would make its threads wait for each other, spinning, and cost CPU for nothing."""
    from qa.asr import transcribe_samples

    sound, _ = sound_job.result()
    if sound is None or sound.track is None:
        return None, 0.0
    t = time.perf_counter()
    return transcribe_samples(sound.track, language=language, settings=settings), time.perf_counter() - t


def _guess_language(script: str | None) -> str | None:
    from qa.text_metrics import is_cjk_text

    if script and is_cjk_text(script):
        return "zh"
    return None


def check_video(
    video: str | Path,
    script: str | None = None,
    expected: dict[str, Any] | None = None,
    settings: Settings | None = None,
    thresholds=None,
    transcribe: bool = True,
    progress=None,
    spoken: str | None = None,
) -> QAReport:
    """Run every QA check on ``video`` (any MP4 with a face and a sound track).

    ``expected`` may hold: ``width``/``height`` (or ``size`` as [w, h]), ``fps``,
    ``audio_seconds`` (length of the narration the video was made from), ``language``.
    ``transcribe=False`` skips Whisper (no transcript check, subtitles timed evenly).
    ``spoken`` is the text the voice was given (numbers, symbols and dates written out), when
    known: the transcript is scored against it; subtitles still show the script as written.
    """
    from factory.media import FPS, probe_video
    from qa.av_checks import run_av_checks
    from qa.frames import scan_video
    from qa.gate import QAThresholds
    from qa.lipsync import score_series

    settings = settings or Settings.load()
    thresholds = thresholds or QAThresholds.from_settings(settings)
    expected = dict(expected or {})
    progress = progress or (lambda fraction, note="": None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()

    info = probe_video(video)
    language = expected.get("language") or _guess_language(script)

    # One worker decodes the sound once (for the speech energy and, at 16 kHz, for Whisper),
    # then runs Whisper, while this thread scans the frames: each stream is decoded once, and
    # both spend their time in native code, outside the GIL.
    with ThreadPoolExecutor(max_workers=1) as pool:
        sound_job = pool.submit(_read_sound, video, transcribe)
        asr_job = pool.submit(_timed_transcript, sound_job, language, settings) if transcribe else None
        progress(0.05, "reading frames")
        t = time.perf_counter()
        scan = scan_video(video)
        timings["frames"] = time.perf_counter() - t
        sound, timings["audio"] = sound_job.result()

        t = time.perf_counter()
        if sound is not None:
            from factory.media import frame_energy

            energy = frame_energy(sound.samples, sound.rate, scan.frames)
            audio_seconds = sound.end
            if expected.get("audio_seconds") is not None:
                # The narration is the reference length; it starts where the sound does.
                audio_seconds = sound.delay + float(expected["audio_seconds"])
        else:
            energy = np.full(scan.frames, -60.0, dtype=np.float32)
            audio_seconds = None
        sync = score_series(scan.mouth, energy, z_threshold=thresholds.min_sync_z)
        timings["lipsync"] = time.perf_counter() - t

        size = expected.get("size") or (
            (int(expected["width"]), int(expected["height"])) if expected.get("width") and expected.get("height") else None
        )
        checks = run_av_checks(
            scan,
            info,
            energy,
            audio_seconds,
            expected_fps=float(expected.get("fps") or FPS),
            expected_size=tuple(size) if size else None,
            thresholds=thresholds.av,
            audio_delay=sound.delay if sound is not None else 0.0,
            offset_limits=thresholds.offset_limits,
        )
        checks += thresholds.sync_checks(sync)

        syncnet = None
        syncnet_model = settings.syncnet_model or ""  # off unless the user names weights
        if str(syncnet_model).strip():
            t = time.perf_counter()
            progress(0.35, "SyncNet (LSE-D / LSE-C)")
            syncnet = _syncnet_numbers(video, syncnet_model)
            timings["syncnet"] = time.perf_counter() - t
        progress(0.4, "transcribing")

        transcript = None
        rate_result = None
        words = []
        if asr_job is not None:
            tr, seconds = asr_job.result()
            if tr is not None:
                timings["asr"] = seconds
                # Whisper's times count from the first sound sample; the subtitles follow the picture.
                words = [w._replace(start=round(w.start + sound.delay, 3), end=round(w.end + sound.delay, 3)) for w in tr.words] if sound.delay else tr.words
                transcript = tr.to_dict()
                language = language or tr.language
                if script:
                    from qa.text_metrics import error_rate

                    rate_result = error_rate(spoken or script, tr.text, language)
                    checks.append(thresholds.transcript_check(rate_result))
    progress(0.9, "subtitles")

    cues = []
    if script:
        from qa.subtitles import build_cues

        duration = audio_seconds or info.video_seconds
        cues = [c.__dict__ for c in build_cues(script, words, duration, language)]

    timings["total"] = time.perf_counter() - t0
    if info.video_seconds:
        timings["seconds_per_video_second"] = timings["total"] / info.video_seconds
    timings = {k: round(v, 3) for k, v in timings.items()}
    failed = [c for c in checks if not c.passed]
    return QAReport(
        video=str(video),
        passed=not failed,
        reasons=[c.message for c in failed],
        checks=checks,
        info={**info.__dict__, "audio_delay": round(sound.delay, 4) if sound is not None else None},
        lipsync={**sync.to_dict(), "offset_limits": list(thresholds.offset_limits)},
        transcript=transcript,
        error_rate=rate_result.to_dict() if rate_result else None,
        timings=timings,
        mouth=[None if np.isnan(m) else float(m) for m in scan.mouth],
        energy_db=[float(e) for e in energy],
        cues=cues,
        syncnet=syncnet,
    )


def _syncnet_numbers(video: str | Path, model_path: str | Path) -> dict[str, Any]:
    """SyncNet's scores for ``video``. Unusable weights stop QA (the setting needs fixing); a
    video SyncNet cannot score (no face, too short) is noted in the report, since our own checks
    already judge such a video."""
    import torch

    from qa.syncnet import SyncNetError, SyncNetWeightsError, syncnet_scores

    try:
        return syncnet_scores(video, model_path, device="cuda" if torch.cuda.is_available() else "cpu")
    except SyncNetWeightsError:
        raise
    except SyncNetError as exc:
        return {"error": str(exc)}
