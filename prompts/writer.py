"""The narration writer: a request (policy text, headline, product row) in, a checked script out.

    narration = write_narration(NarrationRequest(use_case="topic", topic="..."), settings)

Steps, each visible in the result:
1. validate the request (empty topic, product without a name, too-long source -> StageError);
2. when the source does not fit the model's context, summarise it in parts first (map-reduce
   through the same model) and write from the notes: nothing is silently dropped;
3. render the use case's template and ask for JSON through ``litellm.completion`` (the only way
   this package talks to a model, hosted or local);
4. validate the answer; an invalid one is sent back with the error (bounded). The small local
   model may still fail: then it is asked for plain text and the title and captions are built
   from its sentences (demo quality);
5. length control: too long -> one rewrite with feedback, then a cut at a sentence boundary;
6. grounding and blocked-term checks; the result lists what an editor must look at.

Provider timeouts and errors are retried with back-off; after the last try the job fails with a
``StageError`` that carries the provider's message.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from typing import Any

from factory.payloads import Narration
from factory.stages import ProgressFn, StageError, no_progress
from prompts import length
from prompts.config import WriterConfig
from prompts.grounding import check_grounding
from prompts.output import (
    DraftNarration,
    InvalidOutput,
    clean_plain_text,
    draft_schema,
    parse_draft,
)
from prompts.request import NarrationRequest
from prompts.safety import find_blocked_terms, find_override_attempts, load_blocked_terms
from prompts.templates import escape_data, load_template, template_for_use_case
from factory.text import CJK_CHAR

LOCAL_PREFIX = "local/"
DEFAULT_CONTEXT_TOKENS = 8192
"""Assumed context window for models litellm knows nothing about."""
PROMPT_OVERHEAD_TOKENS = 700
"""Instructions around the data (system text, output format, feedback)."""



# --- talking to the model ---------------------------------------------------------------------
def _litellm() -> Any:
    """Import litellm on first use (it takes seconds) and make ``local/...`` models reachable."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # offline: bundled price map
    import litellm

    litellm.suppress_debug_info = True
    from prompts import local_llm

    local_llm.register()
    return litellm


@dataclass
class _Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0


class LLMSession:
    """One model, with retries and running token / cost totals for the job."""

    def __init__(self, model: str, config: WriterConfig):
        self.model = model
        self.config = config
        self.usage = _Usage()
        self.is_local = model.startswith(LOCAL_PREFIX)

    def ask(self, messages: list[dict[str, str]], max_tokens: int, json_output: bool = False,
            language: str = "en") -> str:
        """The answer's text. Timeouts and provider errors are retried with doubling back-off;
        requests the provider rejects outright (bad key, unknown model) fail at once."""
        litellm = _litellm()
        rejected = (litellm.AuthenticationError, litellm.PermissionDeniedError,
                    litellm.NotFoundError, litellm.BadRequestError)
        extra: dict[str, Any] = {}
        if json_output:
            # Local: a JSON schema becomes a llama.cpp grammar. Hosted: plain JSON mode.
            extra["response_format"] = (
                {"type": "json_schema", "json_schema": {"name": "narration", "schema": draft_schema(language)}}
                if self.is_local else {"type": "json_object"}
            )
        attempts = max(1, self.config.llm_max_attempts)
        for attempt in range(1, attempts + 1):
            try:
                response = litellm.completion(
                    model=self.model,
                    messages=messages,
                    max_tokens=max_tokens,
                    temperature=self.config.temperature,
                    timeout=self.config.llm_timeout_seconds,
                    drop_params=True,  # providers without JSON mode still answer
                    **extra,
                )
            except rejected as exc:
                raise StageError(
                    f"The language model {self.model} rejected the request: {_provider_message(exc)}"
                ) from exc
            except Exception as exc:  # timeouts, rate limits, outages: worth another try
                if attempt == attempts:
                    raise StageError(
                        f"The language model {self.model} failed {attempts} times; "
                        f"last error: {_provider_message(exc)}"
                    ) from exc
                time.sleep(self.config.llm_backoff_seconds * 2 ** (attempt - 1))
                continue
            self._count(litellm, response)
            return response.choices[0].message.content or ""
        raise AssertionError("unreachable")

    def _count(self, litellm: Any, response: Any) -> None:
        self.usage.calls += 1
        usage = getattr(response, "usage", None)
        if usage is not None:
            self.usage.prompt_tokens += int(getattr(usage, "prompt_tokens", 0) or 0)
            self.usage.completion_tokens += int(getattr(usage, "completion_tokens", 0) or 0)
        try:
            self.usage.cost_usd += float(litellm.completion_cost(completion_response=response) or 0.0)
        except Exception:
            pass  # local and unknown models have no price: cost stays 0

    def context_tokens(self) -> int:
        if self.is_local:
            from prompts.local_llm import CONTEXT_TOKENS

            return CONTEXT_TOKENS
        try:
            info = _litellm().get_model_info(self.model)
            return int(info.get("max_input_tokens") or DEFAULT_CONTEXT_TOKENS)
        except Exception:
            return DEFAULT_CONTEXT_TOKENS


