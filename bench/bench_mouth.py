"""How the CPU renderer's mouth behaves on real narrations, per clip.

    .venv/bin/python bench/bench_mouth.py [--out /tmp/bench-mouth] [--no-qa]

Narrations: English (Piper) and Chinese (the bundled Mandarin voice) TTS with their phoneme
timings, and "recordings": TTS audio with room noise added and re-encoded to AAC, fed through
the speak stage as an editor's upload (the stage finds their phonemes with Whisper), and one
real person's recording (tests/data/thank_you_for_watching.m4a). Portraits:
skimage.data's astronaut (a public-domain NASA photo, the one frontal face in skimage.data)
and two looks made from it here: a cartoon (flat colours, dark outlines) and a statue (grey
stone, no red lips), so the mouth's colours are seen on faces that are not a photo.

Per clip it prints, measured on the track that drives the renderer:
  closed%   share of silent frames (audio under -40 dB, the QA speech level) with the mouth
            closed (opening <= 0.1, i.e. under 0.7 % of the face height of jaw drop)
  round_w / spread_w   mean lip width on rounded (u, o) vs spread (i, e) vowel frames
  bilab     per m/b/p, the least opening within 2 frames of it, averaged, divided by the mean
            opening on vowel frames (0: shut on every m/b/p; ~1: no closure)
and, measured on the rendered MP4 by the QA gate (``qa.report.check_video``): the lip-sync
offset in frames and its confidence (with the least confidence the gate accepts for the
clip's length), plus the visible closed% (MediaPipe's inner-lip gap no
more than 0.01 face heights over the photo's own mouth). A contact sheet of each rendered
clip (every 5th frame, lower face) is written to OUT/sheets/.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NARRATIONS = [
    ("en", "tts", "Hello there. My name is Eileen, and I flew the space shuttle. Thank you, everyone!"),
    ("en", "tts", "Maybe Bob bought a purple map by the pond. Two blue shoes, three green trees."),
    ("zh", "tts", "大家好，欢迎收看今天的节目。我们来聊一聊怎么保护眼睛。"),
    ("zh", "tts", "北京的秋天很美，天气不冷也不热。谢谢大家！"),
    ("en", "recording", "Welcome back. Today we look at three ways to keep your kitchen knives sharp."),
    ("zh", "recording", "你好，我是小明。今天我们一起学习做饭。"),
    ("en", "tts", "Who would have thought? Food, movies and music: we review five of them every week."),
    ("en", "real", str(Path(__file__).resolve().parents[1] / "tests" / "data" / "thank_you_for_watching.m4a")),
]


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


def closure(opening, sounds, vowels) -> float:
    """Per m/b/p, the least opening within 2 frames of it (the renderer may move a closure
    that far, to the quietest moment), averaged, over the mean opening on vowels."""
    import numpy as np

    runs, i = [], 0
    while i < len(sounds):
        if sounds[i] and sounds[i][0] in "mbp":
            j = i
            while j + 1 < len(sounds) and sounds[j + 1] == sounds[i]:
                j += 1
            runs.append(float(opening[max(0, i - 2) : j + 3].min()))
            i = j + 1
        else:
            i += 1
    if not runs or not vowels.any():
        return float("nan")
    return float(np.mean(runs) / max(float(opening[vowels].mean()), 1e-6))


def make_recording(samples, rate, path: Path) -> Path:
    """TTS speech as a phone or laptop would record it: room noise, 48 kHz AAC."""
    import numpy as np

    from factory.media import ffmpeg_exe, write_wav

    rng = np.random.default_rng(0)
    noisy = samples + rng.normal(0, 0.003, samples.shape).astype(np.float32)
    wav = write_wav(path.with_suffix(".wav"), np.clip(noisy, -1, 1), rate)
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(wav), "-ar", "48000", "-c:a", "aac",
                    "-b:a", "96k", str(path)], check=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-mouth"))
    parser.add_argument("--no-qa", action="store_true", help="skip rendering and the QA gate (track numbers only)")
    args = parser.parse_args()

    import numpy as np
    import skimage.data

    from factory.media import decode_audio, frame_count, frame_energy, save_image
    from factory.settings import Settings
    from factory.stages import StageContext
    from sonic.mouth import VOWELS, frame_sounds, mouth_track
    from tts import stage as speak

    args.out.mkdir(parents=True, exist_ok=True)
    settings = Settings.load(data_dir=args.out / "data")
    photo = skimage.data.astronaut()
    portraits = {}
    for name, image in (("photo", photo), ("cartoon", cartoon(photo)), ("statue", statue(photo))):
        portraits[name] = save_image(args.out / f"{name}.png", image) or args.out / f"{name}.png"

    rows = []
    for k, (language, kind, text) in enumerate(NARRATIONS):
        work = args.out / f"n{k}"
        work.mkdir(exist_ok=True)
        ctx = StageContext(job_id=f"n{k}", params={"language": language}, files={}, values={"script": text},
                           workdir=work, settings=settings)
        if kind == "real":  # a person's own recording, uploaded as it is
            ctx = StageContext(job_id=f"r{k}", params={}, files={"audio_upload": Path(text)}, values={},
                               workdir=work, settings=settings)
        result = speak.STAGE.run(ctx)
        if kind == "recording":
            samples, rate = decode_audio(result.files["audio"])
            upload = make_recording(samples, rate, work / "recording.m4a")
            ctx = StageContext(job_id=f"r{k}", params={}, files={"audio_upload": upload}, values={},
                               workdir=work, settings=settings)
            result = speak.STAGE.run(ctx)
        speech = result.values["speech"]
        audio = result.files["audio"]
        samples, rate = decode_audio(audio)
        n = frame_count(len(samples) / rate)
        track = mouth_track(n, samples, rate, speech["phonemes"] or None)
        silent = frame_energy(samples, rate, n) < -40.0
        sounds = frame_sounds(speech["phonemes"], n)
        speaking = track.open > 0

        def frames_of(chars: str):
            return np.array([bool(s) and s[0] in chars for s in sounds]) & speaking

        vowels = frames_of("".join(VOWELS))
        row = {
            "clip": f"{language}-{kind}-{k}", "mouth": track.source, "sec": round(n / 25, 1),
            "closed%": 100 * float((track.open[silent] <= 0.1).mean()) if silent.any() else float("nan"),
            "round_w": float(track.width[frames_of("uʊoɔ")].mean()) if frames_of("uʊoɔ").any() else float("nan"),
            "spread_w": float(track.width[frames_of("iɪe")].mean()) if frames_of("iɪe").any() else float("nan"),
            "bilab": closure(track.open, sounds, vowels),
        }
        for name, portrait in portraits.items() if not args.no_qa else []:
            out = dict(row, clip=f"{row['clip']}/{name}")
            out.update(render_and_check(portrait, audio, speech, work / name, settings, silent, language))
            rows.append(out)
        if args.no_qa:
            rows.append(row)

    columns = ["clip", "mouth", "sec", "closed%", "round_w", "spread_w", "bilab", "vis_closed%", "offset", "conf", "min", "s"]
    print(" | ".join(f"{c:>18}" if c == "clip" else f"{c:>9}" for c in columns))
    for row in rows:
        cells = []
        for c in columns:
            v = row.get(c, "")
            text = f"{v:.2f}" if isinstance(v, float) else str(v)
            cells.append(f"{text:>18}" if c == "clip" else f"{text:>9}")
        print(" | ".join(cells))


def render_and_check(portrait: Path, audio: Path, speech: dict, work: Path, settings, silent, language: str) -> dict:
    import numpy as np

    from factory.faces import FaceMesh, mouth_opening
    from factory.media import load_image, read_video_frames
    from factory.stages import StageContext
    from qa.report import check_video
    from sonic.stage import STAGE

    work.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    ctx = StageContext(job_id=work.name, params={}, files={"image": portrait, "audio": audio},
                       values={"speech": speech}, workdir=work, settings=settings)
    rendered = STAGE.run(ctx)
    video = rendered.files["video"]
    report = check_video(video, expected={"audio_seconds": speech["seconds"], "language": language},
                         settings=settings, transcribe=False)
    with FaceMesh(video=True) as mesh:
        rest = mouth_opening(mesh.landmarks(load_image(portrait)))
    with FaceMesh(video=True) as mesh:
        opening = np.array([mouth_opening(lm) if (lm := mesh.landmarks(f)) is not None else np.nan
                            for f in read_video_frames(video)])
    contact_sheet(video, rendered.values["render"]["face_box"],
                  work.parent.parent / "sheets" / f"{work.parent.name}-{work.name}.png")
    k = min(len(opening), len(silent))
    closed = opening[:k][silent[:k]] <= rest + 0.01
    return {"vis_closed%": 100 * float(closed.mean()) if closed.size else float("nan"),
            "offset": report.lipsync.get("offset_frames"), "conf": round(float(report.lipsync.get("confidence") or 0), 2),
            "min": round(float(report.lipsync.get("min_confidence") or 0), 2),
            "s": round(time.perf_counter() - t0, 1)}


def contact_sheet(video: Path, face_box, path: Path, columns: int = 10) -> None:
    """Every 5th frame's lower face (the lower half of the face box), in rows: to look at."""
    import numpy as np

    from factory.media import read_video_frames, save_image

    x0, y0, x1, y1 = (int(v) for v in face_box)
    frames = list(read_video_frames(video))[::5]
    tiles = [f[(y0 + y1) // 2 : y1 + (y1 - y0) // 8, x0:x1] for f in frames]
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % columns)
    rows = [np.concatenate(tiles[i : i + columns], 1) for i in range(0, len(tiles), columns)]
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(path, np.concatenate(rows, 0))


if __name__ == "__main__":
    main()
