"""The mouth-shape track: how far the mouth opens and how wide it stretches, per video frame.

Two sources, best first:

* **Phoneme timings** (Piper gives espeak IPA phonemes with start/end seconds; the Mandarin
  voice gives Baker pinyin initials and toned finals, see ``pinyin_sounds``; an editor's
  recording gets them from Whisper's words, see ``tts.stage.recording_phonemes``). Each
  phoneme maps to a viseme target (open vowels wide open, rounded vowels narrow, m/b/p
  closed, f/v nearly closed with the upper teeth on the lower lip, ...). The targets are
  smoothed in time (coarticulation: the mouth is already moving towards the next sound).
  Loudness then shapes the opening, so stressed syllables open wider than mumbled ones, and
  each m/b/p seals the lips (``open`` -1, see below) on one frame of its own, or on the frame
  next to it when that one is clearly quieter (``_closure_frame``). Consonants
  that do not use the lips take their lip width from the vowel after them (the lips round for
  the "u" while the "t" of "two" is still being said).
* **The audio alone** (a recording in which no words were recognised): opening follows the
  speech energy per video frame (``factory.media.frame_energy``), with a fast attack and a
  slower decay, as jaws do.

Either way the lips close in every pause of the audio that lasts ``PAUSE_S`` or longer
(``pause_gate``, ``pause_seal``): a talking head that keeps its lips apart while the sound is
silent looks out of sync at once.

``open`` is 0 for the photo's own mouth, up to 1 (wide open, then times ``dynamic_scale``),
and below 0 down to -1 for lips pressed together beyond the photo's own mouth (-1: sealed).
On a portrait that smiles with its teeth showing, 0 is that toothy smile and -1 closes the lips
over the teeth; on a portrait with closed lips -1 looks like 0. ``width`` is -1 (rounded,
narrow) to +1 (spread), times ``dynamic_scale``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from factory.media import FPS, frame_energy

# (open, width) per espeak IPA symbol. Piper splits diphthongs ("aɪ") into single symbols,
# so single code points are enough; a sound with a suffix mark (the length mark in "ɑː",
# aspiration in "tʰ") takes the shape of its first symbol (``viseme``).
VISEMES: dict[str, tuple[float, float]] = {
    # open vowels: jaw down
    "a": (1.0, 0.2), "ɑ": (1.0, 0.0), "æ": (0.9, 0.35), "ɐ": (0.75, 0.1), "ʌ": (0.75, 0.1), "ɒ": (0.85, -0.3),
    # mid vowels
    "ɛ": (0.65, 0.3), "e": (0.5, 0.4), "ə": (0.45, 0.1), "ɜ": (0.5, 0.0), "ɚ": (0.45, -0.2),
    "ᵻ": (0.35, 0.2), "ɘ": (0.4, 0.1), "ɵ": (0.4, -0.4),
    # close front vowels: lips spread
    "i": (0.25, 0.7), "ɪ": (0.35, 0.45), "ɨ": (0.3, 0.3), "y": (0.25, -0.7),
    # rounded vowels: lips narrow and forward
    "o": (0.6, -0.6), "ɔ": (0.7, -0.45), "u": (0.25, -0.9), "ʊ": (0.3, -0.7), "ø": (0.4, -0.6), "œ": (0.55, -0.5),
    "w": (0.15, -0.9),
    # lips closed
    "m": (0.0, 0.0), "b": (0.0, 0.0), "p": (0.0, 0.0),
    # lower lip on the upper teeth
    "f": (0.08, 0.1), "v": (0.08, 0.1),
    # tongue and teeth
    "θ": (0.2, 0.15), "ð": (0.2, 0.15),
    "t": (0.22, 0.25), "d": (0.22, 0.25), "n": (0.22, 0.2), "l": (0.28, 0.2), "ɾ": (0.22, 0.2), "ɫ": (0.28, 0.1),
    "s": (0.15, 0.35), "z": (0.15, 0.35),
    "ʃ": (0.2, -0.5), "ʒ": (0.2, -0.5), "ɹ": (0.25, -0.4), "r": (0.25, -0.3), "j": (0.2, 0.4),
    "k": (0.3, 0.0), "g": (0.3, 0.0), "ɡ": (0.3, 0.0), "ŋ": (0.28, 0.0), "x": (0.3, 0.0), "ç": (0.25, 0.3), "ʔ": (0.2, 0.0),
}
VOWELS = frozenset("aɑæɐʌɒɛeəɜɚᵻɘɵiɪɨyoɔuʊøœ")
CLOSURES = frozenset("mbp")
LABIODENTALS = frozenset("fv")  # the lower lip touches the upper teeth  # must visibly close, whatever the smoothing does
REST = frozenset(".,!?;:^$_—…")  # pauses and sentence ends: mouth back to rest
# Anything else (spaces, stress marks, "h", diacritics, unknown symbols) takes the shape of the
# next sound: the mouth anticipates it.

TIMELINE_HZ = 100  # the track is built at 100 Hz, smoothed, then sampled at the video frames
COARTICULATION_S = 0.035  # Gaussian smoothing of the targets
VISEME_WEIGHT = 0.25  # share of the viseme shape in the mouth opening; the rest follows loudness
VOICE_ATTACK, VOICE_DECAY = 0.9, 0.6  # how closely that loudness is followed per frame (``attack_decay``)
SEALED = -1.0  # ``open`` of lips pressed together (m/b/p, pauses)
CLOSURE_RAMP_S = 0.02  # how long lips take to close for m/b/p and open again ...
CLOSURE_HOLD_S = 0.015  # ... around the one video frame on which they are sealed (``_closure_frame``)
CLOSURE_NEIGHBOUR = 0.1  # loudness (0..1) by which a neighbouring frame must be quieter to take the closure
LIP_NEUTRAL_PULL = 0.6  # share of the next vowel's lip width a tongue consonant takes ("t" in "two")
PAUSE_S = 0.15  # silences at least this long close the mouth
SHORT_SILENCE_OPEN = 0.15  # shorter silences (stops, gaps between words) keep this much of the opening
SHORT_SILENCE_SEAL = 0.9  # ... and press the lips this far together (nearly shut; a "p" seals them)
SILENCE_DB = -40.0  # frames quieter than this are silent (the QA gate's speech level) ...
NOISE_MARGIN_DB = 6.0  # ... or than a noisy recording's floor plus this


@dataclass
class MouthTrack:
    open: np.ndarray
    """(frames,) jaw opening, 0 = the photo's mouth, up to ``dynamic_scale``; below 0 the lips
    press together, -1 = sealed."""
    width: np.ndarray
    """(frames,) lip width, -1 rounded .. +1 spread, times ``dynamic_scale``."""
    source: str
    """"phonemes" or "energy": what drove the mouth."""
    teeth_on_lip: np.ndarray | None = None
    """(frames,) 0..1: the lower lip tucked under the upper teeth (f, v); None: never."""
    loudness: np.ndarray | None = None
    """(frames,) the audio's loudness 0..1 (``loudness``), set by ``mouth_track`` when it had
    the audio; None otherwise."""
    pauses: np.ndarray | None = None
    """(frames,) the pause gate (``pause_gate``: 1 while speaking, easing to 0 inside a pause),
    set by ``mouth_track``; None: no pauses known."""


def loudness(samples: np.ndarray, sample_rate: int, n_frames: int) -> np.ndarray:
    """Speech energy per video frame scaled to 0 (silence) .. 1 (the loud syllables)."""
    return loudness_from_db(frame_energy(samples, sample_rate, n_frames))


def loudness_from_db(db: np.ndarray) -> np.ndarray:
    """``loudness`` from the per-frame energy in dB (``factory.media.frame_energy``)."""
    n_frames = len(db)
    if n_frames == 0:
        return db
    floor = max(float(np.percentile(db, 10)), -60.0) + 3.0
    peak = float(np.percentile(db, 95))
    if peak - floor < 6.0:  # no speech worth the name: keep the mouth at rest
        return np.zeros(n_frames, dtype=np.float32)
    return np.clip((db - floor) / (peak - floor), 0.0, 1.0).astype(np.float32)


def silent_frames(db: np.ndarray) -> np.ndarray:
    """Per video frame, True where the audio is silent: under ``SILENCE_DB``, or under the
    recording's own noise floor plus ``NOISE_MARGIN_DB`` when the room is noisy (but always
    20 dB under the loud syllables, so a recording without pauses is not all "silence")."""
    if len(db) == 0:
        return np.zeros(0, dtype=bool)
    floor = float(np.percentile(db, 5))
    peak = float(np.percentile(db, 95))
    threshold = min(max(SILENCE_DB, floor + NOISE_MARGIN_DB), peak - 20.0)
    return db < threshold


def pause_gate(silent: np.ndarray, min_pause_s: float = PAUSE_S) -> np.ndarray:
    """0 on the frames of silences lasting ``min_pause_s`` or longer, 1 on sound. Shorter
    silences (a stop consonant, a gap between words) get ``SHORT_SILENCE_OPEN``: the mouth
    nearly closes without snapping shut and open again within a syllable."""
    gate = np.where(silent, SHORT_SILENCE_OPEN, 1.0).astype(np.float32)
    shortest = max(1, int(np.ceil(min_pause_s * FPS - 1e-6)))
    edges = np.flatnonzero(np.diff(np.concatenate([[0], silent.astype(np.int8), [0]])))
    for start, end in zip(edges[::2], edges[1::2]):
        if end - start >= shortest:
            gate[start:end] = 0.0
    return gate


def pause_seal(gate: np.ndarray) -> np.ndarray:
    """How far the lips are pressed together (0..1) per frame, from ``pause_gate``: 1 inside
    the pauses, half-way on a pause's first and last frame next to speech (the lips meet over
    two frames rather than snapping shut), ``SHORT_SILENCE_SEAL`` in shorter silences, 0 while
    speaking."""
    pause = np.asarray(gate) <= 0
    seal = pause.astype(np.float32)
    if not len(seal):
        return seal
    after_speech = pause & ~np.concatenate([[True], pause[:-1]])
    before_speech = pause & ~np.concatenate([pause[1:], [True]])
    seal[after_speech | before_speech] = 0.5
    seal[(np.asarray(gate) > 0) & (np.asarray(gate) < 1)] = SHORT_SILENCE_SEAL
    return seal


def phoneme_silence(rows: Sequence[tuple[str, float, float]], n_frames: int) -> np.ndarray:
    """Per video frame, True where no sound is being said (no phoneme, or a pause symbol):
    the silence of a clip whose audio is not at hand."""
    sounds = frame_sounds(rows, n_frames)
    return np.array([s is None or s in REST for s in sounds], dtype=bool)


def viseme(symbol: str) -> tuple[float, float] | None:
    """The (open, width) target of a sound, marks after its first symbol ignored ("ɑː" as "ɑ")."""
    return VISEMES.get(symbol) or (VISEMES.get(symbol[0]) if symbol else None)


def attack_decay(x: np.ndarray, attack: float = 0.7, decay: float = 0.35) -> np.ndarray:
    """One-pole smoothing that rises faster than it falls (a jaw snaps open, relaxes shut)."""
    y = np.empty_like(x)
    level = 0.0
    for i, value in enumerate(x):
        level += (attack if value > level else decay) * (value - level)
        y[i] = level
    return y


def track_from_energy(samples: np.ndarray, sample_rate: int, n_frames: int,
                      loud: np.ndarray | None = None) -> MouthTrack:
    """Mouth from the audio alone; ``loud`` is ``loudness(samples, sample_rate, n_frames)`` when
    the caller has it already."""
    if loud is None:
        loud = loudness(samples, sample_rate, n_frames)
    opening = attack_decay(loud ** 0.8)
    # Louder speech also spreads the lips a little; no phonemes, so no rounding.
    return MouthTrack(open=opening, width=0.15 * opening, source="energy")


# Mandarin (the bundled Mandarin voice's Baker phones): an initial is one consonant, a final
# with its tone digit ("iang4") is glide + vowel + ending, spoken one after the other. Each part
# is written as the IPA symbol of VISEMES with the nearest mouth shape.
PINYIN_INITIALS: dict[str, str] = {
    "b": "b", "p": "p", "m": "m", "f": "f", "d": "d", "t": "t", "n": "n", "l": "l",
    "g": "g", "k": "k", "h": "x", "j": "ç", "q": "ç", "x": "ç",
    "zh": "ʃ", "ch": "ʃ", "sh": "ʃ", "r": "ɹ", "z": "s", "c": "s", "s": "s",
}
PINYIN_FINALS: dict[str, str] = {
    # Baker spells 资/知's vowels "ii"/"iii", ü as "v"; "e" alone is the unrounded mid vowel.
    "a": "a", "o": "o", "e": "ə", "i": "i", "ii": "ɨ", "iii": "ɨ", "u": "u", "v": "y", "er": "ɚ",
    "ai": "aɪ", "ei": "eɪ", "ao": "aʊ", "ou": "oʊ",
    "an": "an", "en": "ən", "ang": "aŋ", "eng": "əŋ", "ong": "ʊŋ",
    "ia": "ja", "ie": "jɛ", "iao": "jaʊ", "iou": "joʊ", "ian": "jɛn", "in": "in", "iang": "jaŋ", "ing": "iŋ", "iong": "jʊŋ",
    "ua": "wa", "uo": "wo", "uai": "waɪ", "uei": "weɪ", "uan": "wan", "uen": "wən", "uang": "waŋ", "ueng": "wəŋ",
    "ve": "yɛ", "van": "yɛn", "vn": "yn",  # the glide of ü-finals has the rounded ü shape
}
_TONE = "12345"


def is_pinyin_track(symbols: Sequence[str]) -> bool:
    """True for the Mandarin voice's phones: every syllable has a final ending in a tone digit,
    which espeak's IPA never has."""
    return any(s[-1:] in _TONE and s[:-1] in PINYIN_FINALS for s in symbols)


