"""Coqui voices: a user's own VITS or XTTS-v2 weights, spoken by a worker in Coqui's own environment.

Coqui (``coqui-tts``) needs torchaudio, and torchaudio has no release for the factory's torch, so
Coqui lives in a separate virtual environment (``.venv-coqui``, made by ``deploy/coqui/install.sh``)
and speaks through ``tts.coqui_worker``, a subprocess that stays up while the voice is in use. The
factory's own install is untouched.

A Coqui voice is a folder:

* **Weights folder**: ``config.json`` and the checkpoint (``model.pth``, ``model_file.pth``,
  ``best_model.pth`` or ``checkpoint.pth``; XTTS-v2 also ``vocab.json``), as Coqui trains or ships
  them. An optional ``voice.json`` says what the config cannot: ``{"language": "zh", "licence":
  "..."}``; for XTTS-v2 it may name a ``reference_clip`` in the folder.
* **Cloned voice** (``save_cloned_voice``): a folder holding only ``voice.json`` (the XTTS-v2
  weights folder it uses, its language, the consent note) and the speaker's reference clip.
  A cloned voice without a consent note is refused.

Timings: VITS predicts how many frames each input symbol lasts; the worker returns them, so the
speech carries per-symbol timings (IPA phonemes for a phoneme model, characters for a character
model, where each Chinese character is also a word). XTTS-v2 generates audio token by token with
no alignment: its speech has no phoneme timings and the renderer follows the audio itself.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from factory.text import CJK_CHAR, language_code
from tts.engine import PhonemeTiming, SentenceAudio, SentenceEngine, TTSError, WordTiming, file_digest

COQUI_PYTHON_VARIABLE = "FACTORY_COQUI_PYTHON"
"""Environment variable: the Python of Coqui's environment, when it is not ``.venv-coqui``."""
INSTALL_COMMAND = "deploy/coqui/install.sh"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ENV = PROJECT_ROOT / ".venv-coqui"

CONFIG_FILE = "config.json"
VOICE_FILE = "voice.json"
CHECKPOINT_NAMES = ("model.pth", "model_file.pth", "best_model.pth", "checkpoint.pth")
MODELS = ("vits", "xtts")
OWN_WEIGHTS_LICENCE = "the licence of your weights (unknown to the factory: check it before publishing)"

# What a character model's text cleaner says about its language, when nothing else does.
_CLEANER_LANGUAGES = {"chinese_mandarin_cleaners": "zh", "english_cleaners": "en", "french_cleaners": "fr",
                      "portuguese_cleaners": "pt", "italian_cleaners": "it", "basic_german_cleaners": "de",
                      "basic_turkish_cleaners": "tr"}


@dataclass(frozen=True)
class CoquiVoice:
    """A Coqui voice read from its folder, without loading any model."""

    folder: Path
    """The folder the editor named."""
    model: str
    """"vits" or "xtts"."""
    config: Path
    checkpoint: Path
    languages: dict[str, str]
    """Language family -> the code the model itself uses ("zh" -> "zh-cn")."""
    sample_rate: int
    speaker_wav: Path | None = None
    """XTTS-v2: the reference clip of the speaker to clone."""
    consent: str = ""
    licence: str = OWN_WEIGHTS_LICENCE

    @property
    def name(self) -> str:
        return f"coqui:{self.folder.name}"

    @property
    def language(self) -> str:
        """The voice's main language (the first the model or ``voice.json`` names)."""
        return next(iter(self.languages))


def _read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TTSError(f"The {what} {path} cannot be read as JSON ({exc}). Use the file that came with the weights.") from None
    if not isinstance(data, dict):
        raise TTSError(f"The {what} {path} is not a JSON object. Use the file that came with the weights.")
    return data


