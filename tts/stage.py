"""The "speak" stage: the narration script (or the editor's own recording) -> audio.wav.

Inputs: files["audio_upload"] (optional recording), values["script"], params "voice" and
"language". Outputs: files["audio"] (mono 16-bit WAV), values["speech"]
(``factory.payloads.SpeechFacts``: length, sample rate, phoneme and word timings, and for TTS
the voice, the normalised text spoken and the measured speaking rate) and, for TTS,
values["models"]: the voice used with its licence (``tts.voices.Voice.model_record``), so a
job spoken by a non-commercial voice says so before anyone publishes it.

The voice: the one the job names (``--voice``: a library name or a .onnx path), else the site's
``settings.voice`` when it speaks the job's language, else that language's bundled voice
(``tts.voices.choose_voice``). A named voice that cannot speak the language is refused when the
job is submitted.

A recording takes precedence over the script: "a photo plus a recording" skips TTS. Its
phoneme timings come from what is said in it (``recording_phonemes``): Whisper's word timings
(``qa.asr.transcribe``), each word phonemised (espeak-ng as Piper uses it; for Chinese the
Mandarin voice's own front end, ``tts.mandarin_engine.pinyin_phones``) and its sounds spread
over the word's time, so the renderer shapes the mouth from the sounds as it does for TTS.
Without words (Whisper failed or heard none) the timings stay empty and the mouth follows the
loudness.
"""

from __future__ import annotations

import functools
import logging
import threading
from pathlib import Path
from typing import Callable

from factory.media import MediaError, decode_audio, write_wav
from factory.payloads import SpeechFacts, Timing
from factory.stages import Stage, StageContext, StageError, StageResult
from factory.text import count_units, language_code, language_mismatch
from tts.engine import load_engine, voice_version
from tts.voices import check_voice_param, choose_voice
from tts.loudness import is_silent, normalize_loudness
from tts.doctor import checks as doctor_checks

STAGE_VERSION = "3"  # 2: values["models"] and speech["voice"]; 3: phonemes of recordings

log = logging.getLogger(__name__)

# Recordings keep their own rate when it is one of these (no needless resampling); anything
# else (8 kHz phone audio, 96 kHz studio files) becomes 48 kHz.
STANDARD_RATES = (16000, 22050, 24000, 32000, 44100, 48000)
FALLBACK_RATE = 48000


def _round(value: float) -> float:
    return round(float(value), 4)


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} seconds" if seconds < 120 else f"{seconds / 60:.1f} minutes"


def _too_long(what: str, seconds: float, limit: float) -> StageError:
    return StageError(
        f"{what} is {_duration(seconds)} long; the limit is {_duration(limit)} "
        f"(max_audio_seconds = {limit:g}). Use a shorter one or split it into several videos."
    )


def _container_seconds(path: Path) -> float | None:
    """The duration the file claims, read without decoding (to refuse a 3-hour file fast)."""
    import av

    try:
        with av.open(str(path)) as container:
            if container.duration:
                return container.duration / 1_000_000  # av.time_base is microseconds
    except (av.FFmpegError, UnicodeDecodeError, OSError):
        pass  # decode_audio gives the editor-readable error
    return None


# Within a word, a vowel is held about twice as long as a consonant.
VOWEL_WEIGHT = 2.0
_PUNCTUATION = ".,;:!?\"'()，。；：！？、“”‘’（）"
_ESPEAK_LOCK = threading.Lock()  # espeak-ng keeps one voice per process


@functools.cache
def _espeak():
    """Piper's espeak-ng phonemiser with the espeak-ng data Piper ships, made once per process."""
    from piper.phonemize_espeak import EspeakPhonemizer

    return EspeakPhonemizer()


def espeak_sounds(word: str, voice: str) -> list[str]:
    """The IPA sounds of one word as Piper's espeak-ng phonemiser says them, grouped as Piper's
    own timings group them (``tts.piper_engine.phonemes_from_alignments``: "ɑː" one sound,
    stress marks and boundaries dropped)."""
    import piper.voice

    from tts.piper_engine import phonemes_from_alignments

    # Piper's own lock when it has one: a TTS job in another thread may be using espeak.
    lock = getattr(piper.voice, "_ESPEAK_PHONEMIZER_LOCK", _ESPEAK_LOCK)
    with lock:
        sentences = _espeak().phonemize(voice, word)
    symbols = [(symbol, 1) for sentence in sentences for symbol in sentence]  # counts only matter for times
    phonemes, _ = phonemes_from_alignments(symbols, sample_rate=1)
    return [p.phoneme for p in phonemes]


def spread_over(sounds: list[str], start: float, end: float,
                vowel: Callable[[str], bool] | None = None) -> list[Timing]:
    """Share a word's time among its sounds, a vowel (IPA, unless ``vowel`` says) twice a
    consonant's share."""
    from sonic.mouth import VOWELS

    is_vowel = vowel or (lambda sound: sound[:1] in VOWELS)
    weights = [VOWEL_WEIGHT if is_vowel(sound) else 1.0 for sound in sounds]
    total = sum(weights)
    timings, t = [], start
    for sound, weight in zip(sounds, weights):
        step = (end - start) * weight / total
        timings.append(Timing(sound, _round(t), _round(t + step)))
        t += step
    return timings


