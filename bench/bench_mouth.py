"""The mouth evaluation of issue 20: many narrations on several kinds of portrait, CPU renderer.

    .venv/bin/python bench/bench_mouth.py [--out /tmp/bench-mouth] [--sheets bench/sheets]
        [--portraits astronaut,hopper] [--narrations en-hello,zh-rec-price]

Each narration is spoken once (the speak stage, as a job does), then rendered on every portrait
by the render stage (``renderer = cpu``) and checked by the QA gate (``qa.report.check_video``).

Narrations (``NARRATIONS``, 23): English TTS (the bundled Piper voice) and Chinese TTS (the
bundled Mandarin voice, the default for language zh) of different lengths and contents —
questions, numbers, lists, pauses, lip-heavy lines; "recordings": TTS audio re-recorded as a
phone or laptop would (room noise, some first resampled to 16 kHz, then AAC at 48 kHz through
ffmpeg) and uploaded, so the recording path (Whisper's word timings -> phonemes) drives the
mouth; and one person's real recording, tests/data/thank_you_for_watching.m4a.

Portraits (``portraits()``, 5 kinds, all from installed packages or made from them in code):
  astronaut  skimage.data.astronaut(): Eileen Collins, NASA photo, public domain (scikit-image
             lists it as such); colour, square 512 px.
  hopper     matplotlib's sample data grace_hopper.jpg: Rear Admiral Grace Hopper, U.S. Navy
             photo, public domain (work of the U.S. government); colour, non-square 512x600.
  statue     the astronaut as grey stone (no red lips): colours a photo does not have.
  cartoon    Grace Hopper with flat colours and dark outlines (a drawn look).
  wide       the astronaut small and off-centre in a 16:9 frame (960x540, face ~85 px wide)
             on a plain backdrop: a small face in a wide shot.
No other real frontal face with a clear licence ships in the packages this project installs.

Per clip (a narration on a portrait):
  gate      the QA gate's lip-sync verdict (both lip_sync checks pass; "n/m": the clip is too
            short for the gate to measure lip sync, so it passes it), with its ``offset`` in
            frames, ``conf`` (confidence) and ``min`` (the least confidence it accepts for the
            clip's length)
  closed%   share of silent frames (audio under -40 dB, the QA speech level) whose mouth is
            closed in the video: MediaPipe's inner-lip gap at most 0.01 face heights over the
            portrait's own (goal >= 80 %)
  trk%      the same share on the track that drives the renderer (opening <= 0.1)
  round / spread   mean visible lip width (mouth corners apart / face height) on rounded
            (u, o) and spread (i, e) vowel frames, in % of the portrait's own width
            (goal: rounded narrower than spread)
  bilab     per m/b/p, the least visible lip gap within 2 frames of it, averaged, divided by the
            mean gap on vowel frames (0: shut on every m/b/p; ~1: no closure; goal <= 0.5);
            bilab0 the same within the m/b/p's own frames (no slack); shut% the share of m/b/p
            whose lips really meet (gap at most 0.01 face heights, not relative to the
            portrait's own mouth, within 2 frames): a smiling portrait shows its teeth at rest
            (``rest gap`` in the summary)
  moves%    share of the frame whose grey level (at 1/4 scale) changes by more than
            ``MOVE_LEVELS`` at some frame of the clip; out% the same share of the area outside
            the face box (hair, shoulders, background: 0 would be a frozen picture around a
            moving face). A still video of the portrait, coded the same way, reads ``still%``.
Then a summary per portrait and per narration kind, with the goals and how many clips miss
each, and one contact sheet per portrait (``--sheets``): a strip of frames over a word with a
bilabial and a rounded vowel, for English TTS, Chinese TTS and an English recording, each
frame labelled with its number, the sound being said and the track's opening.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._clips import NARRATION as LONG_NARRATION  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
REAL_RECORDING = REPO / "tests" / "data" / "thank_you_for_watching.m4a"


@dataclass(frozen=True)
class Narration:
    name: str
    language: str
    kind: str
    """"tts"; "recording" (the TTS audio re-recorded and uploaded); "real" (an uploaded file)."""
    text: str
    """The script; for "real", the recording's path."""
    phone: bool = False
    """A recording first resampled to 16 kHz (a phone's band), before the 48 kHz AAC."""


