"""Scripts full of signs, addresses and markup, end to end through the CLI (speak, render,
check, publish): the voice reads them in words, the transcript check expects those words,
and a correct narration is published, not held for review."""

from __future__ import annotations

from test_pipeline import env, factory, last_job  # noqa: F401  (env is a fixture)

from factory.store import JobStatus

ENGLISH = (
    "Plans start at $9/month. Visit example.com/pricing & save 20%! "
    'Write to help@example.com. <break time="2s"/> Q&A at 5 pm: x = 5. #SmallBusiness'
)
# Chinese policy text with an English brand, numbers, money, units and signs; read by the
# Mandarin voice (no voice option: the language's own voice).
MIXED_CHINESE = (
    "2026年3月5日，新款AI手机售价¥1,999元，支持5G网络。"
    '每月补贴1,500元/户，增长15%。<break time="1s"/>A&B合作。#乡村振兴#'
)


def _make(env, portrait_path, script: str, *options: str):
    result = factory("make", "--script", script, "--image", str(portrait_path), "--out", str(env / "video.mp4"),
                     "--min-resolution", "384", *options)
    return result, last_job(env)[1]


def test_english_signs_and_addresses_are_published_not_held(env, portrait_path):
    result, job = _make(env, portrait_path, ENGLISH)
    qa = job.values["qa"]
    assert job.status == JobStatus.PUBLISHED, (result.output, qa.get("reasons"))
    spoken = job.values["speech"]["text"]
    for words in ("nine dollars per month", "example dot com slash pricing", "help at example dot com",
                  "Q and A", "x equals five", "Small Business"):
        assert words in spoken, spoken
    assert "break" not in spoken and "/" not in spoken and "$" not in spoken
    assert qa["passed"] and qa["numbers"]["wer"] <= 0.15, qa


def test_mixed_chinese_and_english_is_published_not_held(env, portrait_path):
    result, job = _make(env, portrait_path, MIXED_CHINESE, "--language", "zh")
    qa = job.values["qa"]
    assert job.status == JobStatus.PUBLISHED, (result.output, qa.get("reasons"))
    spoken = job.values["speech"]["text"]
    assert "二零二六年三月五日" in spoken and "一千九百九十九元" in spoken and "百分之十五" in spoken
    assert "AI" in spoken and "五G" in spoken and "元每户" in spoken and "A和B" in spoken
    assert not any(ch.isdigit() for ch in spoken) and not set("%/&¥#<>") & set(spoken), spoken
    assert qa["passed"] and qa["numbers"]["cer"] <= 0.2, qa
