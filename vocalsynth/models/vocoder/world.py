"""`WorldVocoder`: the WORLD (pyworld) baseline behind the `Vocoder` interface.

Two ways to render, and the benchmark reports both, labelled:

- ``vocoder(mel, f0_hz)`` -- the same inputs as the neural vocoder. The spectral envelope is read off the
  mel (band means interpolated across frequency, :mod:`.spectral`) and turned into CheapTrick units by
  a calibration measured on PJS; aperiodicity is a fixed per-band profile in voiced frames (the median
  of D4C on PJS) and 1 in unvoiced frames, since a mel holds no aperiodicity of its own.
- :func:`world_resynthesis` -- WORLD's own analysis/synthesis (Harvest + D4C voicing, CheapTrick, D4C):
  the classic copy-synthesis reference, which sees the waveform rather than the mel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyworld
import torch

from vocalsynth.audio.config import AudioConfig
from vocalsynth.audio.world import F0Method, aperiodicity_band_edges, extract_f0, frame_times
from vocalsynth.models.vocoder.base import Vocoder
from vocalsynth.models.vocoder.spectral import mel_to_log_envelope

# log(CheapTrick power) - (log power envelope from the mel, WorldVocoder.log_power_envelope), measured as
# medians over active frames of PJS songs 001-010 (Harvest F0, fft 2048). Voiced frames scale with F0^2
# besides: an STFT spreads each harmonic's energy over the gap to the next one, CheapTrick does not.
_VOICED_OFFSET_HZ = np.array([200.0, 1000.0, 3000.0, 4500.0, 9000.0, 11500.0])
_VOICED_OFFSET = np.array([-16.0, -16.15, -16.1, -16.5, -16.75, -16.8])
_UNVOICED_OFFSET = -6.0
# Median D4C band aperiodicity of voiced frames in PJS songs 001-004 (bands of AudioConfig.n_aperiodicity_bands=4)
DEFAULT_VOICED_APERIODICITY = (0.002, 0.012, 0.13, 0.45)


def fft_size(config: AudioConfig) -> int:
    """CheapTrick/D4C FFT size for the config's rate and lowest F0 (2048 at 24 kHz, 65 Hz)."""
    return int(pyworld.get_cheaptrick_fft_size(config.sample_rate, config.f0_min))


def render(
    f0_hz: np.ndarray, spectral_envelope: np.ndarray, aperiodicity: np.ndarray, config: AudioConfig
) -> np.ndarray:
    """WORLD synthesis of analysed features -> ``(T * hop,)`` float32.

    ``f0_hz`` ``(T,)``; ``spectral_envelope`` and ``aperiodicity`` ``(T, fft_size // 2 + 1)`` as CheapTrick
    and D4C return them, on the mel's frame grid (frame ``i`` at ``i * hop`` samples).
    """
    t = f0_hz.shape[0]
    y = pyworld.synthesize(
        np.ascontiguousarray(f0_hz, dtype=np.float64),
        np.ascontiguousarray(spectral_envelope, dtype=np.float64),
        np.ascontiguousarray(aperiodicity, dtype=np.float64),
        config.sample_rate,
        config.frame_period_ms,
    )
    n = t * config.hop_length
    out = np.zeros(n, dtype=np.float32)
    out[: min(n, y.size)] = y[:n]
    return out


def world_resynthesis(
    samples: np.ndarray, config: AudioConfig, f0_method: F0Method = "harvest", f0_hz: np.ndarray | None = None
) -> np.ndarray:
    """Full WORLD analysis/synthesis of mono ``(n,)`` audio -> ``(n,)`` float32: F0 and voicing from
    :func:`vocalsynth.audio.extract_f0` (or ``f0_hz`` ``(T,)`` already analysed), envelope from CheapTrick,
    aperiodicity from D4C."""
    x = np.ascontiguousarray(samples, dtype=np.float64)
    f0 = extract_f0(x, config, f0_method)[0] if f0_hz is None else f0_hz
    f0 = np.ascontiguousarray(f0, dtype=np.float64)
    times = frame_times(f0.size, config)
    size = fft_size(config)
    sp = pyworld.cheaptrick(x, f0, times, config.sample_rate, f0_floor=config.f0_min, fft_size=size)
    ap = pyworld.d4c(x, f0, times, config.sample_rate, fft_size=size)
    return render(f0, sp, ap, config)[: x.size]


