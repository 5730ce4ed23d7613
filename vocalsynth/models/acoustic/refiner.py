"""Mel refiner: a few-step flow-matching post-net that puts back the detail an L1-trained decoder smooths away.

The decoder's log-mel is the average of what the singer might sing, so its upper bands come out smooth and
dull. The refiner learns the flow from ``coarse + sigma * noise`` (the decoder's mel with a little noise) to
the recorded mel (rectified flow / conditional flow matching with an informed prior, as in DiffSinger's
shallow diffusion): a ConvNeXt stack predicts the velocity ``target - x0`` at a random time ``t`` on the
straight path between them, conditioned on the coarse mel, the frame states and ``t``. At inference a few
Euler steps from ``coarse + sigma * noise`` give a sharper mel. The noise comes from a fixed seed, so the
same phrase renders the same way every time (the synthesizer's phrase cache relies on it).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vocalsynth.models.acoustic.layers import ConvStack

TIME_FEATURES = 64  # sinusoidal features of the flow time t
DEFAULT_SEED = 0  # the noise a render starts from (fixed: a phrase renders the same every time)


def time_embedding(t: torch.Tensor, dim: int = TIME_FEATURES) -> torch.Tensor:
    """``(B,)`` times in [0, 1] -> ``(B, dim)`` sinusoidal features."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = 1000.0 * t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


class MelRefiner(nn.Module):
    """Flow-matching post-net on log-mel ``(B, n_mels, T)``.

    ``frame_channels``: width of the frame states ``hf`` it is conditioned on; ``sigma``: the prior's noise
    around the coarse mel (natural-log magnitude units); ``steps``: Euler steps at inference by default.
    """

    def __init__(
        self,
        n_mels: int,
        frame_channels: int,
        channels: int = 128,
        layers: int = 6,
        kernel: int = 7,
        dilations: tuple[int, ...] = (1, 2, 4),
        expansion: int = 2,
        sigma: float = 0.5,
        steps: int = 4,
    ):
        super().__init__()
        self.sigma, self.steps = float(sigma), int(steps)
        self.inp = nn.Conv1d(2 * n_mels, channels, 1)
        self.frames = nn.Conv1d(frame_channels, channels, 1)
        self.time = nn.Sequential(
            nn.Linear(TIME_FEATURES, channels), nn.SiLU(), nn.Linear(channels, channels)
        )
        self.stack = ConvStack(channels, layers, kernel, dilations, expansion)
        self.out = nn.Conv1d(channels, n_mels, 1)
        nn.init.zeros_(self.out.weight)  # starts as "no change": the refined mel is the noisy prior's mean
        nn.init.zeros_(self.out.bias)

    def velocity(
        self, x: torch.Tensor, coarse: torch.Tensor, hf: torch.Tensor, t: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """``d x / d t`` at ``x`` ``(B, n_mels, T)``, time ``t`` ``(B,)``."""
        m = mask[:, None, :].to(x.dtype)
        cond = self.time(time_embedding(t))[:, :, None] + self.frames(hf)
        h = self.inp(torch.cat([x, coarse], dim=1) * m)
        return self.out(self.stack(h, mask, cond)) * m

    def loss(
        self,
        coarse: torch.Tensor,
        target: torch.Tensor,
        hf: torch.Tensor,
        mask: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Flow-matching loss: mean squared velocity error over the real frames of a batch."""
        b = coarse.shape[0]
        if generator is None:
            t = torch.rand(b, device=coarse.device)
            noise = torch.randn_like(coarse)
        else:  # a seeded CPU generator (validation): the same draws on any device
            t = torch.rand(b, generator=generator).to(coarse.device)
            noise = torch.randn(coarse.shape, generator=generator).to(coarse.device, coarse.dtype)
        x0 = coarse + self.sigma * noise
        xt = x0 + t[:, None, None] * (target - x0)
        err = (self.velocity(xt, coarse, hf, t, mask) - (target - x0)) ** 2
        m = mask[:, None, :].to(err.dtype).expand_as(err)
        return (err * m).sum() / m.sum().clamp(min=1)

    def sample(
        self,
        coarse: torch.Tensor,
        hf: torch.Tensor,
        mask: torch.Tensor,
        steps: int | None = None,
        seed: int = DEFAULT_SEED,
    ) -> torch.Tensor:
        """The refined mel: ``steps`` Euler steps from ``coarse + sigma * noise`` (noise from ``seed``)."""
        steps = self.steps if steps is None else int(steps)
        if steps <= 0:
            return coarse
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        noise = torch.randn(coarse.shape, generator=gen).to(coarse.device, coarse.dtype)
        x = coarse + self.sigma * noise
        dt = 1.0 / steps
        for k in range(steps):
            t = torch.full((coarse.shape[0],), k * dt, device=coarse.device)
            x = x + dt * self.velocity(x, coarse, hf, t, mask)
        m = mask[:, None, :].to(x.dtype)
        return x * m + coarse * (1 - m)


__all__ = ["MelRefiner", "time_embedding"]
