"""Small real stages for the queue tests and bench/bench_queues.py, plus tests of them.

Register them with ``FACTORY_EXTRA_STAGES`` (workers) or ``STAGE_MODULES.update(...)``:

* ``digest1`` … ``digest5`` — "no-op-sized" work: SHA-256 of the previous stage's small file,
  written out as this stage's file (so every handoff moves a real artifact through the store);
* ``poison``  — always raises (an internal error, not the editor's fault): must end in the DLQ;
* ``sleepy``  — sleeps ``params["sleep_seconds"]``; with ``hang_first_attempt`` its first
  attempt hangs (overruns any time limit) and the retry succeeds;
* ``warming`` — its warm-up hook sleeps ``FACTORY_TEST_WARM_SECONDS`` (a model load / compile);
  a run records when it ran;
* ``rerunner`` — sends the job back to ``digest1`` with ``round=2`` once (as QA asks for a re-render);
* ``reviewer`` — holds the job for review (keeping its result) until an editor approved it;
* ``flaky``   — crashes on its first ``params["crashes"]`` attempts, then succeeds;
* ``which_gpu`` — records the GPU its process was given (CUDA_VISIBLE_DEVICES) and holds it for
  ``params["sleep_seconds"]``, like a render: what one-worker-per-GPU fan-out is tested with.
"""

from __future__ import annotations

import hashlib
import os
import time

from factory.stages import ReviewRequired, Rerun, Stage, StageContext, StageResult

DIGEST_STAGES = tuple(f"digest{i}" for i in range(1, 6))
MODULE = "tests.test_queues_stages"
EXTRA_STAGES = {
    **{name: f"{MODULE}:{name.upper()}" for name in DIGEST_STAGES},
    "poison": f"{MODULE}:POISON",
    "sleepy": f"{MODULE}:SLEEPY",
    "which_gpu": f"{MODULE}:WHICH_GPU",
    "warming": f"{MODULE}:WARMING",
    "rerunner": f"{MODULE}:RERUNNER",
    "reviewer": f"{MODULE}:REVIEWER",
    "flaky": f"{MODULE}:FLAKY",
}


def extra_stages_env() -> str:
    """The ``FACTORY_EXTRA_STAGES`` value that registers these stages in a worker."""
    return ",".join(f"{name}={target}" for name, target in EXTRA_STAGES.items())


def _digest(ctx: StageContext) -> StageResult:
    previous = ctx.files.get("blob")
    data = previous.read_bytes() if previous else str(ctx.values.get("seed_text", ctx.job_id)).encode()
    digest = hashlib.sha256(data).hexdigest()
    out = ctx.workdir / "blob.txt"
    out.write_text(digest + "\n")
    chain = list(ctx.values.get("chain", [])) + [digest[:8]]
    return StageResult(files={"blob": out}, values={"chain": chain})


def _make_digest_stage(name: str) -> Stage:
    return Stage(name=name, run=_digest, version="1", reads_files=("blob",), reads_values=("seed_text", "chain"), cacheable=False)


DIGEST1, DIGEST2, DIGEST3, DIGEST4, DIGEST5 = (_make_digest_stage(n) for n in DIGEST_STAGES)


def _poison(ctx: StageContext) -> StageResult:
    raise RuntimeError("poison stage: this input always crashes the engine")


POISON = Stage(name="poison", run=_poison, version="1", cacheable=False)


def _sleepy(ctx: StageContext) -> StageResult:
    # "hang_first_attempt": the first attempt hangs (far past any test time limit), a retry is quick.
    if ctx.attempt == 1 and ctx.params.get("hang_first_attempt"):
        time.sleep(600)
    time.sleep(float(ctx.params.get("sleep_seconds", 0)))
    return StageResult(values={"slept_on_attempt": ctx.attempt})


SLEEPY = Stage(name="sleepy", run=_sleepy, version="1", reads_params=("sleep_seconds", "hang_first_attempt"), cacheable=False)


def _which_gpu(ctx: StageContext) -> StageResult:
    time.sleep(float(ctx.params.get("sleep_seconds", 0)))
    return StageResult(values={"gpu": os.environ.get("CUDA_VISIBLE_DEVICES"), "pid": os.getpid()})


WHICH_GPU = Stage(name="which_gpu", run=_which_gpu, version="1", reads_params=("sleep_seconds",), cacheable=False)


def _slow_warm_up(settings) -> None:
    time.sleep(float(os.environ.get("FACTORY_TEST_WARM_SECONDS", "0")))


WARMING = Stage(name="warming", run=lambda ctx: StageResult(values={"ran_at": time.time()}), version="1",
                cacheable=False, warm_up=_slow_warm_up)


def _rerunner(ctx: StageContext) -> StageResult:
    if ctx.params.get("round") != 2:
        raise Rerun("digest1", "not good enough: once more with round 2", {"round": 2},
                    result=StageResult(values={"first_round_chain": ctx.values.get("chain")}))
    return StageResult(values={"rerun_done": True})


RERUNNER = Stage(name="rerunner", run=_rerunner, version="1", reads_values=("chain",), reads_params=("round",), cacheable=False)


def _reviewer(ctx: StageContext) -> StageResult:
    if not ctx.values.get("approved"):
        raise ReviewRequired("an editor must look at this", {"note": "test"},
                             result=StageResult(values={"reviewed_chain": ctx.values.get("chain")}))
    return StageResult(values={"after_review": True})


REVIEWER = Stage(name="reviewer", run=_reviewer, version="1", reads_values=("chain", "approved"), cacheable=False)


def _flaky(ctx: StageContext) -> StageResult:
    if ctx.attempt <= int(ctx.params.get("crashes", 0)):
        raise RuntimeError(f"flaky stage: crash on attempt {ctx.attempt}")
    return StageResult(values={"flaky_attempt": ctx.attempt})


FLAKY = Stage(name="flaky", run=_flaky, version="1", reads_params=("crashes",), cacheable=False)


# --- tests of the stages themselves (embedded runner, SQLite) ----------------------------------


def test_digest_chain_runs_in_the_embedded_runner(tmp_path):
    from factory import lifecycle, stages
    from factory.service import JobService
    from factory.settings import Settings
    from factory.store import Job

    stages.STAGE_MODULES.update(EXTRA_STAGES)
    with JobService(Settings.load(data_dir=tmp_path)) as service:
        job = lifecycle.submitted(service.jobs, Job(id="digestchain1", plan=list(DIGEST_STAGES), values={"seed_text": "hello"}))
        service.dispatcher.dispatch(job)
        done = service.follow(job.id)
        artifacts = service.artifacts
    assert done.status == "published"
    expected = b"hello"
    for _ in DIGEST_STAGES:
        expected = (hashlib.sha256(expected).hexdigest() + "\n").encode()
    assert artifacts.fetch(done.files["blob"]).read_bytes() == expected
    assert len(done.values["chain"]) == 5