def read_coqui_voice(folder: str | Path, *, need_speaker: bool = True) -> CoquiVoice:
    """The Coqui voice in ``folder`` (weights folder or cloned voice; see the module docstring).
    Raises ``TTSError`` with a sentence naming the missing or wrong file. ``need_speaker=False``
    accepts XTTS-v2 weights with no speaker yet (to clone one from them)."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise TTSError(f"The Coqui voice folder {folder} does not exist. Give the folder that holds "
                       f"the model's {CONFIG_FILE} and weights.")
    meta = _read_json(folder / VOICE_FILE, "voice file") if (folder / VOICE_FILE).is_file() else {}
    weights = folder
    if meta.get("model"):  # a cloned voice: the weights live elsewhere
        weights = (folder / str(meta["model"])).expanduser()
        if not weights.is_dir():
            raise TTSError(f"The cloned voice {folder} uses the XTTS-v2 weights in {weights}, which do not exist. "
                           f"Put them back or clone the voice again.")
    config_path = weights / CONFIG_FILE
    if not config_path.is_file():
        raise TTSError(f"The Coqui voice folder {weights} has no {CONFIG_FILE}: put the {CONFIG_FILE} that came "
                       f"with the weights next to them.")
    config = _read_json(config_path, "model configuration")
    model = str(config.get("model", "")).lower()
    if model not in MODELS:
        raise TTSError(f"The Coqui model in {weights} is {model or 'not named in its config'!r}; the factory speaks "
                       f"with VITS and XTTS-v2 models only.")
    checkpoint = next((weights / n for n in CHECKPOINT_NAMES if (weights / n).is_file()), None)
    if checkpoint is None:
        raise TTSError(f"The Coqui voice folder {weights} has no weights file: put the model's "
                       f"{' or '.join(CHECKPOINT_NAMES)} next to its {CONFIG_FILE}.")
    if model == "xtts" and not (weights / "vocab.json").is_file():
        raise TTSError(f"The XTTS-v2 folder {weights} has no vocab.json: put the vocab.json that came with the weights there.")

    languages = _model_languages(config, weights)
    if meta.get("language"):
        wanted = language_code(str(meta["language"]))
        code = languages.get(wanted) if languages else None
        if languages and code is None:
            raise TTSError(f"{folder / VOICE_FILE} says the voice speaks {wanted!r}, but the model speaks only "
                           f"{', '.join(languages)}.")
        languages = {wanted: code or str(meta["language"])}
    if not languages:
        raise TTSError(f"The Coqui model in {weights} does not say which language it speaks: add {VOICE_FILE} "
                       f"with {{\"language\": \"zh\"}} (or en, ...) to the folder.")

    speaker_wav = None
    if meta.get("reference_clip"):
        speaker_wav = folder / str(meta["reference_clip"])
        if not speaker_wav.is_file():
            raise TTSError(f"The reference clip {speaker_wav} of the voice {folder.name} does not exist.")
    consent = str(meta.get("consent", "")).strip()
    if speaker_wav is not None and not consent:
        raise TTSError(f"The cloned voice {folder} has no consent note: a voice cloned from a clip needs the "
                       f"speaker's consent (\"consent\" in {VOICE_FILE}: who they are and how they agreed).")
    if need_speaker and model == "xtts" and speaker_wav is None and not (weights / "speakers_xtts.pth").is_file():
        raise TTSError(f"The XTTS-v2 voice {folder} has no speaker to imitate: clone one from a reference clip "
                       f"of the speaker (a cloned voice), or use weights that come with speakers_xtts.pth.")
    audio = config.get("audio") or {}
    rate = audio.get("output_sample_rate") if model == "xtts" else audio.get("sample_rate")
    return CoquiVoice(folder=folder, model=model, config=config_path, checkpoint=checkpoint, languages=languages,
                      sample_rate=int(rate or (24000 if model == "xtts" else 22050)), speaker_wav=speaker_wav,
                      consent=consent, licence=str(meta.get("licence") or OWN_WEIGHTS_LICENCE))


def _model_languages(config: dict, weights: Path) -> dict[str, str]:
    """Family -> model code, from what the config says (empty when it says nothing)."""
    args = config.get("model_args") or {}
    if config.get("model") == "xtts":
        codes = list(config.get("languages") or [])
    elif args.get("use_language_embedding"):
        ids_file = weights / "language_ids.json"
        if not ids_file.is_file() and args.get("language_ids_file"):
            ids_file = Path(args["language_ids_file"])
        codes = list(_read_json(ids_file, "language list")) if ids_file.is_file() else []
    elif config.get("use_phonemes") and config.get("phoneme_language"):
        codes = [config["phoneme_language"]]
    elif config.get("text_cleaner") in _CLEANER_LANGUAGES:
        codes = [_CLEANER_LANGUAGES[config["text_cleaner"]]]
    else:
        codes = []
    languages: dict[str, str] = {}
    for code in codes:
        languages.setdefault(language_code(str(code)), str(code))
    return languages


def save_cloned_voice(folder: str | Path, weights: str | Path, clip: str | Path, consent: str,
                      language: str, licence: str = "") -> CoquiVoice:
    """Store a cloned XTTS-v2 voice in ``folder``: a copy of the reference ``clip`` and a
    ``voice.json`` naming the ``weights`` folder, the language and the speaker's ``consent``.
    Raises ``TTSError`` when the consent note is empty, the clip is missing or the weights are
    not XTTS-v2."""
    if not consent.strip():
        raise TTSError("A cloned voice needs a consent note: who the speaker is and how they agreed to be cloned.")
    clip = Path(clip).expanduser()
    if not clip.is_file():
        raise TTSError(f"The reference clip {clip} does not exist.")
    if read_coqui_voice(weights, need_speaker=False).model != "xtts":
        raise TTSError(f"Only XTTS-v2 weights clone a voice from a clip; {weights} holds another model.")
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(clip, folder / f"reference{clip.suffix.lower()}")
    meta = {"model": str(Path(weights).expanduser().resolve()), "reference_clip": f"reference{clip.suffix.lower()}",
            "language": language_code(language), "consent": consent.strip(),
            "licence": licence or OWN_WEIGHTS_LICENCE}
    (folder / VOICE_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return read_coqui_voice(folder)


# --- Coqui's environment -------------------------------------------------------------------


def coqui_python() -> Path:
    """The Python of Coqui's environment: ``$FACTORY_COQUI_PYTHON``, else ``.venv-coqui/bin/python``."""
    return Path(os.environ.get(COQUI_PYTHON_VARIABLE) or DEFAULT_ENV / "bin" / "python")


