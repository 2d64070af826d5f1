"""Reading and writing images, audio and video: the one place every stage goes through.

* Audio is decoded with PyAV (any common format, any rate, any channel count) into mono
  float32 numpy arrays; no torchaudio.
* Video is encoded with the static ffmpeg that ``imageio-ffmpeg`` ships, driven through
  ``ffmpeg-python``: H.264 (yuv420p) + AAC with ``+faststart``, so no system ffmpeg is needed.
* Bad files raise ``MediaError``, a ``StageError``: the message is meant for an editor.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from factory.stages import StageError

FPS = 25


class MediaError(StageError):
    """An input file that cannot be used, with a reason an editor understands."""


def reason(exc: BaseException) -> str:
    """The decoder's complaint without the temporary file path it likes to append."""
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(": '/")[0].split(" '/")[0].strip() or type(exc).__name__


# --- images -------------------------------------------------------------------------------


def load_image(path: str | Path, max_pixels: int = 40_000_000) -> np.ndarray:
    """Decode a photo to an RGB uint8 array, refusing non-images, truncated files and bombs."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        raise MediaError(f"The image {path.name} is missing or empty.")
    Image.MAX_IMAGE_PIXELS = None  # we check the size ourselves, with a clearer message
    try:
        with Image.open(path) as img:
            width, height = img.size
            if width * height > max_pixels:
                raise MediaError(
                    f"The image {path.name} is {width}×{height} pixels, more than the "
                    f"{max_pixels:,} allowed. Please use a smaller photo."
                )
            img.load()
            img = ImageOps.exif_transpose(img).convert("RGB")
            return np.asarray(img, dtype=np.uint8).copy()
    except UnidentifiedImageError:
        raise MediaError(f"{path.name} is not an image we can read (use JPEG, PNG or WebP).") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise MediaError(f"The image {path.name} is damaged or truncated ({reason(exc)}).") from None


def save_image(path: str | Path, rgb: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(rgb).save(path)


# --- audio --------------------------------------------------------------------------------


def decode_audio(path: str | Path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Decode any audio (or the audio track of a video) to mono float32 in [-1, 1].

    ``sample_rate=None`` keeps the file's own rate. Raises ``MediaError`` on unreadable,
    empty or sound-less files.
    """
    import av

    path = Path(path)
    with open_audio(path) as container:
        stream = container.streams.audio[0]
        rate = sample_rate or stream.codec_context.sample_rate or stream.rate
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.FFmpegError as exc:
            if not chunks:
                raise MediaError(f"The audio file {path.name} is damaged ({reason(exc)}).") from None
    if not chunks:
        raise MediaError(f"The audio file {path.name} contains no sound.")
    samples = np.concatenate(chunks).astype(np.float32)
    if samples.size == 0:
        raise MediaError(f"The audio file {path.name} contains no sound.")
    finite = np.isfinite(samples)
    if not finite.all():
        # Float WAVs can carry NaN/inf samples (a faulty export or effect plug-in). They are no
        # sound at all, so they become silence: the editor gets the recording with its broken
        # stretches quiet, instead of NaN loudness, a garbage 16-bit cast or a failed job. Only a
        # file with nothing else in it is refused.
        if not finite.any():
            raise _no_number_error(path)
        samples = np.where(finite, samples, np.float32(0.0))
    return samples, int(rate)


def _no_number_error(path: Path) -> MediaError:
    return MediaError(
        f"The audio file {path.name} contains no usable sound: none of its samples is a "
        f"number (the file is damaged or was exported wrongly). Export it again and re-upload it."
    )


