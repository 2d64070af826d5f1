"""The publish gate: thresholds, and what happens to a job after QA.

* pass                 → the stage returns normally and the job goes on to publish
                         (where ``settings.review_required`` holds it for an editor);
* fail, retries left   → ``Rerun("render")`` with a new seed and ``qa_attempt + 1``;
* fail, none left      → ``ReviewRequired`` with the reasons (the job becomes needs_review);
* the narration failed (only the transcript, or the track is silent) → ``ReviewRequired`` at
  once: a re-render changes the picture, never the sound, so it would spend a GPU render for
  the same verdict.

Thresholds live in ``QAThresholds``; a deployment sets them through the ``Settings`` field of
the same name with a ``qa_`` prefix (``qa_max_wer``, ``qa_min_sync_z`` ...).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any

from factory.media import FPS
from factory.payloads import QASummary
from factory.settings import Settings
from factory.stages import ReviewRequired, Rerun
from qa.av_checks import AVThresholds, Check


_DEFAULTS = Settings()  # thresholds a deployment sets are documented in factory/settings.py (qa_*)


@dataclass
class QAThresholds:
    max_wer: float = _DEFAULTS.qa_max_wer
    max_cer: float = _DEFAULTS.qa_max_cer
    min_sync_z: float = _DEFAULTS.qa_min_sync_z
    max_audio_early_frames: int = _DEFAULTS.qa_max_audio_early_frames
    """Largest accepted offset with the sound ahead of the mouth (offset < 0), in frames."""
    max_audio_late_frames: int = _DEFAULTS.qa_max_audio_late_frames
    """Largest accepted offset with the sound behind the mouth (offset > 0), in frames. Viewers
    forgive a late sound more than an early one, so the two limits differ."""
    max_reachable_confidence: float = 0.85
    """Clips whose calibrated threshold is above this (shorter than ~2.7 s) are not scored for lip
    sync: in-sync CPU renders of 3–8 s measured 0.70–0.94, and correlation cannot exceed 1."""
    av: AVThresholds = field(default_factory=AVThresholds)

    @property
    def offset_limits(self) -> tuple[int, int]:
        """The accepted offsets, (most negative, most positive), in frames."""
        return -self.max_audio_early_frames, self.max_audio_late_frames

    def offset_ok(self, offset: int) -> bool:
        low, high = self.offset_limits
        return low <= offset <= high

    @classmethod
    def from_settings(cls, settings: Settings) -> QAThresholds:
        values = {}
        for f in dataclasses.fields(cls):
            if f.name != "av" and hasattr(settings, f"qa_{f.name}"):
                values[f.name] = type(f.default)(getattr(settings, f"qa_{f.name}"))
        av_values = {}
        for f in dataclasses.fields(AVThresholds):
            if hasattr(settings, f"qa_{f.name}"):
                av_values[f.name] = type(f.default)(getattr(settings, f"qa_{f.name}"))
        return cls(**values, av=AVThresholds(**av_values))

    def sync_checks(self, sync) -> list[Check]:
        """Two checks from a ``qa.lipsync.LipSyncResult``: confidence first, then offset."""
        if sync.min_confidence > self.max_reachable_confidence:
            # Too short for the calibrated threshold to be reachable by any in-sync video: failing
            # would re-render for nothing and send every short clip to review. Say so instead.
            msg = (f"Lip sync not measured: a {sync.frames / FPS:.1f}-second clip is too short for a reliable "
                   f"score (it would need confidence {sync.min_confidence:.2f}; in-sync videos reach about "
                   f"{self.max_reachable_confidence:.2f}). Other checks still apply.")
            return [Check("lip_sync_confidence", True, sync.confidence, sync.min_confidence, msg),
                    Check("lip_sync_offset", True, sync.offset, list(self.offset_limits), "Offset not measured (clip too short).")]
        confident = sync.confident
        if confident:
            conf_msg = f"Lip sync confidence {sync.confidence:.2f} (needs {sync.min_confidence:.2f} for {sync.frames} frames)."
        elif sync.note:
            conf_msg = f"Lip sync cannot be confirmed: {sync.note}."
        else:
            conf_msg = (
                f"The mouth does not follow the voice: lip-sync confidence {sync.confidence:.2f}, "
                f"at least {sync.min_confidence:.2f} needed for a {sync.frames / FPS:.1f}-second clip."
            )
        checks = [Check("lip_sync_confidence", confident, sync.confidence, sync.min_confidence, conf_msg)]
        offset_ok = self.offset_ok(sync.offset)
        frame_ms = 1000 / FPS
        if not confident:
            offset_msg = f"Offset {sync.offset:+d} frames (not reliable: confidence too low)."
            offset_ok = True  # an unreliable offset is not a second reason; confidence already failed
        elif offset_ok:
            offset_msg = f"Audio and mouth offset {sync.offset:+d} frames."
        else:
            late = sync.offset > 0
            limit = self.max_audio_late_frames if late else self.max_audio_early_frames
            offset_msg = (
                f"The sound is {abs(sync.offset)} frames ({abs(sync.offset) * frame_ms:.0f} ms) "
                f"{'late' if late else 'early'} relative to the mouth (at most {limit} "
                f"{'late' if late else 'early'} allowed, {limit * frame_ms:.0f} ms)."
            )
        checks.append(Check("lip_sync_offset", offset_ok, sync.offset, list(self.offset_limits), offset_msg))
        return checks

    def transcript_check(self, rate) -> Check:
        """From a ``qa.text_metrics.ErrorRate``."""
        limit = self.max_wer if rate.unit == "word" else self.max_cer
        ok = rate.rate <= limit
        msg = f"{rate.name} {rate.rate * 100:.1f} %"
        if ok:
            msg += f" (at most {limit * 100:.0f} %)."
        else:
            diffs = "; ".join(rate.differences()[:6])
            msg += f", more than the {limit * 100:.0f} % allowed: {diffs}."
        return Check(rate.name.lower(), ok, rate.rate, limit, msg)


# Checks of the sound alone (names as in ``QAReport.checks``): a re-render cannot change them.
NARRATION_CHECKS = frozenset({"wer", "cer", "sound_present"})


def new_seed(job_id: str, attempt: int) -> int:
    """A different, reproducible seed per re-render of a job."""
    digest = hashlib.sha256(f"{job_id}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def decide(summary: QASummary, job_id: str, params: dict[str, Any], settings: Settings) -> None:
    """Act on a QA summary (``QAReport.summary()``): return (publish), or raise Rerun/ReviewRequired."""
    if summary.passed:
        return  # publish (with review_required, the publish stage waits for an editor)
    attempt = int(params.get("qa_attempt", 0))
    reasons = "; ".join(summary.reasons)
    failed = summary.failed_checks()
    # A silent track also fails the lip-sync checks, but the picture is not what is wrong.
    if failed <= NARRATION_CHECKS or "sound_present" in failed:
        raise ReviewRequired(
            f"QA failed on the narration, which a re-render cannot change: {reasons}",
            {"qa": summary.to_value(), "qa_attempt": attempt},
        )
    if attempt < settings.qa_max_rerenders:
        raise Rerun(
            "render",
            f"QA failed (re-render {attempt + 1} of {settings.qa_max_rerenders}): {reasons}",
            params={"seed": new_seed(job_id, attempt + 1), "qa_attempt": attempt + 1},
        )
    raise ReviewRequired(
        f"QA failed after {attempt} re-render(s): {reasons}",
        {"qa": summary.to_value(), "qa_attempt": attempt},
    )