def coqui_tts_version(python: Path | None = None) -> str:
    """The coqui-tts release installed beside ``python`` ("" when none), read from its files."""
    env = (python or coqui_python()).parent.parent
    found = sorted(env.glob("lib/python*/site-packages/coqui_tts-*.dist-info"))
    return found[-1].name.removeprefix("coqui_tts-").removesuffix(".dist-info") if found else ""


def coqui_env_installed() -> bool:
    """Whether Coqui's environment is there (a look at its files; nothing is started)."""
    python = coqui_python()
    return python.is_file() and bool(coqui_tts_version(python))


def require_coqui_env() -> Path:
    """The environment's Python; raises ``TTSError`` saying how to install it when it is missing."""
    python = coqui_python()
    if not coqui_env_installed():
        raise TTSError(f"Coqui voices need their own environment, which is not installed at {python.parent.parent}. "
                       f"Install it with `{INSTALL_COMMAND}` (about 7 GB, a few minutes), or set "
                       f"{COQUI_PYTHON_VARIABLE} to the Python of an environment that has coqui-tts.")
    return python


def coqui_version(voice: CoquiVoice) -> str:
    """What makes this voice sound the way it does, for cache keys (no model load)."""
    config_hash = hashlib.sha256(voice.config.read_bytes()).hexdigest()[:8]
    which = f"coqui-tts-{coqui_tts_version() or 'missing'}/{voice.model}#{file_digest(voice.checkpoint)}+{config_hash}"
    if voice.speaker_wav is not None:
        which += f"+clip-{file_digest(voice.speaker_wav)}"
    return which


# --- the worker ----------------------------------------------------------------------------


class _Worker:
    """One ``tts.coqui_worker`` process and its pipes; requests are answered in order."""

    def __init__(self, python: Path, voice: CoquiVoice):
        self.stderr = tempfile.TemporaryFile()  # a file, not a pipe: Coqui's log can never block it
        command = [str(python), "-m", "tts.coqui_worker", "--model", voice.model,
                   "--config", str(voice.config), "--checkpoint", str(voice.checkpoint)]
        if voice.speaker_wav is not None:
            command += ["--speaker-wav", str(voice.speaker_wav)]
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                                        env=env, text=True, encoding="utf-8")
        self.lock = threading.Lock()
        self.ready = self._read(f"loading the Coqui voice {voice.folder}")["ready"]

    def request(self, message: dict, doing: str) -> dict:
        with self.lock:
            try:
                self.process.stdin.write(json.dumps(message, ensure_ascii=False) + "\n")
                self.process.stdin.flush()
            except (BrokenPipeError, OSError):
                pass  # the process has ended: _read says why
            return self._read(doing)

    def _read(self, doing: str) -> dict:
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            raise TTSError(f"The Coqui worker stopped while {doing} (exit code {self.process.returncode}): "
                           f"{self._last_log_line()}")
        reply = json.loads(line)
        if "error" in reply:
            raise TTSError(reply["error"])
        return reply

    def _last_log_line(self) -> str:
        self.stderr.seek(0)
        lines = [line for line in self.stderr.read().decode("utf-8", "replace").splitlines() if line.strip()]
        return lines[-1].strip() if lines else "it printed nothing"

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.stderr.close()