def _provider_message(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return re.sub(r"\s+", " ", str(message)).strip()[:500]


# --- sizes ------------------------------------------------------------------------------------


def estimate_tokens(text: str) -> int:
    """Rough token count without a tokenizer: a CJK character ~1 token, other text ~3.5 chars
    per token. Deliberately on the high side so a prompt never overflows the context."""
    cjk = len(CJK_CHAR.findall(text))
    return cjk + (len(text) - cjk) // 3 + 1


def _output_tokens(budget: int, language: str) -> int:
    """Tokens to allow for the answer: the narration budget plus title, captions and JSON."""
    per_unit = 1.6 if language == "en" else 1.3
    return int(budget * per_unit * 1.3) + 200


# --- the writer ---------------------------------------------------------------------------------
def write_narration(request: NarrationRequest, settings: Any, *, model: str | None = None,
                    config: WriterConfig | None = None,
                    progress: ProgressFn = no_progress) -> Narration:
    """Write, check and time one narration. Raises ``StageError`` for bad input or a failing model."""
    request.validate()
    config = config or WriterConfig.from_settings(settings)
    model = model or settings.llm_model
    session = LLMSession(model, config)
    template = template_for_use_case(request.use_case)
    formats = load_template("output_formats")
    language = request.language
    target = float(request.target_seconds or template.default_target_seconds)
    rate = length.speaking_rate(language, request.speaking_rate)
    budget = length.budget_units(target, rate)
    max_tokens = _output_tokens(budget, language)
    warnings = [
        f"The input contains text that looks like an attempt to change the instructions "
        f"({phrase!r}); it was treated as data."
        for phrase in find_override_attempts(request.input_text())
    ]

    progress(0.05, "preparing the source")
    variables, notes_calls = _template_variables(request, session, config, max_tokens, progress)
    variables.update(budget=budget, target_seconds=round(target), unit=rate.unit)
    if notes_calls:
        warnings.append(f"The source was too long for the model in one piece: it was summarised in "
                        f"{notes_calls} parts first. Facts are still checked against the full source.")
    system = template.render("system", language, **variables)
    user = template.render("user", language, **variables)
    calls_before = session.usage.calls

    progress(0.3, "writing the narration")
    messages = [{"role": "system", "content": system + "\n\n" + formats.render("json", language)},
                {"role": "user", "content": user}]
    draft, raw, error = _ask_for_draft(session, messages, language, max_tokens, config, formats)
    fallback = False
    if draft is None:
        if not session.is_local:
            raise StageError(f"The language model {model} did not return a usable narration after "
                             f"{config.max_invalid_outputs} tries: {error}")
        progress(0.6, "the model could not keep to JSON; asking for plain text")
        draft = _plain_text_fallback(session, system, user, language, max_tokens, formats)
        fallback = True
        warnings.append("The local model did not return valid JSON; the title and captions were built "
                        "from its plain-text narration.")

    finished = length.drop_unfinished_sentence(draft.narration)
    if finished != draft.narration:
        draft = DraftNarration.model_construct(title=draft.title, captions=draft.captions, narration=finished)

    # Length control: one rewrite with feedback, then a cut at a sentence boundary.
    cut = False
    if length.count_units(draft.narration, language) > budget * config.length_tolerance:
        if not fallback:
            progress(0.75, "narration too long; asking for a shorter one")
            shorter = _ask_shorter(session, messages, raw, draft, language, budget, target, rate,
                                   max_tokens, formats)
            if shorter is not None and len(shorter.narration) < len(draft.narration):
                draft = shorter
        if length.count_units(draft.narration, language) > budget * config.length_tolerance:
            draft = DraftNarration.model_construct(
                title=draft.title, captions=draft.captions,
                narration=length.cut_to_budget(draft.narration, language, budget))
            cut = True
            warnings.append(f"The narration was cut at a sentence boundary to fit {target:g} seconds.")

    progress(0.9, "checking facts against the source")
    issues = check_grounding([draft.title, *draft.captions, draft.narration],
                             request.grounding_source(), language)
    blocked = load_blocked_terms(config.blocked_terms, config.blocked_terms_file)
    hits = find_blocked_terms("\n".join([draft.title, draft.narration, *draft.captions]), blocked)

    return Narration(
        title=draft.title,
        narration=draft.narration,
        captions=list(draft.captions),
        language=language,
        estimated_seconds=max(0.1, length.estimate_seconds(draft.narration, rate)),
        target_seconds=target,
        model=model,
        template_version=f"{template.versioned_name}+{formats.versioned_name}",
        prompt_tokens=session.usage.prompt_tokens,
        completion_tokens=session.usage.completion_tokens,
        cost_usd=round(session.usage.cost_usd, 6),
        attempts=session.usage.calls - calls_before,
        notes_calls=notes_calls,
        grounding_issues=[i.to_dict() for i in issues],
        blocked_terms=hits,
        warnings=warnings,
        plain_text_fallback=fallback,
        cut_to_length=cut,
        speaking_rate=rate.per_second,
    )


def _ask_for_draft(session: LLMSession, messages: list[dict[str, str]], language: str,
                   max_tokens: int, config: WriterConfig, formats: Any
                   ) -> tuple[DraftNarration | None, str, str]:
    """Ask until the answer validates (at most ``max_invalid_outputs`` times), feeding the
    validation error back each time (the conversation grows with each rejected answer)."""
    error = ""
    for _ in range(max(1, config.max_invalid_outputs)):
        raw = session.ask(messages, max_tokens, json_output=True, language=language)
        try:
            return parse_draft(raw, language), raw, ""
        except InvalidOutput as exc:
            error = str(exc)
            messages = [*messages, {"role": "assistant", "content": raw[:2000]},
                        {"role": "user", "content": formats.render("feedback_invalid", language, error=error)}]
    return None, "", error


def _ask_shorter(session: LLMSession, messages: list[dict[str, str]], raw: str, draft: DraftNarration,
                 language: str, budget: int, target: float, rate: length.SpeakingRate,
                 max_tokens: int, formats: Any) -> DraftNarration | None:
    units = length.count_units(draft.narration, language)
    feedback = formats.render("feedback_too_long", language, length=units, unit=rate.unit, budget=budget,
                              seconds=round(units / rate.per_second), target_seconds=round(target))
    retry = [*messages, {"role": "assistant", "content": raw[:4000]}, {"role": "user", "content": feedback}]
    answer = session.ask(retry, max_tokens, json_output=True, language=language)
    try:
        return parse_draft(answer, language)
    except InvalidOutput:
        return None  # keep the first draft; it will be cut


def _plain_text_fallback(session: LLMSession, system: str, user: str, language: str,
                         max_tokens: int, formats: Any) -> DraftNarration:
    """Demo-quality path for small local models: plain sentences in, structure built around them."""
    messages = [{"role": "system", "content": system + "\n\n" + formats.render("plain_text", language)},
                {"role": "user", "content": user}]
    text = clean_plain_text(session.ask(messages, max_tokens, json_output=False))
    sentences = length.split_sentences(text)
    if length.count_units(text, language) < 5 or not sentences:
        raise StageError(f"The local model ({session.model}) did not write a usable narration. Try again, "
                         "or set llm_model to a stronger model.")
    draft = {
        "title": _shorten(sentences[0], language, words=10, chars=15),
        "narration": text,
        "captions": [_shorten(s, language, words=8, chars=15) for s in sentences[:6]],
    }
    try:
        return DraftNarration.model_validate(draft, context={"language": language})
    except Exception as exc:
        raise StageError(f"The local model ({session.model}) did not write a usable narration: "
                         f"{str(exc).splitlines()[-1]}. Set llm_model to a stronger model.") from exc


def _shorten(sentence: str, language: str, *, words: int, chars: int) -> str:
    sentence = sentence.strip().rstrip(".!?。！？")
    if language == "zh":
        return sentence[:chars]
    parts = sentence.split()
    return " ".join(parts[:words]) + ("…" if len(parts) > words else "")


# --- inputs ---------------------------------------------------------------------------------------
def _template_variables(request: NarrationRequest, session: LLMSession, config: WriterConfig,
                        max_tokens: int, progress: ProgressFn) -> tuple[dict[str, Any], int]:
    """The data for the template, escaped; a long policy source becomes notes first."""
    source = request.grounding_source()
    if len(source) > config.max_source_chars:
        raise StageError(
            f"The source text is {len(source):,} characters long; the limit is {config.max_source_chars:,} "
            "(setting max_source_chars). Split it into several videos or shorten it."
        )
    room = session.context_tokens() - PROMPT_OVERHEAD_TOKENS - max_tokens
    if request.use_case == "topic":
        _must_fit(request.topic + request.summary, room, "headline and summary")
        return {"topic": escape_data(request.topic.strip()), "summary": escape_data(request.summary.strip())}, 0
    if request.use_case == "product":
        _must_fit(source, room, "product row")
        return {"product": [(escape_data(k), escape_data(v)) for k, v in request.product_fields()]}, 0
    text = request.source.strip()
    if estimate_tokens(text) <= room:
        return {"source": escape_data(text), "notes_only": False}, 0
    notes, calls = _summarise(text, request.language, session, room, progress)
    return {"source": escape_data(notes), "notes_only": True}, calls


def _must_fit(text: str, room: int, what: str) -> None:
    if estimate_tokens(text) > room:
        raise StageError(f"The {what} is too long for the model ({estimate_tokens(text):,} tokens, room for "
                         f"{room:,}). Shorten it, or use the policy explainer for long documents.")


def _summarise(text: str, language: str, session: LLMSession, room: int,
               progress: ProgressFn, max_rounds: int = 3) -> tuple[str, int]:
    """Map-reduce: notes per part, in order; repeat on the notes while they still do not fit."""
    template = load_template("source_notes")
    calls = 0
    for round_number in range(1, max_rounds + 1):
        chunk_tokens = max(200, room - PROMPT_OVERHEAD_TOKENS)  # the notes prompt has its own overhead
        chunks = split_into_chunks(text, chunk_tokens)
        notes = []
        for i, chunk in enumerate(chunks, start=1):
            progress(0.05 + 0.25 * i / len(chunks), f"summarising part {i} of {len(chunks)} (round {round_number})")
            variables = {"source": escape_data(chunk), "part": i, "parts": len(chunks), "max_notes": 12}
            messages = [{"role": "system", "content": template.render("system", language, **variables)},
                        {"role": "user", "content": template.render("user", language, **variables)}]
            notes.append(clean_notes(session.ask(messages, max_tokens=400)))
            calls += 1
        text = "\n".join(n for n in notes if n)
        if not text.strip():
            raise StageError("The model returned no notes for the long source; try again or shorten the source.")
        if estimate_tokens(text) <= room:
            return text, calls
    raise StageError("The source is too long for the model even after summarising it; "
                     "split it into several videos or choose a model with a larger context.")


def clean_notes(text: str) -> str:
    return "\n".join(line.strip() for line in (text or "").splitlines() if line.strip())


def split_into_chunks(text: str, max_tokens: int) -> list[str]:
    """Consecutive parts of at most ``max_tokens`` (estimated), split at paragraphs, then
    sentences, then (for one huge sentence) at a character count. Every character is kept."""
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        if estimate_tokens(paragraph) <= max_tokens:
            pieces.append(paragraph)
            continue
        for sentence in length.split_sentences(paragraph):
            while estimate_tokens(sentence) > max_tokens:
                step = max(1, max_tokens * (1 if CJK_CHAR.search(sentence) else 3))
                pieces.append(sentence[:step])
                sentence = sentence[step:]
            pieces.append(sentence)
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        candidate = f"{current}\n\n{piece}" if current else piece
        if current and estimate_tokens(candidate) > max_tokens:
            chunks.append(current)
            current = piece
        else:
            current = candidate
    if current.strip():
        chunks.append(current)
    return chunks
