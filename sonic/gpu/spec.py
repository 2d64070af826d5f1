"""What the official Sonic checkpoints contain, where they live, and how we check them.

`checkpoint_spec.json` (next to this file) lists every tensor key and shape of the three Sonic
files (`unet.pth`, `audio2token.pth`, `audio2bucket.pth`), the official inference defaults and the
configurations of the Stable Video Diffusion (SVD-xt) parts. It is the contract: our modules must
load the official files with strict key matching, and a missing or odd file must be reported in
words an operator can act on.

Nothing heavy is imported here: `doctor()` runs from `factory doctor`, which must stay fast.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

SPEC_PATH = Path(__file__).with_name("checkpoint_spec.json")

SONIC_FILES = ("unet.pth", "audio2token.pth", "audio2bucket.pth")


@lru_cache(maxsize=1)
def load_spec() -> dict[str, Any]:
    """The parsed checkpoint spec (cached: it is 230 KB of JSON)."""
    return json.loads(SPEC_PATH.read_text())


def expected_shapes(file_name: str) -> dict[str, tuple[int, ...]]:
    """Key -> shape for one of the Sonic files (``unet.pth``, ``audio2token.pth``, ...)."""
    tensors = load_spec()["files"][file_name]["tensors"]
    return {t["key"]: tuple(t["shape"]) for t in tensors}


def unet_config() -> dict[str, Any]:
    return dict(load_spec()["files"]["unet.pth"]["config"])


def _svd_part(prefix: str) -> dict[str, Any]:
    for name, value in load_spec()["other_models_from_svd_xt"].items():
        if name.startswith(prefix):
            return dict(value)
    raise KeyError(prefix)


def vae_config() -> dict[str, Any]:
    return _svd_part("vae")


def clip_config() -> dict[str, Any]:
    return _svd_part("image_encoder")


def scheduler_config() -> dict[str, Any]:
    return _svd_part("scheduler")


def whisper_config() -> dict[str, Any]:
    return _svd_part("whisper")


@dataclass(frozen=True)
class SonicDefaults:
    """The official inference settings (config/inference/sonic.yaml), named for a reader."""

    num_inference_steps: int = 25
    frames_per_window: int = 25          # n_sample_frames: UNet frames per call
    generation_fps: float = 12.5         # frames are generated at 12.5 fps, interpolated 2x to 25
    decode_chunk_size: int = 8           # VAE temporal decoder frames per call
    image_size: int = 512
    face_mask_area: float = 1.1          # "area": face box scale of the audio-attention mask
    audio_frames_per_video_frame: int = 2   # "step": whisper frames are 50 Hz, video 25 Hz
    overlap: int = 0
    shift_offset: int = 7                # windows shift by this many frames every step
    appearance_guidance: float = 2.0     # min/max_appearance_guidance_scale (equal)
    audio_guidance: float = 7.5
    i2i_noise_strength: float = 1.0
    ip_audio_scale: float = 1.0
    noise_aug_strength: float = 0.0
    use_interframe: bool = True
    seed: int = 72589


DEFAULTS = SonicDefaults()


class CheckpointError(Exception):
    """Weights are missing or do not match the official layout; the message lists every problem."""


def check_state_dict(
    state: Mapping[str, Any], file_name: str, expected: Mapping[str, tuple[int, ...]] | None = None
) -> None:
    """Raise CheckpointError naming every missing, unexpected or wrongly shaped key."""
    expected = expected if expected is not None else expected_shapes(file_name)
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k}: file {tuple(state[k].shape)}, expected {expected[k]}"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k])
    ]
    if not (missing or unexpected or wrong):
        return
    lines = [f"{file_name} does not match the official Sonic checkpoint layout:"]
    for title, items in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", wrong)):
        if items:
            lines.append(f"  {len(items)} {title}: " + ", ".join(items[:20]) + (" ..." if len(items) > 20 else ""))
    raise CheckpointError("\n".join(lines))


@dataclass(frozen=True)
class CheckpointPaths:
    """Where each part lives. `from_dir` reads a folder laid out like the official `checkpoints/`:

        checkpoints/Sonic/{unet,audio2token,audio2bucket}.pth
        checkpoints/stable-video-diffusion-img2vid-xt/{vae,image_encoder,scheduler}/
        checkpoints/whisper-tiny/          (Hugging Face WhisperModel folder)
        checkpoints/RIFE/flownet.pkl       (optional: 2x frame interpolation)
    """

    sonic_dir: Path
    svd_dir: Path
    whisper_dir: Path
    rife_dir: Path | None = None

    @classmethod
    def from_dir(cls, root: str | Path) -> CheckpointPaths:
        root = Path(root)
        return cls(
            sonic_dir=root / "Sonic",
            svd_dir=root / "stable-video-diffusion-img2vid-xt",
            whisper_dir=root / "whisper-tiny",
            rife_dir=root / "RIFE",
        )

    def required_files(self) -> dict[str, list[Path]]:
        """What must exist: for each part, a list of alternatives (any one is enough)."""
        vae, enc = self.svd_dir / "vae", self.svd_dir / "image_encoder"
        parts: dict[str, list[Path]] = {
            f"Sonic/{name}": [self.sonic_dir / name] for name in SONIC_FILES
        }
        parts["svd vae config"] = [vae / "config.json"]
        parts["svd vae weights"] = [
            vae / f"diffusion_pytorch_model{v}.{ext}" for v in (".fp16", "") for ext in ("safetensors", "bin")
        ]
        parts["svd image_encoder config"] = [enc / "config.json"]
        parts["svd image_encoder weights"] = [
            enc / f"{stem}{v}.{ext}" for stem, ext in (("model", "safetensors"), ("pytorch_model", "bin"))
            for v in (".fp16", "")
        ]
        parts["svd scheduler config"] = [self.svd_dir / "scheduler" / "scheduler_config.json"]
        parts["whisper-tiny config"] = [self.whisper_dir / "config.json"]
        parts["whisper-tiny weights"] = [self.whisper_dir / "model.safetensors", self.whisper_dir / "pytorch_model.bin"]
        parts["whisper-tiny feature extractor"] = [self.whisper_dir / "preprocessor_config.json"]
        return parts

    def rife_file(self) -> Path | None:
        return (self.rife_dir / "flownet.pkl") if self.rife_dir else None


@dataclass
class DoctorReport:
    ok: bool
    present: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def message(self) -> str:
        if self.ok:
            head = "Sonic GPU renderer: all weights present."
        else:
            head = "Sonic GPU renderer: weights missing, the GPU renderer cannot run:"
        lines = [head]
        lines += [f"  missing {name}: {where}" for name, where in self.missing.items()]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def doctor(model_dir: str | Path | CheckpointPaths | None) -> DoctorReport:
    """Say which weight files are present or missing (file presence only: fast, no torch)."""
    if model_dir is None:
        return DoctorReport(ok=False, missing={"model folder": "no Sonic model folder configured"})
    paths = model_dir if isinstance(model_dir, CheckpointPaths) else CheckpointPaths.from_dir(model_dir)
    report = DoctorReport(ok=True)
    for part, options in paths.required_files().items():
        found = next((p for p in options if p.is_file()), None)
        if found:
            report.present[part] = str(found)
        else:
            report.ok = False
            report.missing[part] = " or ".join(str(p) for p in options[:2])
    rife = paths.rife_file()
    if rife and rife.is_file():
        report.present["RIFE flownet (optional)"] = str(rife)
    else:
        report.notes.append(
            "RIFE/flownet.pkl not found (optional): without it each 12.5 fps frame is shown twice "
            "instead of interpolating the frame between (the official output uses RIFE)"
        )
    report.notes.append("Sonic weights are licensed CC BY-NC-SA 4.0 (non-commercial use only)")
    return report
