"""Coqui voices through the worker in Coqui's own environment (.venv-coqui): a small VITS with
random weights, built from a config and saved to a folder as a user's weights would be, speaks
text into audio with per-symbol timings; every way it can go wrong comes back as a sentence."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import service_missing
from factory.media import write_wav
from factory.text import CJK_CHAR
from tts.coqui_engine import (
    COQUI_PYTHON_VARIABLE,
    CoquiEngine,
    _worker,
    close_workers,
    coqui_env_installed,
    coqui_python,
    read_coqui_voice,
    save_cloned_voice,
)
from tts.engine import TTSError

CHINESE = "今天我们介绍新的社区图书馆，欢迎大家周末来看书。"
SECOND = "图书馆在公园旁边。"
ENGLISH = "hello world, the library opens today."

# Builds a VITS with a few small layers from a config (character input, so no phonemizer data is
# needed), random weights, and saves config.json + model.pth the way Coqui's trainer does.
BUILD_MODEL = r"""
import sys
from pathlib import Path
import torch
from TTS.tts.configs.shared_configs import CharactersConfig
from TTS.tts.configs.vits_config import VitsArgs, VitsConfig
from TTS.tts.models import setup_model

folder, cleaner, characters = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
args = VitsArgs(hidden_channels=32, hidden_channels_ffn_text_encoder=64, num_layers_text_encoder=1,
                num_layers_posterior_encoder=1, num_layers_flow=1, upsample_initial_channel_decoder=32,
                resblock_kernel_sizes_decoder=[3], resblock_dilation_sizes_decoder=[[1, 3, 5]],
                use_sdp=False, init_discriminator=False)
config = VitsConfig(model_args=args, use_phonemes=False, text_cleaner=cleaner, add_blank=True,
                    characters=CharactersConfig(characters_class="TTS.tts.models.vits.VitsCharacters",
                                                characters=characters, punctuations="，。,. ", pad="<PAD>",
                                                eos="<EOS>", bos="<BOS>", blank="<BLNK>", phonemes=""))
torch.manual_seed(0)
model = setup_model(config)
folder.mkdir(parents=True, exist_ok=True)
torch.save({"model": model.state_dict()}, folder / "model.pth")
config.save_json(str(folder / "config.json"))
"""


# A small XTTS-v2 (one GPT layer; Coqui's full-size vocoder and speaker encoder) with random
# weights and a character vocabulary, saved as config.json + model.pth + vocab.json.
BUILD_XTTS = r"""
import sys
from pathlib import Path
import torch
from tokenizers import Tokenizer, models
from TTS.tts.configs.xtts_config import XttsConfig
from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer
from TTS.tts.models.xtts import Xtts, XttsArgs

