"""The real offline default (SmolLM2-135M through llama.cpp, behind litellm) on a short prompt."""

from __future__ import annotations

import pytest

from factory.settings import Settings
from prompts.request import NarrationRequest
from prompts.writer import _litellm, write_narration


def test_local_model_answers_through_litellm():
    litellm = _litellm()
    response = litellm.completion(
        model="local/smollm2-135m",
        messages=[{"role": "user", "content": "Say hello to the viewers in one short sentence."}],
        max_tokens=24,
    )
    assert response.choices[0].message.content.strip()
    assert 0 < response.usage.completion_tokens <= 24
    assert response.usage.prompt_tokens > 5


def test_local_model_writes_a_structured_narration():
    request = NarrationRequest(use_case="topic", target_seconds=15,
                               topic="City library reopens on Monday with longer opening hours")
    n = write_narration(request, Settings(llm_model="local/smollm2-135m"))
    assert n.model == "local/smollm2-135m" and n.language == "en"
    assert n.title.strip() and n.narration.strip() and n.captions
    assert all(c.strip() for c in n.captions)
    assert n.completion_tokens > 0 and n.prompt_tokens > 0 and n.cost_usd == 0
    assert 1 <= n.attempts <= 5
    assert 0 < n.estimated_seconds <= 15 * 1.15  # length control holds even for this tiny model
    # Whatever it invented is listed, never silently passed: each issue names text in the output.
    spoken = " ".join([n.title, n.narration, *n.captions])
    for issue in n.grounding_issues:
        assert issue["text"].split()[0].rstrip(",.") in spoken


def test_unknown_local_model_file_is_a_clear_error(tmp_path):
    from factory.stages import StageError

    missing = tmp_path / "nope.gguf"
    with pytest.raises(StageError, match="rejected the request: .*neither 'smollm2-135m' nor an existing .gguf"):
        write_narration(NarrationRequest(use_case="topic", topic="x y z"),
                        Settings(llm_model=f"local/{missing}"))