def pinyin_sounds(symbol: str, start: float, end: float) -> list[tuple[str, float, float]]:
    """A Baker phone as IPA sounds with times: an initial is one sound; a final's vowel lasts
    twice as long as its glide or its ending ("iang4": j ¼, a ½, ŋ ¼). Unknown symbols pass through."""
    if symbol in PINYIN_INITIALS:
        return [(PINYIN_INITIALS[symbol], start, end)]
    ipa = PINYIN_FINALS.get(symbol[:-1]) if symbol[-1:] in _TONE else None
    if ipa is None:
        return [(symbol, start, end)]
    parts = list(ipa)
    if len(parts) == 1:
        return [(parts[0], start, end)]
    weights = [1.0] * len(parts)
    vowel = next((i for i, ch in enumerate(parts) if i and ch in VISEMES and VISEMES[ch][0] >= 0.4), 0)
    weights[vowel] = 2.0  # the vowel holds the longest part of the final
    edges = np.concatenate([[0.0], np.cumsum(weights)]) / sum(weights) * (end - start) + start
    return [(ch, float(a), float(b)) for ch, a, b in zip(parts, edges[:-1], edges[1:])]


def _resolve_targets(phonemes: Sequence[tuple[str, float, float]]) -> list[tuple[float, float, float, float, bool]]:
    """(start, end, open, width, is_closure) per phoneme, transparent symbols resolved."""
    resolved: list[tuple[float, float, float, float, bool] | None] = []
    shapes: list[tuple[float, float] | None] = []
    for symbol, _, _ in phonemes:
        shape = viseme(symbol)
        if shape is None and symbol in REST:
            shape = (0.0, 0.0)
        shapes.append(shape)
    # Unknown symbols take the next known shape.
    next_shape: tuple[float, float] = (0.0, 0.0)
    for i in range(len(phonemes) - 1, -1, -1):
        if shapes[i] is None:
            shapes[i] = next_shape
        else:
            next_shape = shapes[i]
    # Consonants made with the tongue leave the lips free: they take most of the next vowel's
    # width (rounded before "u", spread before "i"), until a pause ends the run.
    next_vowel_width: float | None = None
    widths = [shape[1] for shape in shapes]  # type: ignore[index]
    for i in range(len(phonemes) - 1, -1, -1):
        symbol = phonemes[i][0]
        if symbol in REST:
            next_vowel_width = None
        elif symbol[:1] in VOWELS:
            next_vowel_width = widths[i]
        elif next_vowel_width is not None and symbol[:1] not in CLOSURES | {"f", "v", "w"}:
            widths[i] = (1 - LIP_NEUTRAL_PULL) * widths[i] + LIP_NEUTRAL_PULL * next_vowel_width
    for (symbol, start, end), shape, width in zip(phonemes, shapes, widths):
        resolved.append((start, end, shape[0], width, symbol[:1] in CLOSURES))
    return resolved  # type: ignore[return-value]