def _finite(samples: np.ndarray) -> np.ndarray:
    """``samples`` with NaN/inf replaced by 0 (silence), as ``decode_audio`` does; no copy when
    every sample is already a number."""
    samples = np.asarray(samples)
    if np.isfinite(samples).all():
        return samples
    return np.where(np.isfinite(samples), samples, 0).astype(samples.dtype, copy=False)


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> Path:
    """Write mono float samples as 16-bit PCM WAV (NaN/inf samples are written as silence:
    casting them to int16 is undefined)."""
    pcm = (np.clip(_finite(samples), -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())
    return Path(path)


def frame_count(seconds: float, fps: int = FPS) -> int:
    """The number of video frames for a clip: always round(seconds × fps)."""
    return int(round(seconds * fps))


def frame_energy(samples: np.ndarray, sample_rate: int, n_frames: int, fps: int = FPS) -> np.ndarray:
    """Speech energy per video frame: RMS in dB over each frame's window, floored at -60 dB.

    Shared by the renderer (mouth from audio when no phoneme timing exists) and the lip-sync
    check, so both see the speech the same way. NaN/inf samples count as silence.
    """
    samples = _finite(samples)
    hop = sample_rate / fps
    out = np.empty(n_frames, dtype=np.float32)
    for i in range(n_frames):
        seg = samples[int(i * hop) : int((i + 1) * hop)]
        rms = float(np.sqrt(np.mean(seg.astype(np.float64) ** 2))) if seg.size else 0.0
        out[i] = 20.0 * np.log10(max(rms, 1e-3))
    return out


# --- video --------------------------------------------------------------------------------


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


class VideoWriter:
    """Stream RGB frames into an H.264 + AAC MP4 without holding the clip in memory.

        with VideoWriter("out.mp4", 512, 512, audio="speech.wav") as video:
            for frame in frames:
                video.write(frame)

    `write` hands the frame to a thread that feeds the encoder, so the caller goes on making the
    next frames (a GPU decoding the next chunk) while ffmpeg encodes; a pipe write would block it
    for as long as the encoder lags. At most `buffer_frames` frames wait in between (default:
    about 256 MB of them); `buffer_frames=0` writes in the caller's thread.
    """

    BUFFER_BYTES = 256 * 2**20

    def __init__(
        self,
        path: str | Path,
        width: int,
        height: int,
        fps: int = FPS,
        audio: str | Path | None = None,
        crf: int = 18,
        preset: str = "veryfast",
        buffer_frames: int | None = None,
    ):
        import ffmpeg

        if width % 2 or height % 2:
            raise ValueError("yuv420p needs even width and height")
        self.path = Path(path)
        self._shape = (height, width, 3)
        video_in = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{width}x{height}", r=fps)
        streams = [video_in.video]
        audio_args = {}
        if audio is not None:
            streams.append(ffmpeg.input(str(audio)).audio)
            audio_args = {"acodec": "aac", "audio_bitrate": "128k"}
        out = ffmpeg.output(
            *streams,
            str(self.path),
            vcodec="libx264",
            pix_fmt="yuv420p",
            preset=preset,
            crf=crf,
            r=fps,
            movflags="+faststart",
            **audio_args,
        ).overwrite_output().global_args("-loglevel", "error")
        self._proc = out.run_async(cmd=ffmpeg_exe(), pipe_stdin=True, pipe_stderr=True)
        if buffer_frames is None:
            buffer_frames = max(2, self.BUFFER_BYTES // (width * height * 3))
        self._feeder = _PipeFeeder(self._proc.stdin, buffer_frames) if buffer_frames > 0 else None

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != self._shape or frame.dtype != np.uint8:
            raise ValueError(f"frame must be uint8 {self._shape}, got {frame.dtype} {frame.shape}")
        try:
            if self._feeder is not None:
                self._feeder.put(np.ascontiguousarray(frame).tobytes())  # a copy: the caller may reuse its array
            else:
                self._proc.stdin.write(np.ascontiguousarray(frame).data)
        except BrokenPipeError:
            raise RuntimeError(f"ffmpeg stopped encoding {self.path.name}: {self._error_text()}") from None

    def close(self) -> None:
        try:
            if self._feeder is not None:
                self._feeder.finish()
            self._proc.stdin.close()
        except BrokenPipeError:
            pass        # ffmpeg exited early: its exit status and message below say why
        err = self._error_text()
        if self._proc.wait() != 0:
            raise RuntimeError(f"ffmpeg failed to encode {self.path.name}: {err}")

    def _error_text(self) -> str:
        return self._proc.stderr.read().decode(errors="replace").strip()    # all of it: ffmpeg has exited

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._proc.kill()
            if self._feeder is not None:
                self._feeder.abandon()
            self._proc.wait()


class _PipeFeeder:
    """Writes byte strings to a pipe from a thread of its own, at most `capacity` waiting.
    An error in the thread (the reader died) is raised by the next `put` or by `finish`."""

    _DONE = None

    def __init__(self, pipe, capacity: int):
        import queue
        import threading

        self._pipe = pipe
        self._waiting: queue.Queue = queue.Queue(maxsize=capacity)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="video-encoder-feed", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (data := self._waiting.get()) is not self._DONE:
            if self._error is None:
                try:
                    self._pipe.write(data)
                except BaseException as error:      # keep taking items, so `put` never blocks for ever
                    self._error = error

    def put(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._waiting.put(data)

    def finish(self) -> None:
        """Wait until every frame put so far is in the pipe."""
        self._waiting.put(self._DONE)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def abandon(self) -> None:
        """Stop the thread after the encoder was killed (the frames still waiting are dropped)."""
        self._waiting.put(self._DONE)
        self._thread.join()


@dataclass
class VideoInfo:
    width: int
    height: int
    fps: float
    frames: int
    video_seconds: float
    audio_seconds: float | None
    video_codec: str
    audio_codec: str | None
    pix_fmt: str


def open_audio(path: str | Path):
    """The PyAV container of ``path`` (use it with ``with``); MediaError with a sentence when the
    file is missing, empty, unreadable or has no sound."""
    import av

    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        raise MediaError(f"The audio file {path.name} is missing or empty.")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise MediaError(f"{path.name} is not an audio file we can read ({reason(exc)}).") from None
    if not container.streams.audio:
        container.close()
        raise MediaError(f"{path.name} has no audio track.")
    return container


def open_video(path: str | Path):
    """The PyAV container of ``path`` (use it with ``with``); MediaError with a sentence when it
    is not a file we can read or has no picture."""
    import av

    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise MediaError(f"{Path(path).name} is not a video we can read ({reason(exc)}).") from None
    if not container.streams.video:
        container.close()
        raise MediaError(f"{Path(path).name} has no video track.")
    return container


def probe_video(path: str | Path) -> VideoInfo:
    """Facts about an MP4 (PyAV; imageio-ffmpeg ships no ffprobe). Frames are counted exactly."""
    with open_video(path) as container:
        v = container.streams.video[0]
        a = container.streams.audio[0] if container.streams.audio else None
        fps = float(v.average_rate or v.guessed_rate or 0)
        frames = sum(1 for _ in container.demux(v) if _.size)  # packets carry one frame each
        audio_seconds = None
        if a is not None and a.duration is not None:
            audio_seconds = float(a.duration * a.time_base)
        return VideoInfo(
            width=v.codec_context.width,
            height=v.codec_context.height,
            fps=fps,
            frames=frames,
            video_seconds=frames / fps if fps else 0.0,
            audio_seconds=audio_seconds,
            video_codec=v.codec_context.name,
            audio_codec=a.codec_context.name if a is not None else None,
            pix_fmt=v.codec_context.pix_fmt or "",
        )


def read_video_frames(path: str | Path, threaded: bool = False) -> Iterator[np.ndarray]:
    """Yield each frame of a video as an RGB uint8 array. ``threaded``: the decoder uses several
    threads (the same frames, sooner, for a reader that looks at every frame)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if threaded:
            stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            yield frame.to_ndarray(format="rgb24")


# --- the presentation timeline --------------------------------------------------------------
# A player does not start every stream at 0: it shows each video frame and plays each audio
# sample at its presentation time, after the container's start times and edit lists (MP4 "elst")
# are applied. A file whose sound starts 0.11 s into the picture (as ``ffmpeg -itsoffset`` makes
# it, and as many real files are) sounds 0.11 s late even though both streams hold the same
# samples. The functions below read a file that way, for checks that judge what a viewer sees.


@dataclass
class StreamTimes:
    """Where each stream lies on the presentation timeline, in seconds."""

    video_start: float
    """Presentation time of the first decoded picture."""
    audio_start: float | None
    """Presentation time of the first decoded sound sample (None: no sound track)."""
    audio_end: float | None
    """Where the container says the sound ends (start + its duration); None when unknown."""

    @property
    def audio_delay(self) -> float:
        """Seconds the sound starts after the first picture (negative: before it)."""
        return (self.audio_start or 0.0) - self.video_start if self.audio_start is not None else 0.0


def stream_times(path: str | Path) -> StreamTimes:
    """The first picture's and the first sound sample's presentation times, and the sound's end.

    The first frame of each stream is decoded (cheap), because the decoder, not the demuxer,
    drops the samples an edit list discards (such as the AAC encoder's priming samples).
    """
    import av

    with open_video(path) as container:
        video_start = _first_frame_time(container, container.streams.video[0])
    audio_start = audio_end = None
    with av.open(str(path)) as container:
        if container.streams.audio:
            a = container.streams.audio[0]
            audio_start = _first_frame_time(container, a)
            if a.duration is not None:
                start = float(a.start_time * a.time_base) if a.start_time is not None else audio_start
                audio_end = start + float(a.duration * a.time_base)
    return StreamTimes(video_start=video_start or 0.0, audio_start=audio_start, audio_end=audio_end)


def _first_frame_time(container, stream) -> float | None:
    import av

    try:
        for frame in container.decode(stream):
            if frame.pts is not None:
                return float(frame.pts * frame.time_base)
    except av.FFmpegError:
        pass
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else None


@dataclass
class DecodedSound:
    """One decode of a sound track, in the forms its readers need."""

    samples: np.ndarray
    """The sound as a player plays it: sample ``i`` sounds at ``origin + i / rate`` seconds."""
    rate: int
    track: np.ndarray | None = None
    """The whole track from its first sample, mono at ``track_rate``, as ``decode_audio(path,
    track_rate)`` returns it (e.g. 16 kHz for speech recognition); None unless asked for."""
    track_rate: int | None = None


def decode_sound(
    path: str | Path,
    origin: float,
    sample_rate: int | None = None,
    end: float | None = None,
    track_rate: int | None = None,
) -> DecodedSound:
    """The sound track as a player plays it and, with ``track_rate``, the whole track as
    ``decode_audio(path, track_rate)`` gives it, from a single decode (each decoded block goes to
    both resamplers).

    On the timeline each decoded block goes where its presentation time puts it: silence fills a
    late start or a gap, sound before ``origin`` is dropped, and with ``end`` (seconds on the same
    timeline, e.g. ``StreamTimes.audio_end``) the encoder's padding after it is cut. Mono float32
    in [-1, 1]; ``sample_rate=None`` keeps the file's own rate. Errors as ``decode_audio``.
    """
    import av

    path = Path(path)
    pieces: list[tuple[int, np.ndarray]] = []
    track: list[np.ndarray] = []
    with open_audio(path) as container:
        stream = container.streams.audio[0]
        rate = sample_rate or stream.codec_context.sample_rate or stream.rate
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        track_resampler = av.AudioResampler(format="flt", layout="mono", rate=track_rate) if track_rate else None
        cursor = None  # where the next resampled sample goes, in samples from origin
        jump = max(1, rate // 500)  # presentation times further than 2 ms from the cursor are a jump
        try:
            for frame in container.decode(stream):
                if frame.pts is not None:
                    at = int(round((float(frame.pts * frame.time_base) - origin) * rate))
                    if cursor is None or abs(at - cursor) > jump:
                        cursor = at
                cursor = cursor or 0
                if track_resampler is not None:
                    track.extend(out.to_ndarray().reshape(-1) for out in track_resampler.resample(frame))
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1)
                    pieces.append((cursor, chunk))
                    cursor += chunk.size
            for out in resampler.resample(None):
                chunk = out.to_ndarray().reshape(-1)
                pieces.append((cursor or 0, chunk))
                cursor = (cursor or 0) + chunk.size
            if track_resampler is not None:
                track.extend(out.to_ndarray().reshape(-1) for out in track_resampler.resample(None))
        except av.FFmpegError as exc:
            if not pieces:
                raise MediaError(f"The audio file {path.name} is damaged ({reason(exc)}).") from None
    if not pieces or not any(chunk.size for _, chunk in pieces):
        raise MediaError(f"The audio file {path.name} contains no sound.")
    if not any(np.isfinite(chunk).any() for _, chunk in pieces):
        raise _no_number_error(path)
    length = max(at + chunk.size for at, chunk in pieces)
    if end is not None:
        length = min(length, int(round((end - origin) * rate)))
    samples = np.zeros(max(length, 0), dtype=np.float32)
    for at, chunk in pieces:
        lo, hi = max(at, 0), min(at + chunk.size, samples.size)
        if lo < hi:
            samples[lo:hi] = chunk[lo - at : hi - at]
    # NaN/inf samples play as silence, as in decode_audio
    whole = _finite(np.concatenate(track).astype(np.float32)) if track else None
    return DecodedSound(_finite(samples), int(rate), whole, track_rate if whole is not None else None)