folder = Path(sys.argv[1])
folder.mkdir(parents=True, exist_ok=True)
specials = ["[STOP]", "[UNK]", "[SPACE]", "[START]", "[en]", "[zh-cn]"]
vocab = {t: i for i, t in enumerate(specials + list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'-"))}
tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="[UNK]"))
tokenizer.add_special_tokens(specials)
tokenizer.save(str(folder / "vocab.json"))
args = XttsArgs(gpt_layers=1, gpt_n_model_channels=64, gpt_n_heads=2, decoder_input_dim=64, gpt_max_audio_tokens=20)
config = XttsConfig(model_args=args, languages=["en", "zh-cn"])
torch.manual_seed(0)
model = Xtts(config)
model.tokenizer = VoiceBpeTokenizer(vocab_file=str(folder / "vocab.json"))
model.init_models()
torch.save({"model": model.state_dict()}, folder / "model.pth")
config.save_json(str(folder / "config.json"))
"""


def _build(python: Path, folder: Path, cleaner: str = "", characters: str = "", script: str = BUILD_MODEL) -> Path:
    done = subprocess.run([str(python), "-c", script, str(folder), cleaner, characters],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return folder


@pytest.fixture(scope="module", autouse=True)
def _stop_workers():
    yield
    close_workers()


@pytest.fixture(scope="module")
def python() -> Path:
    if not coqui_env_installed():
        service_missing("Coqui's environment is not installed: run deploy/coqui/install.sh")
    return coqui_python()


@pytest.fixture(scope="module")
def chinese_folder(python, tmp_path_factory) -> Path:
    characters = "".join(sorted(set(CJK_CHAR.findall(CHINESE + SECOND))))
    return _build(python, tmp_path_factory.mktemp("coqui") / "my-mandarin-vits", "chinese_mandarin_cleaners", characters)


@pytest.fixture(scope="module")
def engine(chinese_folder) -> CoquiEngine:
    return CoquiEngine(chinese_folder)


def test_folder_voice_is_read_without_loading_the_model(chinese_folder) -> None:
    voice = read_coqui_voice(chinese_folder)
    assert (voice.model, voice.languages, voice.sample_rate) == ("vits", {"zh": "zh"}, 22050)
    assert voice.name == "coqui:my-mandarin-vits" and "licence of your weights" in voice.licence


def test_a_coqui_folder_is_a_voice_by_its_path_with_its_licence_unknown(chinese_folder) -> None:
    """What `--voice /path/to/folder` does: the library lists it and the engine choice speaks it."""
    from tts.engine import load_engine
    from tts.voices import find_voice, is_installed

    voice = find_voice(str(chinese_folder))
    assert (voice.engine, voice.language, voice.commercial_use) == ("coqui", "zh", False)
    assert is_installed(voice) and "licence of your weights" in voice.model_record()["licence"]
    speech = load_engine(str(chinese_folder), "zh").synthesize(CHINESE, "zh")
    assert speech.seconds > 0.2


def test_vits_speaks_a_sentence_with_one_timing_per_character(engine) -> None:
    speech = engine.synthesize(CHINESE, "zh")
    assert speech.sample_rate == 22050 and speech.samples.dtype == np.float32
    assert speech.seconds > 0.2 and np.sqrt(np.mean(speech.samples ** 2)) > 1e-3
    # Every character of the script is a timed word, in order, inside the audio.
    assert [w.word for w in speech.words] == CJK_CHAR.findall(CHINESE)
    assert all(w.end > w.start for w in speech.words)
    assert all(a.end <= b.start + 1e-9 for a, b in zip(speech.words, speech.words[1:]))
    assert [p.phoneme for p in speech.phonemes] == CJK_CHAR.findall(CHINESE)
    assert speech.phonemes[-1].end <= speech.seconds


def test_the_symbol_durations_add_up_to_the_audio(engine) -> None:
    worker = _worker(engine.voice)
    reply = worker.request({"text": CHINESE, "language": "zh"}, "testing")
    samples = len(reply["samples"]) * 3 // 4 // 4  # base64 of float32
    assert sum(n for _, n in reply["tokens"]) == samples
    # add_blank: a blank before, between and after the 22 characters and 2 punctuation marks.
    assert len(reply["tokens"]) == 2 * (len(CJK_CHAR.findall(CHINESE)) + 2) + 1


def test_same_text_same_audio_and_sentences_follow_each_other(engine) -> None:
    once = engine.synthesize_sentence(SECOND, "zh")
    again = engine.synthesize_sentence(SECOND, "zh")
    assert np.array_equal(once.samples, again.samples)
    both = engine.synthesize(CHINESE + SECOND, "zh")
    count = len(CJK_CHAR.findall(CHINESE))
    first_end, second = both.words[count - 1].end, both.words[count:]
    assert [w.word for w in second] == CJK_CHAR.findall(SECOND)
    assert second[0].start >= first_end + 0.25 - 1e-6  # the pause between sentences


def test_a_language_the_model_lacks_is_refused_naming_a_voice_that_can(engine) -> None:
    with pytest.raises(TTSError, match="speaks Chinese, not English.*en_US-joe-medium"):
        engine.synthesize("Hello there.", "en")


def test_english_character_model_times_whole_words(python, tmp_path) -> None:
    folder = _build(python, tmp_path / "english", "english_cleaners", "abcdefghijklmnopqrstuvwxyz")
    speech = CoquiEngine(folder).synthesize(ENGLISH, "en")
    assert [w.word for w in speech.words] == ["hello", "world", "the", "library", "opens", "today"]
    assert speech.words[-1].end <= speech.seconds


def test_missing_folder_config_and_weights_are_sentences(chinese_folder, tmp_path) -> None:
    with pytest.raises(TTSError, match="folder .*nowhere does not exist"):
        CoquiEngine(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TTSError, match="has no config.json: put the config.json that came with the weights"):
        CoquiEngine(empty)
    no_weights = tmp_path / "no-weights"
    no_weights.mkdir()
    shutil.copy(chinese_folder / "config.json", no_weights)
    with pytest.raises(TTSError, match="has no weights file: put the model's model.pth"):
        CoquiEngine(no_weights)
    unsaid = tmp_path / "no-language"
    shutil.copytree(chinese_folder, unsaid)
    config = json.loads((unsaid / "config.json").read_text())
    (unsaid / "config.json").write_text(json.dumps({**config, "text_cleaner": "basic_cleaners"}))
    with pytest.raises(TTSError, match='does not say which language.*voice.json with {"language": "zh"}'):
        CoquiEngine(unsaid)
    (unsaid / "voice.json").write_text('{"language": "zh"}')
    assert CoquiEngine(unsaid).languages == {"zh"}


def test_broken_weights_are_reported_in_words(chinese_folder, tmp_path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(chinese_folder, broken)
    (broken / "model.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(TTSError, match="Coqui could not load the model .*model.pth"):
        CoquiEngine(broken).synthesize(CHINESE, "zh")


def test_missing_environment_says_how_to_install_it(chinese_folder, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(COQUI_PYTHON_VARIABLE, str(tmp_path / "no-env" / "bin" / "python"))
    with pytest.raises(TTSError, match="Install it with `deploy/coqui/install.sh`"):
        CoquiEngine(chinese_folder).synthesize(CHINESE, "zh")


def _clip(path: Path, pitch: float) -> Path:
    """Three seconds of a hummed tone, as a user's recording would arrive (16-bit WAV, 16 kHz)."""
    t = np.arange(16000 * 3) / 16000
    return write_wav(path, 0.3 * np.sin(2 * np.pi * pitch * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2, 16000)


def test_xtts_clones_a_voice_from_a_reference_clip(python, tmp_path) -> None:
    weights = _build(python, tmp_path / "xtts-v2", script=BUILD_XTTS)
    with pytest.raises(TTSError, match="has no speaker to imitate: clone one from a reference clip"):
        CoquiEngine(weights)
    consent = "Li Wei agreed in writing on 2026-12-01 to have her voice cloned for our explainers."
    voice = save_cloned_voice(tmp_path / "li-wei", weights, _clip(tmp_path / "li.wav", 180), consent, "en")
    assert (voice.name, voice.model, voice.consent, voice.sample_rate) == ("coqui:li-wei", "xtts", consent, 24000)
    assert read_coqui_voice(tmp_path / "li-wei").speaker_wav.read_bytes() == (tmp_path / "li.wav").read_bytes()
    speech = CoquiEngine(tmp_path / "li-wei").synthesize("Hello there.", "en")
    assert speech.sample_rate == 24000 and speech.seconds > 0.1
    assert np.sqrt(np.mean(speech.samples ** 2)) > 1e-3
    assert speech.phonemes == []  # XTTS-v2 has no alignment: the renderer follows the audio

    # Another speaker's clip gives another voice.
    other = save_cloned_voice(tmp_path / "zhang", weights, _clip(tmp_path / "zhang.wav", 120), consent, "en")
    assert not np.array_equal(CoquiEngine(other.folder).synthesize("Hello there.", "en").samples, speech.samples)

    (tmp_path / "li-wei" / "reference.wav").write_bytes(b"not audio")
    with pytest.raises(TTSError, match="cannot be read as audio"):
        CoquiEngine(tmp_path / "li-wei").synthesize("Hello there.", "en")


def test_a_cloned_voice_needs_xtts_weights_and_a_consent_note(chinese_folder, tmp_path) -> None:
    clip = _clip(tmp_path / "speaker.wav", 150)
    with pytest.raises(TTSError, match="needs a consent note"):
        save_cloned_voice(tmp_path / "clone", chinese_folder, clip, consent=" ", language="zh")
    with pytest.raises(TTSError, match="Only XTTS-v2 weights clone a voice"):
        save_cloned_voice(tmp_path / "clone", chinese_folder, clip, consent="Li Wei agreed in writing, 2026-12-01",
                          language="zh")