def sound_rows(phonemes: Sequence[Sequence]) -> list[tuple[str, float, float]]:
    """Valid ``[symbol, start_s, end_s]`` rows as (IPA symbol, start, end): Mandarin phones are
    split into their sounds (``pinyin_sounds``), malformed rows dropped."""
    rows = []
    for row in phonemes:
        try:
            symbol, start, end = str(row[0]), float(row[1]), float(row[2])
        except (TypeError, ValueError, IndexError):
            continue
        if end > start >= 0:
            rows.append((symbol, start, end))
    if is_pinyin_track([symbol for symbol, _, _ in rows]):
        rows = [sound for row in rows for sound in pinyin_sounds(*row)]
    return rows


def frame_sounds(phonemes: Sequence[Sequence], n_frames: int) -> list[str | None]:
    """The sound being said at the middle of each video frame (IPA, as ``sound_rows``), None in
    between: what a bench or a test compares the mouth with."""
    sounds: list[str | None] = [None] * n_frames
    for symbol, start, end in sound_rows(phonemes):
        for i in range(max(0, int(np.ceil(start * FPS - 0.5))), min(n_frames, int(np.ceil(end * FPS - 0.5)))):
            sounds[i] = symbol
    return sounds


def _closure_frame(start: float, end: float, loud: np.ndarray | None) -> int:
    """The video frame on which an m/b/p shows the lips sealed: the quietest of the frames whose
    middle lies inside the consonant (lips shut hush the voice; a "b" is silent while held), or
    the frame nearest to it when it is too short to have one (a 30-ms "b"). A neighbouring frame
    takes the closure only when it is clearly quieter (by ``CLOSURE_NEIGHBOUR``): the silent
    hold of a "b" that the timings put in the pause before it, or the quiet end of the sound
    before an "m"."""
    first, last = int(np.ceil(start * FPS - 0.5)), int(np.ceil(end * FPS - 0.5)) - 1
    if last < first or loud is None:
        return int(round((start + end) / 2.0 * FPS - 0.5))
    first, last = min(first, len(loud) - 1), min(last, len(loud) - 1)
    own = first + int(np.argmin(loud[first : last + 1]))
    quieter = [f for f in (own - 1, own + 1) if 0 <= f < len(loud) and loud[f] < loud[own] - CLOSURE_NEIGHBOUR]
    return min(quieter, key=lambda f: loud[f]) if quieter else own