class WorldVocoder(Vocoder):
    """WORLD rendering from ``(mel (B, n_mels, T), f0_hz (B, T))`` -> ``(B, T * hop)`` (no parameters).

    ``voiced_aperiodicity``: aperiodicity (0 periodic .. 1 noise) of voiced frames in each of the
    AudioConfig's aperiodicity bands, interpolated across frequency; raise it for a breathier voice.
    Runs pyworld on the CPU, one batch item at a time; not differentiable.
    """

    kind = "world"

    def __init__(
        self,
        audio_config: AudioConfig | dict[str, Any] | None = None,
        voiced_aperiodicity: Sequence[float] = DEFAULT_VOICED_APERIODICITY,
    ):
        super().__init__(audio_config)
        cfg = self.audio_config
        ap = [float(a) for a in voiced_aperiodicity]
        if len(ap) != cfg.n_aperiodicity_bands or not all(0 < a <= 1 for a in ap):
            raise ValueError(
                f"voiced_aperiodicity needs {cfg.n_aperiodicity_bands} values in (0, 1], got {voiced_aperiodicity!r}"
            )
        self.hparams_dict = {"voiced_aperiodicity": ap}
        self.fft_size = fft_size(cfg)
        self.world_freqs = np.arange(self.fft_size // 2 + 1) * cfg.sample_rate / self.fft_size
        self.stft_freqs = np.arange(cfg.n_fft // 2 + 1) * cfg.sample_rate / cfg.n_fft
        edges = aperiodicity_band_edges(cfg)
        centres = 0.5 * (edges[:-1] + edges[1:])
        self.voiced_ap = np.exp(np.interp(self.world_freqs, centres, np.log(ap)))
        self.voiced_offset = np.interp(self.world_freqs, _VOICED_OFFSET_HZ, _VOICED_OFFSET)

    def log_power_envelope(self, mel: np.ndarray, f0_hz: np.ndarray) -> np.ndarray:
        """Log power envelope ``(T, fft_size // 2 + 1)`` read off ``mel`` ``(n_mels, T)``, before calibration.

        Voiced frames are averaged over one harmonic spacing (a rectangle ``f0`` wide in linear power, as
        CheapTrick smooths): where mel bands are narrower than the spacing the mel envelope peaks at each
        harmonic and dips between, and WORLD, which samples the envelope at the harmonics, would read
        the peaks as the level.
        """
        env = mel_to_log_envelope(torch.from_numpy(np.asarray(mel, dtype=np.float32)), self.audio_config)
        env = env.double().numpy()  # (n_bins, T)
        # onto WORLD's finer frequency grid, frame by frame
        idx = np.interp(self.world_freqs, self.stft_freqs, np.arange(self.stft_freqs.size))
        lo = np.floor(idx).astype(int)
        hi = np.minimum(lo + 1, self.stft_freqs.size - 1)
        frac = (idx - lo)[:, None]
        power = np.exp(2 * ((1 - frac) * env[lo] + frac * env[hi]).T)  # (T, bins)
        f0 = np.asarray(f0_hz, dtype=np.float64)
        voiced = f0 > 0
        if voiced.any():
            df = self.world_freqs[1]
            p = power[voiced]
            n_bins = p.shape[1]
            # integral of power over bins (trapezoid-free: bin sums), read at fractional bin positions
            csum = np.concatenate([np.zeros((p.shape[0], 1)), np.cumsum(p, axis=1)], axis=1)
            half = (f0[voiced] / df / 2)[:, None]
            centre = np.arange(n_bins)[None] + 0.5

            def integral(pos: np.ndarray) -> np.ndarray:
                pos = np.clip(pos, 0, n_bins)
                i = np.minimum(np.floor(pos).astype(int), n_bins - 1)
                return np.take_along_axis(csum, i, 1) + (pos - i) * np.take_along_axis(p, i, 1)

            lo_pos, hi_pos = centre - half, centre + half
            width = np.clip(hi_pos, 0, n_bins) - np.clip(lo_pos, 0, n_bins)
            power[voiced] = (integral(hi_pos) - integral(lo_pos)) / np.maximum(width, 1e-9)
        return np.log(np.maximum(power, 1e-30))

    def features_from_mel(self, mel: np.ndarray, f0_hz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(spectral_envelope, aperiodicity)``, each ``(T, fft_size // 2 + 1)``, from ``mel`` ``(n_mels, T)``."""
        f0 = np.asarray(f0_hz, dtype=np.float64)
        voiced = (f0 > 0)[:, None]
        log_f0 = np.log(np.maximum(f0, 1.0))[:, None]
        offset = np.where(voiced, self.voiced_offset[None] + 2 * log_f0, _UNVOICED_OFFSET)
        sp = np.exp(self.log_power_envelope(mel, f0) + offset)
        ap = np.where(voiced, self.voiced_ap[None], 0.999)
        return sp, ap

    @torch.no_grad()
    def forward(self, mel: torch.Tensor, f0_hz: torch.Tensor) -> torch.Tensor:
        """``mel`` ``(B, n_mels, T)``, ``f0_hz`` ``(B, T)`` -> audio ``(B, T * hop)`` float32."""
        self.check_inputs(mel, f0_hz)
        outs = []
        for m, f in zip(
            mel.detach().cpu().float().numpy(), f0_hz.detach().cpu().double().numpy(), strict=True
        ):
            f = np.where(f > 0, f, 0.0)
            sp, ap = self.features_from_mel(m, f)
            outs.append(render(f, sp, ap, self.audio_config))
        return torch.from_numpy(np.stack(outs)).to(mel.device)
