"""One retry and time-limit policy for every stage, in both run modes.

Like dramatiq's ``Retries`` and ``TimeLimit`` middleware, this is the single rule the in-process
dispatcher and the RabbitMQ worker both follow:

* a stage that crashes (an internal error, its stage process killed, its time limit passed) is
  tried again after a back-off delay, up to ``max_attempts`` crashes in a row; then the job is
  dead. A run interrupted because its worker died does not count;
* every stage run is stopped at its time limit (its process is killed);
* a worker that has not sent a heartbeat for ``worker_silent_seconds`` is known dead: its open
  stage runs end as interrupted; after ``worker_forget_seconds`` it is no longer listed.

A stage's own verdicts (``StageError``, ``ReviewRequired``, ``Rerun``) are not crashes and are
never retried.
"""

from __future__ import annotations

from dataclasses import dataclass

from factory.settings import Settings

DEFAULT_TIME_LIMIT = 600.0
"""Seconds, for a stage that ``stage_time_limits`` does not name."""


@dataclass(frozen=True)
class StagePolicy:
    max_attempts: int = 3
    retry_delays: tuple[float, ...] = (2.0, 10.0, 60.0)
    """Seconds before the 2nd, 3rd, ... attempt; the last one repeats."""
    time_limits: tuple[tuple[str, float], ...] = ()
    worker_silent_seconds: float = 60.0
    worker_forget_seconds: float = 3600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> StagePolicy:
        return cls(
            max_attempts=max(1, int(settings.stage_max_attempts)),
            retry_delays=tuple(float(d) for d in settings.retry_delays) or (0.0,),
            time_limits=tuple(sorted((name, float(s)) for name, s in settings.stage_time_limits.items())),
            worker_silent_seconds=float(settings.worker_silent_seconds),
            worker_forget_seconds=float(settings.worker_forget_seconds),
        )

    def time_limit(self, stage: str) -> float:
        return dict(self.time_limits).get(stage, DEFAULT_TIME_LIMIT)

    def retry_delay(self, failed_attempt: int) -> float:
        """Seconds to wait after crash number ``failed_attempt`` (1-based) before the next try."""
        index = min(max(failed_attempt, 1), len(self.retry_delays)) - 1
        return self.retry_delays[index]

    def gives_up_after(self, crashes: int) -> bool:
        return crashes >= self.max_attempts