NARRATIONS = [
    Narration("en-hello", "en", "tts", "Hello there. My name is Eileen, and I flew the space shuttle. Thank you, everyone!"),
    Narration("en-lips", "en", "tts", "Maybe Bob bought a purple map by the pond. Two blue shoes, three green trees."),
    Narration("en-question", "en", "tts", "Who would have thought? Food, movies and music: we review five of them every week."),
    Narration("en-numbers", "en", "tts", "The launch is at 9:45 on March 3rd, 2027. We carry 1,250 kilograms, up 12 percent."),
    Narration("en-list", "en", "tts", "You need four things: a map, a compass, a warm coat, and a bottle of water."),
    Narration("en-pauses", "en", "tts", "Wait... listen. Do you hear it? Nothing. Absolutely nothing."),
    Narration("en-short", "en", "tts", "Good morning!"),
    Narration("en-moon", "en", "tts", "Look at the moon, Bob! It moves so smoothly over the pool."),
    Narration("en-long", "en", "tts", LONG_NARRATION),
    Narration("zh-welcome", "zh", "tts", "大家好，欢迎收看今天的节目。我们来聊一聊怎么保护眼睛。"),
    Narration("zh-autumn", "zh", "tts", "北京的秋天很美，天气不冷也不热。谢谢大家！"),
    Narration("zh-question", "zh", "tts", "你吃饭了吗？明天我们去哪里玩？"),
    Narration("zh-numbers", "zh", "tts", "2026年，我们卖出了1250本书，增长了12%。"),
    Narration("zh-list", "zh", "tts", "请准备三样东西：面包、牛奶，还有苹果。"),
    Narration("zh-pauses", "zh", "tts", "爸爸，妈妈……不怕。我们慢慢走，不要跑。"),
    Narration("en-rec-knives", "en", "recording", "Welcome back. Today we look at three ways to keep your kitchen knives sharp."),
    Narration("en-rec-bread", "en", "recording", "Is it ready? Put the bowl on the table, and bring me more bread, please."),
    Narration("en-rec-steps", "en", "recording", "Number one: move slowly. Number two: breathe. Number three: smile.", phone=True),
    Narration("en-rec-moon", "en", "recording", "Look at the moon, Bob! It moves so smoothly over the pool."),
    Narration("zh-rec-cooking", "zh", "recording", "你好，我是小明。今天我们一起学习做饭。"),
    Narration("zh-rec-price", "zh", "recording", "这本书多少钱？五十八块。", phone=True),
    Narration("zh-rec-steps", "zh", "recording", "第一，别怕；第二，慢慢来；第三，不要放弃。"),
    Narration("en-real", "en", "real", str(REAL_RECORDING)),
]
SHEET_ROWS = [("en-moon", "English TTS"), ("zh-pauses", "Chinese TTS"), ("en-rec-moon", "English recording")]

SILENT_DB = -40.0  # the QA gate's speech level
CLOSED_GAP = 0.01  # a visible gap this much (face heights) over the portrait's own still counts as closed
MOVE_LEVELS = 6.0  # grey levels (0..255, at 1/4 scale) a pixel must change by to count as moving
ROUNDED, SPREAD = "uʊoɔwy", "iɪe"
GOALS = {"gate": "pass", "closed%": ">= 80", "round<spread": "yes", "bilab": "<= 0.5", "bilab0": "<= 0.5"}


# --- portraits -------------------------------------------------------------------------------