def track_from_phonemes(
    phonemes: Sequence[Sequence],
    n_frames: int,
    loud: np.ndarray | None = None,
) -> MouthTrack:
    """Viseme track from ``[symbol, start_s, end_s]`` rows; ``loud`` (0..1 per frame) scales it."""
    from scipy.ndimage import gaussian_filter1d

    rows = sound_rows(phonemes)
    seconds = n_frames / FPS
    n = int(np.ceil(seconds * TIMELINE_HZ)) + 1
    open_t = np.zeros(n, dtype=np.float32)
    width_t = np.zeros(n, dtype=np.float32)
    closure = np.ones(n, dtype=np.float32)
    labiodental = np.zeros(n, dtype=np.float32)
    times = np.arange(n) / TIMELINE_HZ
    ramp = CLOSURE_RAMP_S
    for (symbol, _, _), (start, end, opening, width, is_closure) in zip(rows, _resolve_targets(rows)):
        i0, i1 = int(round(start * TIMELINE_HZ)), int(round(end * TIMELINE_HZ))
        open_t[i0:i1] = opening
        width_t[i0:i1] = width
        if symbol[:1] in LABIODENTALS:
            labiodental[i0:i1] = 1.0
        if is_closure:
            # Sealed on one video frame, open again within ``ramp`` of it: each further sealed
            # frame of a loud "m" costs the lip-sync confidence QA measures (it compares the
            # opening with the loudness).
            frame = _closure_frame(start, end, loud if loud is not None and len(loud) == n_frames else None)
            distance = np.maximum(np.abs(times - (frame + 0.5) / FPS) - CLOSURE_HOLD_S, 0.0)
            np.minimum(closure, np.clip(distance / ramp, 0.0, 1.0), out=closure)
    sigma = COARTICULATION_S * TIMELINE_HZ
    open_t = gaussian_filter1d(open_t, sigma)
    width_t = gaussian_filter1d(width_t, sigma)
    frame_times = (np.arange(n_frames) + 0.5) / FPS
    opening = np.interp(frame_times, times, open_t).astype(np.float32)
    width = np.interp(frame_times, times, width_t).astype(np.float32)
    closure_f = np.interp(frame_times, times, closure).astype(np.float32)
    teeth_on_lip = np.interp(frame_times, times, gaussian_filter1d(labiodental, sigma)).astype(np.float32)
    if loud is not None and len(loud) == n_frames:
        # Viseme shape mixed with speech loudness: visemes alone follow the text but not the
        # voice (stressed syllables open wider); loudness alone misses lip closures. With 25 %
        # viseme the lip-sync confidence QA measures on the output rises from ~0.6 to ~0.8–0.9
        # on 3–6 s clips (tried: 0.5 viseme + full closures gave 0.6–0.8).
        peak = (float(opening.max()) if opening.size else 0.0) or 1.0  # no frames (< 20 ms of audio): nothing to scale
        voice = attack_decay(loud.astype(np.float32), VOICE_ATTACK, VOICE_DECAY)
        opening = peak * (VISEME_WEIGHT * opening / peak + (1.0 - VISEME_WEIGHT) * voice)
    # m/b/p: from the opening down to sealed lips.
    opening = opening * closure_f + SEALED * (1.0 - closure_f)
    width = width * closure_f  # lips pressed together are neither pursed nor spread
    return MouthTrack(open=opening, width=width, source="phonemes", teeth_on_lip=np.clip(teeth_on_lip * 1.5, 0.0, 1.0))


