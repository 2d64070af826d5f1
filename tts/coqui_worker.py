"""The Coqui speak worker: loads a user's Coqui model and speaks sentences for the factory.

It runs in Coqui's own environment (``.venv-coqui``, made by ``deploy/coqui/install.sh``), never
in the factory's: Coqui needs torchaudio, which has no release for the factory's torch. The
factory starts it (``tts.coqui_engine``) and talks to it in JSON lines::

    <coqui venv>/bin/python -m tts.coqui_worker --model vits|xtts --config C --checkpoint P \
        [--speaker-wav CLIP]

* First line out: ``{"ready": {"sample_rate": 22050, "tokens": "characters"|"phonemes"|null}}``,
  or ``{"error": "..."}`` and the worker exits.
* Then, for each line in ``{"text": "...", "language": "zh-cn"}``, one line out:
  ``{"samples": <base64 float32 little-endian>, "tokens": [[token, samples], ...] | null}``, or
  ``{"error": "..."}``. ``tokens`` are the model's input symbols with how many output samples
  each lasts (VITS); special symbols (blank, padding) come as "". XTTS gives no durations.

Only the standard library, numpy and Coqui's own packages are imported here (no factory code):
the file must run in an environment that has none of the factory's dependencies. Coqui's own
messages go to stderr, which the factory keeps for error reports.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys

SEED = 0
"""Sampling noise is seeded per sentence, so the same text always gives the same audio."""

XTTS_CLIP_RATE = 22050
"""The rate XTTS computes its speaker conditioning at (Coqui's default for reference clips)."""


class WorkerError(Exception):
    """A sentence for the editor."""


def load_model(kind: str, config_path: str, checkpoint: str):
    import torch
    from TTS.config import load_config
    from TTS.tts.models import setup_model

    config = load_config(config_path)
    model = setup_model(config)
    if kind == "xtts":
        model.load_checkpoint(config, checkpoint_dir=os.path.dirname(checkpoint), checkpoint_path=checkpoint,
                              eval=True)
    else:
        model.load_checkpoint(config, checkpoint, eval=True)
    torch.set_grad_enabled(False)
    return config, model


def read_clip(path: str):
    """The reference clip as a mono float tensor [1, T] at XTTS_CLIP_RATE. Read with soundfile and
    resampled with librosa: torchaudio's loader needs FFmpeg libraries that a CPU host may lack."""
    import librosa
    import numpy as np
    import soundfile
    import torch

    try:
        audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (OSError, RuntimeError) as exc:
        raise WorkerError(f"The reference clip {path} cannot be read as audio ({exc}). Use a WAV or FLAC file.") from None
    mono = audio.mean(axis=1)
    if rate != XTTS_CLIP_RATE:
        mono = librosa.resample(mono, orig_sr=rate, target_sr=XTTS_CLIP_RATE)
    return torch.from_numpy(np.clip(mono, -1.0, 1.0).astype(np.float32))[None]


class VitsSpeaker:
    def __init__(self, config, model):
        self.model = model
        self.sample_rate = int(config.audio.sample_rate)
        self.hop = int(config.audio.hop_length)
        self.token_kind = "phonemes" if config.use_phonemes else "characters"
        characters = model.tokenizer.characters
        specials = {characters.blank, characters.pad, characters.bos, characters.eos}
        self.special_ids = {characters.char_to_id(s) for s in specials if s and s in characters.vocab}
        if model.args.use_d_vector_file or (model.speaker_manager and model.speaker_manager.num_speakers > 1):
            raise WorkerError("This VITS model has several speakers; the factory speaks with one-speaker "
                              "VITS models and XTTS-v2 only.")
        multilingual = model.args.use_language_embedding and model.language_manager is not None
        self.language_ids = dict(model.language_manager.name_to_id) if multilingual else {}

    def speak(self, text: str, language: str) -> dict:
        import torch

        torch.manual_seed(SEED)
        ids = self.model.tokenizer.text_to_ids(text, language=language)
        if not ids:
            raise WorkerError(f"The model knows none of the characters in {text!r}: is it the right language?")
        aux = {"x_lengths": torch.tensor([len(ids)]), "speaker_ids": None, "d_vectors": None,
               "language_ids": None, "durations": None}
        if self.language_ids:
            if language not in self.language_ids:
                raise WorkerError(f"This model does not speak {language!r}; it speaks {', '.join(self.language_ids)}.")
            aux["language_ids"] = torch.tensor([self.language_ids[language]])
        out = self.model.inference(torch.tensor([ids], dtype=torch.long), aux_input=aux)
        samples = out["model_outputs"][0, 0].float().numpy()
        frames = out["durations"][0, 0].long().tolist()
        characters = self.model.tokenizer.characters
        tokens = [["" if i in self.special_ids else characters.id_to_char(i), n * self.hop] for i, n in zip(ids, frames)]
        return {"samples": samples, "tokens": tokens}


class XttsSpeaker:
    def __init__(self, config, model, clip):
        self.model = model
        self.sample_rate = int(config.audio.output_sample_rate)
        self.token_kind = None
        if clip is not None:
            self.speaker_embedding = model.get_speaker_embedding(clip, XTTS_CLIP_RATE)
            self.gpt_latent = model.get_gpt_cond_latents(clip, XTTS_CLIP_RATE, length=6, chunk_length=6)
        elif model.speaker_manager is not None and model.speaker_manager.speakers:
            # A model that ships speakers_xtts.pth: its first built-in speaker.
            speaker = next(iter(model.speaker_manager.speakers.values()))
            self.gpt_latent, self.speaker_embedding = speaker["gpt_cond_latent"], speaker["speaker_embedding"]
        else:
            raise WorkerError("An XTTS-v2 voice needs a reference clip of the speaker (speaker_wav).")

    def speak(self, text: str, language: str) -> dict:
        import torch

        torch.manual_seed(SEED)
        out = self.model.inference(text, language, self.gpt_latent, self.speaker_embedding)
        return {"samples": out["wav"].reshape(-1), "tokens": None}


def encode(result: dict) -> dict:
    import numpy as np

    samples = np.clip(np.asarray(result["samples"], dtype="<f4"), -1.0, 1.0)
    return {"samples": base64.b64encode(samples.tobytes()).decode("ascii"), "tokens": result["tokens"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=("vits", "xtts"), required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--speaker-wav", default="")
    args = parser.parse_args(argv)

    # The protocol owns stdout; anything Coqui prints goes to stderr instead.
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def send(message: dict) -> None:
        channel.write(json.dumps(message, ensure_ascii=False) + "\n")
        channel.flush()

    try:
        clip = read_clip(args.speaker_wav) if args.speaker_wav else None  # before the slow model load
        config, model = load_model(args.model, args.config, args.checkpoint)
        speaker = XttsSpeaker(config, model, clip) if args.model == "xtts" else VitsSpeaker(config, model)
    except WorkerError as exc:
        send({"error": str(exc)})
        return 1
    except Exception as exc:  # a broken or mismatched checkpoint: report it in words and stop
        send({"error": f"Coqui could not load the model {args.checkpoint}: {exc}"})
        return 1
    send({"ready": {"sample_rate": speaker.sample_rate, "tokens": speaker.token_kind}})

    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            send(encode(speaker.speak(request["text"], request["language"])))
        except WorkerError as exc:
            send({"error": str(exc)})
        except Exception as exc:  # keep serving: one bad sentence should not end the voice
            send({"error": f"Coqui could not speak {request['text']!r}: {exc}"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