def recording_phonemes(audio: Path, language: str | None, settings) -> tuple[list[Timing], list[Timing]]:
    """(phonemes, words) of an editor's recording, or two empty lists (logged) when no word is
    heard or the speech recogniser fails: the mouth then follows the loudness alone."""
    from qa.asr import transcribe
    from tts.mandarin_engine import pinyin_phones

    try:
        transcript = transcribe(audio, language=language, settings=settings)
    except Exception as error:  # noqa: BLE001 - any failure here only costs the mouth shapes
        log.warning("no phoneme timings for the recording (speech recognition failed: %s); "
                    "the mouth follows its loudness", error)
        return [], []
    spoken = language or transcript.language or "en"
    chinese = language_code(spoken) == "zh"
    phonemes: list[Timing] = []
    words: list[Timing] = []
    for word in transcript.words:
        if word.end <= word.start:
            continue
        try:
            if chinese:
                sounds = pinyin_phones(word.word)
                timed = spread_over(sounds, word.start, word.end, vowel=lambda p: p[-1:].isdigit())
            else:
                voice = "en-us" if language_code(spoken) == "en" else language_code(spoken)
                timed = spread_over(espeak_sounds(word.word, voice), word.start, word.end)
        except Exception as error:  # noqa: BLE001 - an unknown espeak voice, a broken word
            log.warning("no phonemes for %r in the recording: %s", word.word, error)
            continue
        phonemes += timed
        words.append(Timing(word.word.strip(_PUNCTUATION) or word.word, _round(word.start), _round(word.end)))
    if not phonemes:
        log.warning("no words heard in the recording; the mouth follows its loudness")
    return phonemes, words


def speak_upload(ctx: StageContext, upload: Path) -> StageResult:
    limit = ctx.settings.max_audio_seconds
    claimed = _container_seconds(upload)
    if claimed is not None and claimed > limit + 1.0:
        raise _too_long(f"The recording {upload.name}", claimed, limit)
    ctx.progress(0.1, "decoding the recording")
    samples, rate = decode_audio(upload)
    if rate not in STANDARD_RATES:
        samples, rate = decode_audio(upload, sample_rate=FALLBACK_RATE)
    seconds = len(samples) / rate
    if seconds > limit:
        raise _too_long(f"The recording {upload.name}", seconds, limit)
    if is_silent(samples, rate):
        raise MediaError(
            f"The recording {upload.name} is silent: no part of it is loud enough to be speech. "
            f"Check the microphone and upload it again."
        )
    ctx.progress(0.8, "levelling the loudness")
    audio = write_wav(ctx.workdir / "speech.wav", normalize_loudness(samples, rate), rate)
    ctx.progress(0.85, "finding the sounds spoken")
    language = ctx.params.get("language")
    phonemes, words = recording_phonemes(audio, language_code(language) if language else None, ctx.settings)
    facts = SpeechFacts(seconds=_round(seconds), sample_rate=rate, source="upload",
                        phonemes=phonemes, words=words)
    ctx.progress(1.0, f"recording ready ({seconds:.1f} s)")
    return StageResult(files={"audio": audio}, values={"speech": facts.to_value()})


def speak_script(ctx: StageContext) -> StageResult:
    script = ctx.values.get("script")
    if not isinstance(script, str) or not script.strip():
        raise StageError("The script is empty: write the narration text (or upload a recording) and try again.")
    if len(script) > ctx.settings.max_script_chars:
        raise StageError(
            f"The script is {len(script):,} characters long; the limit is {ctx.settings.max_script_chars:,}. "
            f"Shorten it or split it into several videos."
        )
    language = language_code(ctx.params.get("language"))
    mismatch = language_mismatch(script, language)
    if mismatch:
        raise StageError(mismatch[0])
    voice = choose_voice(ctx.params.get("voice"), language, ctx.settings.voice)
    engine = load_engine(voice.name, language, cache_dir=ctx.settings.cache_dir,
                         sampling_noise=ctx.settings.tts_sampling_noise)
    limit = ctx.settings.max_audio_seconds
    # synthesize raises (a TTSError, early) once the speech grows past the limit
    speech = engine.synthesize(script, language, progress=ctx.progress, max_seconds=limit)
    if is_silent(speech.samples, speech.sample_rate):
        raise StageError(
            "The script produced no speech: the voice made only silence from it. "
            "Write the narration as ordinary sentences."
        )
    audio = write_wav(ctx.workdir / "speech.wav", speech.samples, speech.sample_rate)
    facts = SpeechFacts(
        seconds=_round(speech.seconds),
        sample_rate=speech.sample_rate,
        phonemes=[Timing(p.phoneme, _round(p.start), _round(p.end)) for p in speech.phonemes],
        words=[Timing(w.word, _round(w.start), _round(w.end)) for w in speech.words],
        source="tts",
        engine=engine.name,
        voice=voice.name,
        text=speech.text,
        # Measured on the script as written: the writer budgets the next narrations for this voice with it.
        units_per_second=round(count_units(script, language) / max(speech.seconds, 1e-3), 3),
    )
    return StageResult(files={"audio": audio}, values={"speech": facts.to_value(), "models": [voice.model_record()]})


def run(ctx: StageContext) -> StageResult:
    upload = ctx.files.get("audio_upload")
    if upload is not None:
        return speak_upload(ctx, Path(upload))
    return speak_script(ctx)


def _engine_version(ctx: StageContext) -> str:
    return voice_version(ctx.params.get("voice") or "", language_code(ctx.params.get("language")), ctx.settings.voice,
                         sampling_noise=ctx.settings.tts_sampling_noise)


STAGE = Stage(
    name="speak",
    run=run,
    version=STAGE_VERSION,
    reads_files=("audio_upload",),
    reads_values=("script",),
    reads_params=("voice", "language"),
    engine_version=_engine_version,
    check_params=check_voice_param,
    doctor=doctor_checks,
)