def mouth_track(
    n_frames: int,
    samples: np.ndarray | None = None,
    sample_rate: int | None = None,
    phonemes: Sequence[Sequence] | None = None,
    dynamic_scale: float = 1.0,
) -> MouthTrack:
    """The mouth track for a clip of ``n_frames``: from phonemes when given, else the audio;
    closed in the pauses (of the audio when given, else between the phonemes)."""
    has_audio = samples is not None and bool(sample_rate)
    db = frame_energy(samples, sample_rate, n_frames) if has_audio else None  # type: ignore[arg-type]
    loud = loudness_from_db(db) if db is not None else None
    if phonemes:
        track = track_from_phonemes(phonemes, n_frames, loud)
    elif has_audio:
        track = track_from_energy(samples, sample_rate, n_frames, loud)  # type: ignore[arg-type]
    else:
        raise ValueError("mouth_track needs phoneme timings or the audio samples")
    silent = silent_frames(db) if db is not None else phoneme_silence(sound_rows(phonemes or []), n_frames)
    gate = pause_gate(silent)
    # Silence damps the opening, never a closure (the hold of a "b" is silent itself) ...
    opening = np.where(track.open > 0, np.clip(track.open, 0.0, 1.0) * gate * dynamic_scale, track.open)
    # ... and the lips close in the pauses.
    seal = pause_seal(gate)
    track.open = np.where(seal > 0, np.minimum(opening, SEALED * seal), opening).astype(np.float32)
    np.clip(track.open, SEALED, None, out=track.open)
    track.width = np.clip(track.width * gate, -1.0, 1.0) * dynamic_scale
    track.loudness, track.pauses = loud, gate
    # teeth_on_lip is left as it is: a quiet "f" often reads as silence, and the teeth resting
    # on the lip are a closed mouth's shape anyway.
    return track