def cartoon(image):
    """A flat-coloured, outlined copy of a photo (smoothed, colours quantised, dark edges)."""
    import cv2

    smooth = cv2.bilateralFilter(cv2.bilateralFilter(image, 9, 75, 75), 9, 75, 75)
    out = (smooth // 32) * 32 + 16
    out[cv2.Canny(cv2.cvtColor(smooth, cv2.COLOR_RGB2GRAY), 80, 160) > 0] = 40
    return out


def statue(image):
    """A stone-coloured copy of a photo: grey, slightly warm, no red lips."""
    import cv2
    import numpy as np

    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return np.clip(np.stack([grey * 0.95 + 20, grey * 0.9 + 15, grey * 0.8 + 10], -1), 0, 255).astype(np.uint8)


def wide_shot(image, width: int = 960, height: int = 540, side: int = 400):
    """The photo shrunk to ``side`` px and set right of centre on the bottom edge of a wide
    frame with a plain studio backdrop (the photo's mean colour, darker towards the floor):
    a small face, off-centre, as in a wide shot."""
    import cv2
    import numpy as np

    shade = np.linspace(1.1, 0.7, height, dtype=np.float32)[:, None, None]
    backdrop = np.clip(image.reshape(-1, 3).mean(0) * shade * np.ones((1, width, 1), np.float32), 0, 255).astype(np.uint8)
    x0 = width * 11 // 20
    backdrop[height - side :, x0 : x0 + side] = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
    return backdrop


def grace_hopper():
    """matplotlib's sample photo of Grace Hopper (RGB), cut to even sides for H.264."""
    import matplotlib.cbook
    import numpy as np
    from PIL import Image

    image = np.asarray(Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB"))
    h, w = image.shape[:2]
    return np.ascontiguousarray(image[: h // 2 * 2, : w // 2 * 2])


def portraits() -> dict:
    """name -> RGB image, see the module docstring."""
    import skimage.data

    astronaut, hopper = skimage.data.astronaut(), grace_hopper()
    return {"astronaut": astronaut, "hopper": hopper, "statue": statue(astronaut),
            "cartoon": cartoon(hopper), "wide": wide_shot(astronaut)}


# --- narrations -------------------------------------------------------------------------------


def make_recording(samples, rate, path: Path, phone: bool = False) -> Path:
    """TTS speech as a phone or laptop would record it: room noise, 48 kHz AAC (``phone``:
    through a 16 kHz band first)."""
    import numpy as np

    from factory.media import ffmpeg_exe, write_wav

    rng = np.random.default_rng(0)
    noisy = samples + rng.normal(0, 0.003, samples.shape).astype(np.float32)
    wav = write_wav(path.with_suffix(".wav"), np.clip(noisy, -1, 1), rate)
    band = ["-af", "aresample=16000,aresample=48000"] if phone else []
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(wav), *band, "-ar", "48000", "-c:a", "aac",
                    "-b:a", "96k", str(path)], check=True)
    return path


def speak(narration: Narration, work: Path, settings):
    """The speak stage's result for a narration, as a job would get it (see ``Narration.kind``)."""
    from factory.media import decode_audio
    from factory.stages import StageContext
    from tts import stage as speak_stage

    def run(files: dict, values: dict):
        ctx = StageContext(job_id=narration.name, params={"language": narration.language}, files=files,
                           values=values, workdir=work, settings=settings)
        return speak_stage.STAGE.run(ctx)

    if narration.kind == "real":
        return run({"audio_upload": Path(narration.text)}, {})
    result = run({}, {"script": narration.text})
    if narration.kind == "recording":
        samples, rate = decode_audio(result.files["audio"])
        upload = make_recording(samples, rate, work / "recording.m4a", narration.phone)
        result = run({"audio_upload": upload}, {})
    return result


# --- measures ---------------------------------------------------------------------------------


def bilabial_minima(opening, sounds, reach: int = 2) -> list[float]:
    """Per m/b/p (a run of frames saying it), the least opening within ``reach`` frames of it
    (the renderer may move a closure 2 frames, to the quietest moment)."""
    import numpy as np

    minima, i = [], 0
    while i < len(sounds):
        if sounds[i] and sounds[i][0] in "mbp":
            j = i
            while j + 1 < len(sounds) and sounds[j + 1] == sounds[i]:
                j += 1
            window = opening[max(0, i - reach) : j + 1 + reach]
            if np.isfinite(window).any():
                minima.append(float(np.nanmin(window)))
            i = j + 1
        else:
            i += 1
    return minima


def closure(opening, sounds, vowels, reach: int = 2) -> float:
    """``bilabial_minima`` averaged, over the mean opening on vowels (0: shut on every m/b/p)."""
    import numpy as np

    minima = bilabial_minima(opening, sounds, reach)
    vowel_open = float(np.nanmean(opening[vowels])) if vowels.any() else float("nan")
    if not minima or not np.isfinite(vowel_open):
        return float("nan")
    return float(np.mean(minima) / max(vowel_open, 1e-6))


def sheet_window(sounds, length: int = 10) -> tuple[int, int] | None:
    """Frames around the first m/b/p followed within 4 frames by a rounded vowel ("moon", "不")."""
    for i, s in enumerate(sounds):
        if s and s[0] in "mbp" and any(t and t[0] in ROUNDED for t in sounds[i + 1 : i + 5]):
            start = max(0, i - 3)
            return start, min(len(sounds), start + length)
    return None


@dataclass
class Lips:
    """A face's mouth in one picture: inner-lip gap and corner-to-corner width, per face height."""

    gap: float
    width: float


def lips(landmarks) -> Lips:
    import numpy as np

    from factory.faces import MOUTH_LEFT, MOUTH_RIGHT, face_height, mouth_opening

    width = float(np.linalg.norm(landmarks[MOUTH_LEFT] - landmarks[MOUTH_RIGHT])) / max(face_height(landmarks), 1e-6)
    return Lips(mouth_opening(landmarks), width)


def face_view(face_box, shape) -> tuple[int, int, int, int]:
    """The face box grown by half a face each side (room for head motion), inside the frame:
    landmarks look there, so a small face in a wide frame is still found."""
    x0, y0, x1, y1 = face_box
    pad = 0.5 * max(x1 - x0, y1 - y0)
    h, w = shape[:2]
    return int(max(0, x0 - pad)), int(max(0, y0 - pad)), int(min(w, x1 + pad)), int(min(h, y1 + pad))


def look_at(video: Path, portrait, face_box, window: tuple[int, int] | None) -> dict:
    """One pass over the rendered video: the lips per frame, which pixels ever move, and the
    frames of ``window`` (for the contact sheet)."""
    import cv2
    import numpy as np

    from factory.faces import FaceMesh
    from factory.media import read_video_frames

    vx0, vy0, vx1, vy1 = face_view(face_box, portrait.shape)
    with FaceMesh() as mesh:
        rest_lm = mesh.landmarks(portrait[vy0:vy1, vx0:vx1])
    rest = lips(rest_lm) if rest_lm is not None else Lips(float("nan"), float("nan"))

    def grey(rgb):
        small = cv2.resize(rgb, (rgb.shape[1] // 4, rgb.shape[0] // 4), interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.int16)

    gaps, widths, kept = [], [], {}
    first = moved = None
    with FaceMesh(video=True) as mesh:
        for i, frame in enumerate(read_video_frames(video, threaded=True)):
            lm = mesh.landmarks(frame[vy0:vy1, vx0:vx1])
            seen = lips(lm) if lm is not None else Lips(float("nan"), float("nan"))
            gaps.append(seen.gap)
            widths.append(seen.width)
            g = grey(frame)
            if first is None:
                first, moved = g, np.zeros(g.shape, np.int16)
            else:
                np.maximum(moved, np.abs(g - first), out=moved)
            if window and window[0] <= i < window[1]:
                kept[i] = frame
    moving = moved > MOVE_LEVELS
    x0, y0, x1, y1 = (int(v) // 4 for v in face_box)
    outside = np.ones(moving.shape, bool)
    outside[y0:y1, x0:x1] = False
    return {"rest": rest, "gap": np.array(gaps), "width": np.array(widths), "frames": kept,
            "moves%": 100 * float(moving.mean()), "out%": 100 * float(moving[outside].mean())}


def still_moves(portrait, path: Path) -> float:
    """``moves%`` of a 2-s still video of the portrait (written to ``path``): the floor the
    video coding alone gives."""
    import cv2
    import numpy as np

    from factory.media import VideoWriter, read_video_frames

    h, w = portrait.shape[0] // 2 * 2, portrait.shape[1] // 2 * 2
    with VideoWriter(path, w, h) as video:
        for _ in range(50):
            video.write(portrait[:h, :w])
    frames = [cv2.cvtColor(cv2.resize(f, (w // 4, h // 4), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
              .astype(np.int16) for f in read_video_frames(path)]
    moved = np.max([np.abs(f - frames[0]) for f in frames], axis=0)
    return 100 * float((moved > MOVE_LEVELS).mean())


def measure_clip(narration: Narration, spoken, portrait_path: Path, portrait, work: Path, settings) -> dict:
    """Render one narration on one portrait, run the QA gate on it and measure the mouth."""
    import numpy as np

    from factory.media import decode_audio, frame_count, frame_energy
    from factory.stages import StageContext
    from qa.gate import QAThresholds
    from qa.report import check_video
    from sonic.mouth import VOWELS, frame_sounds, mouth_track
    from sonic.stage import STAGE

    work.mkdir(parents=True, exist_ok=True)
    speech, audio = spoken.values["speech"], spoken.files["audio"]
    t0 = time.perf_counter()
    ctx = StageContext(job_id=work.name, params={}, files={"image": portrait_path, "audio": audio},
                       values={"speech": speech}, workdir=work, settings=settings)
    rendered = STAGE.run(ctx)
    video, facts = rendered.files["video"], rendered.values["render"]
    render_s = time.perf_counter() - t0
    report = check_video(video, expected={"audio_seconds": speech["seconds"], "language": narration.language},
                         settings=settings, transcribe=False)
    qa_s = time.perf_counter() - t0 - render_s

    samples, rate = decode_audio(audio)
    n = frame_count(len(samples) / rate)
    track = mouth_track(n, samples, rate, speech["phonemes"] or None)
    silent = frame_energy(samples, rate, n) < SILENT_DB
    sounds = frame_sounds(speech["phonemes"], n)
    speaking = track.open > 0

    def frames_of(chars: str):
        return np.array([bool(s) and s[0] in chars for s in sounds], dtype=bool) & speaking

    vowels, rounded, spread = frames_of("".join(VOWELS)), frames_of(ROUNDED), frames_of(SPREAD)
    scale = facts["width"] / portrait.shape[1]  # the video is the photo's size, or scaled down
    face_box = [v * scale for v in facts["face_box"]]
    seen = look_at(video, portrait, face_box, sheet_window(sounds))
    k = min(n, len(seen["gap"]))
    gap = seen["gap"][:k] - seen["rest"].gap
    width = 100 * (seen["width"][:k] / seen["rest"].width - 1)
    closed = gap[silent[:k]] <= CLOSED_GAP
    shut = [m <= CLOSED_GAP for m in bilabial_minima(seen["gap"][:k], sounds[:k])]  # lips really together
    lip_checks = [c for c in report.checks if c.name.startswith("lip_sync")]
    measured = report.lipsync.get("min_confidence", 0) <= QAThresholds.from_settings(settings).max_reachable_confidence

    def mean(x, mask):
        return float(np.nanmean(x[mask[:k]])) if mask[:k].any() and np.isfinite(x[mask[:k]]).any() else float("nan")

    return {
        "clip": f"{narration.name}/{work.name}", "narration": narration.name, "portrait": work.name,
        "kind": f"{narration.language}-{narration.kind}", "mouth": track.source, "sec": round(n / 25, 1),
        "gate": ("pass" if all(c.passed for c in lip_checks) else "FAIL") if measured else "n/m",
        "offset": report.lipsync.get("offset_frames"),
        "conf": round(float(report.lipsync.get("confidence") or 0), 2),
        "min": round(float(report.lipsync.get("min_confidence") or 0), 2),
        "closed%": 100 * float(closed.mean()) if closed.size else float("nan"),
        "trk%": 100 * float((track.open[silent] <= 0.1).mean()) if silent.any() else float("nan"),
        "round": mean(width, rounded), "spread": mean(width, spread),
        "bilab": closure(np.clip(gap, 0, None), sounds[:k], vowels[:k]),
        "bilab0": closure(np.clip(gap, 0, None), sounds[:k], vowels[:k], reach=0),
        "shut%": 100 * float(np.mean(shut)) if shut else float("nan"),
        "rest": round(seen["rest"].gap, 3),
        "moves%": seen["moves%"], "out%": seen["out%"],
        "render_s": round(render_s, 1), "qa_s": round(qa_s, 1),
        "_frames": seen["frames"], "_sounds": sounds, "_open": track.open, "_box": face_box,
    }


# --- contact sheets ---------------------------------------------------------------------------


def contact_sheet(portrait_name: str, strips: list[tuple[str, dict]], path: Path, width: int = 1000) -> None:
    """Rows of lower-face tiles, one row per (title, clip), each tile labelled with its frame,
    the sound said there and the track's opening; written as a small JPEG."""
    import matplotlib
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    font_path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"  # has the IPA symbols
    font, title_font = ImageFont.truetype(str(font_path), 12), ImageFont.truetype(str(font_path), 14)
    rows = []
    for title, clip in strips:
        frames = clip["_frames"]
        if not frames:
            continue
        x0, y0, x1, y1 = (int(v) for v in clip["_box"])
        tile_w = width // len(frames)
        tiles = []
        for i, frame in sorted(frames.items()):
            h, w = frame.shape[:2]
            bw, bh = x1 - x0, y1 - y0  # the mouth and chin: the lower 45 % of the face box, its middle 70 %
            face = Image.fromarray(frame[y0 + bh * 55 // 100 : min(h, y1 + bh // 10),
                                         max(0, x0 + bw * 15 // 100) : min(w, x1 - bw * 15 // 100)])
            face = face.resize((tile_w, max(1, round(face.height * tile_w / face.width))))
            tile = Image.new("RGB", (tile_w, face.height + 30), "white")
            tile.paste(face, (0, 0))
            sound = clip["_sounds"][i] or "·"
            ImageDraw.Draw(tile).text((3, face.height + 1), f"{i}  {sound}\nopen {clip['_open'][i]:.2f}", fill="black", font=font)
            tiles.append(np.asarray(tile))
        strip = np.concatenate(tiles, 1)
        head = Image.new("RGB", (strip.shape[1], 20), "white")
        ImageDraw.Draw(head).text((3, 2), f"{portrait_name}: {title} ({clip['narration']}), frames {min(frames)}–{max(frames)}",
                                  fill="black", font=title_font)
        rows.append(np.concatenate([np.asarray(head), strip], 0))
    if not rows:
        return
    side = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, side - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, 0)).save(path, quality=75)


# --- tables -----------------------------------------------------------------------------------


def cell(value) -> str:
    if isinstance(value, float):
        return "–" if value != value else f"{value:.2f}" if abs(value) < 10 else f"{value:.0f}"
    return "" if value is None else str(value)


def print_table(rows: list[dict], columns: list[str]) -> None:
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(cell(row.get(c)) for c in columns) + " |")


def misses(rows: list[dict]) -> dict:
    """How many clips miss each goal (``GOALS``); clips without the measure are not counted."""
    import math

    return {
        "gate": sum(r["gate"] == "FAIL" for r in rows),
        "closed%": sum(r["closed%"] < 80 for r in rows if not math.isnan(r["closed%"])),
        "round<spread": sum(not r["round"] < r["spread"] for r in rows
                            if not (math.isnan(r["round"]) or math.isnan(r["spread"]))),
        "bilab": sum(r["bilab"] > 0.5 for r in rows if not math.isnan(r["bilab"])),
        "bilab0": sum(r["bilab0"] > 0.5 for r in rows if not math.isnan(r["bilab0"])),
    }


def summary(rows: list[dict], key: str) -> list[dict]:
    """Per value of ``key``: medians of the measures and the misses of each goal."""
    import numpy as np

    out = []
    for value in dict.fromkeys(r[key] for r in rows):
        group = [r for r in rows if r[key] == value]

        def median(c):
            return float(np.nanmedian([r[c] for r in group])) if any(r[c] == r[c] for r in group) else float("nan")

        offsets = sorted({r["offset"] for r in group if r["offset"] is not None})
        miss = misses(group)
        out.append({key: value, "clips": len(group), "offsets": ",".join(f"{o:+d}" for o in offsets),
                    "conf": median("conf"), "gate miss": miss["gate"], "closed%": median("closed%"),
                    "closed miss": miss["closed%"], "round": median("round"), "spread": median("spread"),
                    "round miss": miss["round<spread"], "bilab": median("bilab"), "bilab miss": miss["bilab"],
                    "bilab0": median("bilab0"), "bilab0 miss": miss["bilab0"], "shut%": median("shut%"),
                    "moves%": median("moves%"), "out%": median("out%")})
    return out


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-mouth"))
    parser.add_argument("--sheets", type=Path, default=REPO / "bench" / "sheets", help="where the contact sheets go")
    parser.add_argument("--portraits", default="", help="comma-separated subset of: " + ", ".join(
        ["astronaut", "hopper", "statue", "cartoon", "wide"]))
    parser.add_argument("--narrations", default="", help="comma-separated subset of the narration names")
    args = parser.parse_args()

    from factory.media import save_image
    from factory.settings import Settings

    args.out.mkdir(parents=True, exist_ok=True)
    settings = Settings.load(data_dir=args.out / "data")
    images = portraits()
    if args.portraits:
        images = {k: v for k, v in images.items() if k in args.portraits.split(",")}
    narrations = [n for n in NARRATIONS if not args.narrations or n.name in args.narrations.split(",")]
    paths = {}
    for name, image in images.items():
        paths[name] = args.out / f"{name}.png"
        save_image(paths[name], image)

    started = time.perf_counter()
    rows = []
    for narration in narrations:
        work = args.out / narration.name
        work.mkdir(exist_ok=True)
        t = time.perf_counter()
        spoken = speak(narration, work, settings)
        speak_s = time.perf_counter() - t
        for name, image in images.items():
            row = measure_clip(narration, spoken, paths[name], image, work / name, settings)
            row["speak_s"] = round(speak_s, 1)
            rows.append(row)
            print(f"{row['clip']:<28} {cell(row['conf']):>5} {row['gate']:<4} closed {cell(row['closed%']):>4} "
                  f"bilab {cell(row['bilab']):>5} ({row['render_s']} s render, {row['qa_s']} s QA)", flush=True)

    still = {name: still_moves(image, args.out / f"still-{name}.mp4") for name, image in images.items()}
    for name in images:
        clips = {r["narration"]: r for r in rows if r["portrait"] == name}
        contact_sheet(name, [(title, clips[key]) for key, title in SHEET_ROWS if key in clips], args.sheets / f"{name}.jpg")

    print(f"\n{len(rows)} clips ({len(narrations)} narrations x {len(images)} portraits) in "
          f"{time.perf_counter() - started:.0f} s\n")
    print_table(rows, ["clip", "kind", "mouth", "sec", "gate", "offset", "conf", "min", "closed%", "trk%",
                       "round", "spread", "bilab", "bilab0", "shut%", "moves%", "out%"])
    print("\nPer portrait (medians; 'miss' = clips missing the goal: gate pass, closed% >= 80, "
          "rounded narrower than spread, bilab and bilab0 <= 0.5); still% = a still video of the portrait\n")
    by_portrait = summary(rows, "portrait")
    for row in by_portrait:
        row["still%"] = still[row["portrait"]]
        row["rest gap"] = next(r["rest"] for r in rows if r["portrait"] == row["portrait"])
    print_table(by_portrait, list(by_portrait[0]))
    print("\nPer narration kind\n")
    by_kind = summary(rows, "kind")
    print_table(by_kind, list(by_kind[0]))
    totals = misses(rows)
    print(f"\nAll {len(rows)} clips, misses per goal ({GOALS}): {totals}")
    (args.out / "rows.json").write_text(json.dumps([{k: v for k, v in r.items() if not k.startswith("_")} for r in rows],
                                                   indent=1, ensure_ascii=False, default=float))


if __name__ == "__main__":
    main()
