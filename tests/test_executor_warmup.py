"""A worker's stage process runs the stages' warm-up hooks before it takes a message."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from factory.stages import Stage, StageResult

MARKER = "FACTORY_TEST_WARM_MARKER"


def _mark(settings) -> None:
    Path(os.environ[MARKER]).write_text(str(os.getpid()))


def _fail(settings) -> None:
    raise RuntimeError("the model weights are missing")


def _hang(settings) -> None:
    time.sleep(60)


def _crash(settings) -> None:
    os._exit(3)     # as a segfault in native code would


def _run(ctx) -> StageResult:
    return StageResult()


WARMS = Stage(name="warms", run=_run, version="1", warm_up=_mark)
FAILS = Stage(name="fails", run=_run, version="1", warm_up=_fail)
HANGS = Stage(name="hangs", run=_run, version="1", warm_up=_hang)
CRASHES = Stage(name="crashes", run=_run, version="1", warm_up=_crash)
MODULES = {name: f"{__name__}:{name.upper()}" for name in ("warms", "fails", "hangs", "crashes")}
MODULES["broken"] = "no_such_module_anywhere:STAGE"     # a broken install


@pytest.fixture
def settings(tmp_path, monkeypatch):
    from factory.settings import Settings

    monkeypatch.setenv("FACTORY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv(MARKER, str(tmp_path / "warmed"))
    for name in ("FACTORY_DATABASE_URL", "FACTORY_AMQP_URL", "FACTORY_STORE_URL"):
        monkeypatch.delenv(name, raising=False)
    return Settings.load()


def test_the_stage_process_is_ready_only_after_its_warm_up(settings, tmp_path):
    from factory.executor import StageExecutor

    executor = StageExecutor(settings, MODULES, warm_stages=("warms",))
    try:
        executor.start()
        # the hook ran in the stage process itself, before start() returned
        assert (tmp_path / "warmed").read_text() == str(executor.process.pid)
    finally:
        executor.stop()


def test_a_failing_warm_up_does_not_stop_the_process_or_the_next_hook(settings):
    """A hook that raises, or a stage that does not even import (the runner records that on the
    job later), is logged; the process still gets ready and the other hooks run."""
    from factory.executor import StageExecutor

    executor = StageExecutor(settings, MODULES, warm_stages=("fails", "broken", "warms"))
    try:
        executor.start()
        assert executor.process.is_alive()
        assert Path(os.environ[MARKER]).read_text() == str(executor.process.pid)   # the next hook still ran
    finally:
        executor.stop()


def test_a_warm_up_past_the_time_limit_is_killed_and_the_next_process_skips_it(settings, monkeypatch):
    import factory.executor as executor_module
    from factory.executor import ChildDied, StageExecutor

    monkeypatch.setattr(executor_module, "WARM_UP_GRACE_SECONDS", 0.0)
    settings.stage_time_limits = {**settings.stage_time_limits, "hangs": 2}
    executor = StageExecutor(settings, MODULES, warm_stages=("hangs",))
    try:
        started = time.monotonic()
        with pytest.raises(ChildDied, match="did not get ready within 2 s"):
            executor.start()
        assert time.monotonic() - started < 30 and executor.process is None
        assert executor.warm_stages == ()
        started = time.monotonic()
        executor.start()                      # no warm-up this time: ready at once
        assert executor.process.is_alive() and time.monotonic() - started < 30
    finally:
        executor.stop()


def test_a_warm_up_that_kills_its_process_is_not_tried_again(settings):
    from factory.executor import ChildDied, StageExecutor

    executor = StageExecutor(settings, MODULES, warm_stages=("crashes",))
    try:
        with pytest.raises(ChildDied, match="exit code 3"):
            executor.start()
        assert executor.warm_stages == ()
        executor.start()
        assert executor.process.is_alive()
    finally:
        executor.stop()
