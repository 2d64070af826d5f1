"""A script in one language and a narration in the other: caught before any speech is made,
in every way a job comes in (the speak stage, a batch row; the console and the API have their
own tests), with a sentence in the editor's language."""

from __future__ import annotations

import pytest

from factory.stages import StageContext, StageError


@pytest.mark.parametrize("text, written", [
    ("大家好，欢迎收看今天的节目。", "zh"),
    ("欢迎使用 iPhone 15 Pro，只要 5999 元。", "zh"),  # a Chinese script that names an English product
    ("Hello there, and welcome.", "en"),
    ("The word 你好 means hello.", "en"),  # an English script that quotes a Chinese word
    ("2026 — 12%", None),  # nothing that tells
])
def test_the_language_a_script_is_written_in(text, written):
    from factory.text import language_mismatch, written_language

    assert written_language(text) == written
    for language in ("en", "zh"):
        mismatch = language_mismatch(text, language)
        assert (mismatch is not None) == (written is not None and written != language)


def test_the_speak_stage_refuses_a_chinese_script_for_an_english_voice(tmp_path):
    from factory.settings import Settings
    from tts.stage import run

    ctx = StageContext(job_id="mismatch", params={"language": "en"}, files={},
                       values={"script": "大家好，欢迎收看今天的节目。"}, workdir=tmp_path,
                       settings=Settings.load(data_dir=tmp_path / "data"))
    with pytest.raises(StageError, match="written in Chinese, but the narration language is English"):
        run(ctx)
    assert not list(tmp_path.glob("*.wav"))  # refused before any speech was made


def test_a_batch_row_in_the_other_language_is_refused_in_its_own_language(portrait_path, tmp_path):
    from factory.batch import validate_rows

    rows = [{"script": "大家好，欢迎收看今天的节目。", "language": "en"},
            {"script": "Hello there, and welcome.", "language": "zh"},
            {"script": "大家好，欢迎收看今天的节目。", "language": "zh"}]
    planned = validate_rows(rows, default_image=portrait_path, base=tmp_path)
    assert planned[0].problem.startswith("The script is written in Chinese")
    assert planned[1].problem.startswith("讲稿是用英语写的") and "written in English" in planned[1].problem
    assert planned[2].problem is None
