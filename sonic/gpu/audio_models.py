"""Sonic's two small audio networks (parameter names match audio2token.pth / audio2bucket.pth).

- AudioToTokens: a window of whisper-tiny hidden states (10 encoder frames x 5 layers x 384)
  -> 32 context tokens of width 1024 that the UNet's audio cross-attention reads.
- AudioToBucket: 50 frames of the last whisper layer + the CLIP image embedding -> 2 numbers,
  the SVD "motion bucket" and the second micro-conditioning value (expression strength).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class AudioToTokensConfig:
    window: int = 10            # whisper frames per video frame window (200 ms)
    layers: int = 5             # embedding output + 4 encoder layers
    channels: int = 384         # whisper-tiny width
    hidden: int = 1024
    tokens: int = 32
    token_dim: int = 1024


@dataclass(frozen=True)
class AudioToBucketConfig:
    window: int = 50            # whisper frames (1 s) around the frame
    layers: int = 1             # last hidden state only
    channels: int = 384
    clip_dim: int = 1024
    hidden: int = 1024
    outputs: int = 2


class AudioToTokens(nn.Module):
    def __init__(self, cfg: AudioToTokensConfig = AudioToTokensConfig()):
        super().__init__()
        self.cfg = cfg
        self.proj1 = nn.Linear(cfg.window * cfg.layers * cfg.channels, cfg.hidden)
        self.proj2 = nn.Linear(cfg.hidden, cfg.hidden)
        self.proj3 = nn.Linear(cfg.hidden, cfg.tokens * cfg.token_dim)
        self.norm = nn.LayerNorm(cfg.token_dim)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """windows: (frames, window, layers, channels) -> (frames, tokens, token_dim)."""
        x = windows.reshape(windows.shape[0], -1)
        x = torch.relu(self.proj1(x))
        x = torch.relu(self.proj2(x))
        x = self.proj3(x).reshape(windows.shape[0], self.cfg.tokens, self.cfg.token_dim)
        return self.norm(x)


class AudioToBucket(nn.Module):
    def __init__(self, cfg: AudioToBucketConfig = AudioToBucketConfig()):
        super().__init__()
        self.cfg = cfg
        self.proj1 = nn.Linear(cfg.window * cfg.layers * cfg.channels + cfg.clip_dim, cfg.hidden)
        self.proj2 = nn.Linear(cfg.hidden, cfg.hidden)
        self.proj3 = nn.Linear(cfg.hidden, cfg.outputs)

    def forward(self, windows: torch.Tensor, clip_embed: torch.Tensor) -> torch.Tensor:
        """windows: (frames, window, 1, channels); clip_embed: (1, clip_dim) -> (frames, 2)."""
        x = windows.reshape(windows.shape[0], -1)
        x = torch.cat([x, clip_embed.expand(x.shape[0], -1).to(x.dtype)], dim=-1)
        x = nn.functional.silu(self.proj1(x))
        x = nn.functional.silu(self.proj2(x))
        return self.proj3(x)