_WORKERS: dict[tuple, _Worker] = {}
_WORKERS_LOCK = threading.Lock()


def _worker(voice: CoquiVoice) -> _Worker:
    """The running worker for ``voice``, started once per process (loading takes seconds)."""
    python = require_coqui_env()
    key = (str(python), str(voice.checkpoint.resolve()), str(voice.speaker_wav or ""), coqui_version(voice))
    with _WORKERS_LOCK:
        worker = _WORKERS.get(key)
        if worker is None or worker.process.poll() is not None:
            worker = _Worker(python, voice)
            _WORKERS[key] = worker
        return worker


@atexit.register
def close_workers() -> None:
    """Stop every worker this process started."""
    with _WORKERS_LOCK:
        for worker in _WORKERS.values():
            worker.close()
        _WORKERS.clear()


# --- timings -------------------------------------------------------------------------------


def timings_from_tokens(tokens: list[tuple[str, int]], sample_rate: int, token_kind: str | None,
                        sentence: str, language: str) -> tuple[list[PhonemeTiming], list[WordTiming] | None]:
    """Phonemes and words from the worker's (symbol, samples) pairs.

    VITS puts a blank symbol ("") between every two symbols; its time belongs to the sound before
    it (a blank after a space or punctuation lengthens that pause; one at the start is silence).
    Spaces and punctuation are pauses that end a word (``phonemes_from_alignments``). Words: for a
    character model, the characters between pauses (each Chinese character a word of its own);
    for a phoneme model, the sentence's words when there are as many as phoneme groups.
    """
    from tts.piper_engine import phonemes_from_alignments

    pairs: list[tuple[str, int]] = []
    for symbol, count in tokens:
        if symbol == "" and pairs:
            pairs[-1] = (pairs[-1][0], pairs[-1][1] + count)
        else:
            pairs.append((symbol or "_", count))
    phonemes, groups = phonemes_from_alignments(pairs, sample_rate)
    words: list[WordTiming] = []
    if token_kind == "characters":
        for group in groups:
            timed = [phonemes[i] for i in group]
            if all(CJK_CHAR.fullmatch(p.phoneme) for p in timed):
                words += [WordTiming(p.phoneme, p.start, p.end) for p in timed]
            else:
                words.append(WordTiming("".join(p.phoneme for p in timed), timed[0].start, timed[-1].end))
        return phonemes, words
    sentence_words = re.findall(r"[\w'][\w'-]*", sentence)
    if language == "zh" or len(sentence_words) != len(groups):
        return phonemes, None
    return phonemes, [WordTiming(word, phonemes[g[0]].start, phonemes[g[-1]].end)
                      for word, g in zip(sentence_words, groups)]


# --- the engine ----------------------------------------------------------------------------


class CoquiEngine(SentenceEngine):
    """Speaks with a Coqui voice folder through the worker (started on first use, kept running)."""

    def __init__(self, folder: str | Path, version: str = ""):
        self.voice = read_coqui_voice(folder)
        self.name = self.voice.name
        self.version = version or coqui_version(self.voice)
        self.sample_rate = self.voice.sample_rate
        self.languages = frozenset(self.voice.languages)

    def synthesize_sentence(self, sentence: str, language: str) -> SentenceAudio:
        worker = _worker(self.voice)
        reply = worker.request({"text": sentence, "language": self.voice.languages[language]},
                               f"speaking {sentence!r}")
        samples = np.frombuffer(base64.b64decode(reply["samples"]), dtype="<f4").astype(np.float32)
        if not reply.get("tokens"):
            return SentenceAudio(samples)
        rate = int(worker.ready["sample_rate"])
        phonemes, words = timings_from_tokens([(s, int(n)) for s, n in reply["tokens"]], rate,
                                              worker.ready.get("tokens"), sentence, language)
        return SentenceAudio(samples, phonemes, words)
