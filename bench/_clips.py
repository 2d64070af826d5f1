"""The test clip the QA benchmarks share (``bench_qa.py``, ``bench_qa_syncnet.py``).

About 20 s of narration spoken by the bundled Piper voice, rendered in sync on the warped
portrait of ``qa.synthetic_clips`` at ``size`` px, with the jaw drop scaled to the size (16 px
at 256 px, as the tests use) so a 512 px clip moves like a 256 px one, only sharper.
"""

from __future__ import annotations

from pathlib import Path

NARRATION = (
    "Welcome back to the channel. Today we look at three ways to keep your kitchen knives sharp. "
    "First, use a honing steel before every meal. Second, sharpen on a whetstone once a month, "
    "holding the blade at fifteen degrees. Third, never put good knives in the dishwasher. "
    "Thanks for watching, and see you next week."
)


def narrated_clip(out_path: str | Path, size: int = 512) -> Path:
    """Speak ``NARRATION`` and write the in-sync clip to ``out_path`` (returned)."""
    from qa import synthetic_clips as sc

    return sc.in_sync_clip(Path(out_path), NARRATION, sc.ClipOptions(size=size, max_open_px=16.0 * size / 256))
