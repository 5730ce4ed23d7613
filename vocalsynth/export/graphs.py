"""The acoustic model re-wired for OpenUtau's DiffSinger calls, as torch modules to trace into ONNX:

- :class:`AcousticGraph`: ``tokens``, ``durations``, ``f0`` (OpenUtau's pitch curve, never 0), ``gender``
  (its GENC curve, a formant warp per frame), optional ``spk_embed`` -> ``mel`` ``(1, T, n_mels + 1)``: the log-mel with the voicing as one extra row, which the
  vocoder graph reads to stay silent over rests and unvoiced consonants (OpenUtau hands the vocoder voiced
  F0 everywhere).
- :class:`LinguisticGraph` + :class:`DurationGraph`: the ``dsdur/`` pair OpenUtau's phonemizer runs
  (``tokens``, ``word_div``, ``word_dur`` -> ``encoder_out``, ``x_masks``; then ``ph_midi`` -> ``ph_dur_pred``).

OpenUtau gives phonemes and frames, not notes, so the notes our model reads are rebuilt from the phonemes the
way `vocalsynth.models.acoustic.context` builds them from a score: a note starts at each non-consonant
(vowel, N, cl, SP, AP), its onset consonants sing in the span before it, its pitch is the rounded mean of
the curve over its first phoneme (0 for SP/AP). Everything after that is the model's own layers.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vocalsynth.models.acoustic.context import POSITION_HORIZON, ROLE_IDS
from vocalsynth.models.acoustic.controls import GENDER_SEMITONES, LIMITS, mel_center_frequencies
from vocalsynth.models.acoustic.decoder import DB_TO_LOG
from vocalsynth.models.acoustic.encoder import PITCH_CENTER
from vocalsynth.models.acoustic.layers import sinusoidal
from vocalsynth.models.acoustic.model import LOG_MEL_FLOOR, AcousticModel
from vocalsynth.models.acoustic.pitch import A4_HZ, A4_MIDI
from vocalsynth.models.acoustic.variance import f0_features
from vocalsynth.text import inventory
from vocalsynth.text.sequence import NUCLEUS, ONSET

SP_FADE_FRAMES = 3  # frames over which SP padding fades to silence
SP_ATTENUATION_DB = 80.0
REFINER_NOISE_FRAMES = 2048  # the refiner's start noise, a fixed table repeated over longer phrases


def token_tables(model: AcousticModel) -> dict[str, torch.Tensor]:
    """Per model token id (0 = padding): ``consonant`` (sung before its note), ``rest`` (SP, AP), ``is_sp``
    and ``voiced`` (:func:`inventory.is_voiced`), each ``(n_phonemes + 1,)`` bool."""
    n = len(model.phonemes) + 1
    is_sp = torch.zeros(n, dtype=torch.bool)
    if inventory.SP in model.phoneme_ids:
        is_sp[model.phoneme_ids[inventory.SP]] = True
    consonant = torch.zeros(n, dtype=torch.bool)
    rest = torch.zeros(n, dtype=torch.bool)
    voiced = torch.zeros(n, dtype=torch.bool)
    for symbol, i in model.phoneme_ids.items():
        try:
            kind = inventory.kind(symbol)
        except KeyError:
            continue  # a symbol outside the inventory counts as a nucleus, as in context.roles_of
        consonant[i] = kind not in inventory.NUCLEUS_KINDS
        rest[i] = kind in (inventory.REST, inventory.BREATH)
        voiced[i] = inventory.is_voiced(symbol)
    return {"consonant": consonant, "rest": rest, "voiced": voiced, "is_sp": is_sp}


def _notes_of_phonemes(tokens: torch.Tensor, consonant: torch.Tensor):
    """Group bookkeeping for one phrase ``tokens`` ``(N,)``: ``is_start`` ``(N,)`` (a note or rest starts
    here), ``start_idx`` ``(G,)`` its phoneme, ``own`` ``(N,)`` the group a phoneme sings in (onset
    consonants: the group before their note; -1 before the first start), ``note`` ``(N,)`` the group of the
    phoneme's own note (onset consonants: the next one)."""
    is_start = ~consonant[tokens]
    count = torch.cumsum(is_start.long(), 0)
    own = count - 1
    note = count - is_start.long()
    start_idx = torch.nonzero(is_start).flatten()
    return is_start, start_idx, own, note


def _previous_valid(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """``(G,)``: each entry, or where not ``valid`` the last valid one before it (the first valid after it
    when none is before; ``PITCH_CENTER`` when none is valid) -- ``pitch.fill_rests`` on notes, no cummax."""
    g = values.shape[0]
    ar = torch.arange(g, device=values.device)
    before = (ar[None, :] <= ar[:, None]) & valid[None, :]  # (G, G): j <= i and valid
    last = torch.where(before, ar[None, :], torch.full_like(before, -1, dtype=ar.dtype)).max(dim=1).values
    after = (ar[None, :] >= ar[:, None]) & valid[None, :]
    nxt = torch.where(after, ar[None, :], torch.full_like(after, g, dtype=ar.dtype)).min(dim=1).values
    pick = torch.where(last >= 0, last, nxt)
    padded = torch.cat([values, values.new_full((1,), PITCH_CENTER)])
    return padded[pick]


GENDER_PER_UNIT = 1.0  # our `gender` control per unit of OpenUtau's gender input (GENC -100..100 -> 1..-1)


def _slaney_mel(hz: torch.Tensor) -> torch.Tensor:
    """The Slaney mel scale of `controls.mel_center_frequencies` (librosa's default), in torch."""
    return torch.where(
        hz < 1000.0, hz * 3.0 / 200.0, 15.0 + 27.0 * torch.log(hz.clamp(min=1e-9) / 1000.0) / math.log(6.4)
    )


def formant_warp(mel: torch.Tensor, gender: torch.Tensor, config) -> torch.Tensor:
    """`controls.formant_shift` with a gender per frame: ``mel`` ``(1, n_mels, T)``, ``gender`` ``(1, T)``
    (our units: +1 = formants 3 semitones up). Band ``b`` of frame ``t`` takes the input at the frequency
    ``centre_b / factor_t``, linear in Hz between the two nearest band centres as `_warp_matrix` does, so
    a constant gender gives `formant_shift`'s result; frames with gender 0 are left exactly as they are."""
    n = config.n_mels
    # positions in float64, as `_warp_matrix` computes them
    lo_mel = float(_slaney_mel(torch.tensor(float(config.fmin), dtype=torch.float64)))
    hi_mel = float(_slaney_mel(torch.tensor(float(config.fmax), dtype=torch.float64)))
    step = (hi_mel - lo_mel) / (n + 1)
    centers = torch.from_numpy(mel_center_frequencies(config)).to(mel.device)  # float64
    factor = torch.pow(2.0, GENDER_SEMITONES * gender[0].double() / 12.0)  # (T,)
    hz = centers[:, None] / factor[None, :]  # (n, T): where each band reads from
    # the band below it: the mel scale finds it (the centres are evenly spaced in mel); then, as np.interp in
    # `_warp_matrix`, linear in Hz between the two centres, held at the ends
    lo = torch.floor((_slaney_mel(hz) - lo_mel) / step - 1.0).long().clamp(0, n - 2)
    hi = lo + 1
    frac = ((hz - centers[lo]) / (centers[hi] - centers[lo])).clamp(0.0, 1.0).float()
    warped = mel[0].gather(0, lo) * (1.0 - frac) + mel[0].gather(0, hi) * frac
    return torch.where(gender != 0, warped, mel[0])[None]


class AcousticGraph(nn.Module):
    """OpenUtau's acoustic call on our model. ``singer``: the index every frame sings as when the voice has
    one singer (no ``spk_embed`` input); with several, ``spk_embed`` ``(1, T, n_singers)`` mixes them (a
    one-hot row is exactly that singer). Inputs ``tokens``/``durations`` ``(1, N)`` int64 (model ids,
    frames), ``f0`` ``(1, T)`` Hz, ``gender`` ``(1, T)`` (OpenUtau's, -GENC/100: + raises the formants by
    `GENDER_PER_UNIT` of our gender control); returns ``(1, T, n_mels + 1)``."""

    def __init__(self, model: AcousticModel, singer: int = 0, mix_singers: bool = False):
        super().__init__()
        self.model = model.eval()
        self.fps = float(model.fps)
        self.singer = int(singer)
        self.mix_singers = mix_singers
        self.language = model.languages.index("ja") if "ja" in model.languages else 0
        for name, table in token_tables(model).items():
            self.register_buffer(name, table, persistent=False)
        if model.refiner is not None:
            gen = torch.Generator().manual_seed(0)
            noise = torch.randn(model.audio_config.n_mels, REFINER_NOISE_FRAMES, generator=gen)
            self.register_buffer("refiner_noise", noise, persistent=False)

    def forward(
        self,
        tokens: torch.Tensor,
        durations: torch.Tensor,
        f0: torch.Tensor,
        gender: torch.Tensor,
        spk_embed: torch.Tensor | None = None,
    ) -> torch.Tensor:
        m = self.model
        tok = tokens[0]
        dur = durations[0].clamp(min=0)
        n_frames = f0.shape[1]
        ends = torch.cumsum(dur, 0)
        starts = ends - dur
        t = torch.arange(n_frames, device=f0.device)
        n_ph = tok.shape[0]
        idx = (ends[None, :] <= t[:, None]).long().sum(1).clamp(max=n_ph - 1)  # (T,) phoneme of each frame
        ph_pos = (t - starts[idx]).float() / dur[idx].clamp(min=1).float()
        midi = A4_MIDI + 12.0 * torch.log2(f0[0].clamp(min=1.0) / A4_HZ)

        is_start, start_idx, own, note = _notes_of_phonemes(tok, self.consonant)
        n_groups = start_idx.shape[0]
        onehot = (idx[:, None] == torch.arange(n_ph, device=f0.device)[None, :]).float()  # (T, N)
        ph_mean = (onehot.t() @ midi[:, None])[:, 0] / dur.clamp(min=1).float()
        g_rest = self.rest[tok[start_idx]]
        g_pitch = torch.where(g_rest, torch.zeros_like(ph_mean[start_idx]), torch.round(ph_mean[start_idx]))
        g_start = starts[start_idx]
        g_end = torch.cat([g_start[1:], torch.full_like(g_start[:1], n_frames)])
        g_dur = (g_end - g_start).float() / self.fps

        # phoneme level, for the encoder: the phoneme's own note (a rest is a note of pitch 0)
        ph_note = note.clamp(min=0, max=n_groups - 1)
        ph_pitch = g_pitch[ph_note]
        ph_note_dur = g_dur[ph_note]
        # frame level: the span each frame sings in (onsets in the span before their note)
        own_of_frame = own[idx]
        in_group = own_of_frame >= 0
        g_frame = own_of_frame.clamp(min=0)
        note_pitch = torch.where(in_group, g_pitch[g_frame], torch.zeros_like(midi))
        a = g_start[g_frame].float()
        b = g_end[g_frame].float()
        tf = t.float()
        z = torch.zeros_like(midi)
        since = torch.where(in_group, ((tf - a) / self.fps).clamp(max=POSITION_HORIZON), z)
        until = torch.where(in_group, ((b - tf) / self.fps).clamp(max=POSITION_HORIZON), z)
        frac = torch.where(in_group, (tf - a) / (b - a).clamp(min=1.0), z)
        g_prev = torch.cat([g_pitch.new_zeros(1), g_pitch[:-1]])
        g_next = torch.cat([g_pitch[1:], g_pitch.new_zeros(1)])
        here = note_pitch
        before = torch.where(in_group, g_prev[g_frame], z)
        after = torch.where(in_group, g_next[g_frame], z)
        sung = here > 0
        iv_before = torch.where(sung & (before > 0), (before - here) / 12.0, z)
        iv_after = torch.where(sung & (after > 0), (after - here) / 12.0, z)
        note_ctx = torch.stack([since, until, frac, iv_before, iv_after])[None]  # (1, 5, T)

        # singer: an index, or a per-frame mix (phonemes take their frames' mean)
        if spk_embed is not None and self.mix_singers:
            w_frame = spk_embed[0]  # (T, S)
            w_ph = (onehot.t() @ w_frame) / dur.clamp(min=1).float()[:, None]
            enc_singer = (w_ph @ m.encoder.singer.weight)[None]  # (1, N, C)
            dec_singer = (w_frame @ m.decoder.singer.weight).t()[None]  # (1, C, T)
        else:
            sid = torch.full((1,), self.singer, dtype=torch.long, device=f0.device)
            enc_singer = m.encoder.singer(sid)[:, None, :]
            dec_singer = m.decoder.singer(sid)[:, :, None]

        ph_mask = torch.ones(1, n_ph, dtype=torch.bool, device=f0.device)
        h = _encode(
            m, tokens, self.consonant, ph_pitch[None], ph_note_dur[None], self.language, enc_singer, ph_mask
        )
        hf = h[:, :, idx]  # (1, C, T): the length regulator with the given durations
        mask = torch.ones(1, n_frames, dtype=torch.bool, device=f0.device)

        # voicing: the model's V/UV, forced on for voiced phonemes sung on a note (AcousticModel.infer does
        # the same), and off over SP/AP whatever it says: OpenUtau's F0 is voiced there
        base = _previous_valid(g_pitch, ~g_rest)
        base_frame = torch.where(in_group, base[g_frame], base[:1].expand_as(midi))
        vuv_logit = _pitch_vuv(m, hf, note_pitch[None], base_frame[None], note_ctx, ph_pos[None], mask)
        forced = self.voiced[tok][idx] & (ph_pitch[idx] > 0)
        vuv = ((torch.sigmoid(vuv_logit[0]) > 0.5) | forced) & ~self.rest[tok][idx]
        vuv = vuv.float()[None]
        f0_feat = f0_features(midi[None], vuv)
        energy_db, aperiodicity = m.variance(hf, f0_feat, note_ctx, mask)
        mel = _decode(m, hf, f0_feat, energy_db, aperiodicity, ph_pos[None], dec_singer, mask)
        if m.refiner is not None and m.refiner.steps > 0:
            mel = _refine(m.refiner, mel, hf, mask, self.refiner_noise)
        mel = formant_warp(
            mel, (gender * GENDER_PER_UNIT).clamp(-LIMITS["gender"][1], LIMITS["gender"][1]), m.audio_config
        )
        # SP is silence: OpenUtau pads every phrase with 80 ms of it, where the model renders its corpora's
        # room noise (~-45 dBFS); fade it out over SP_FADE_FRAMES from the nearest sung frame
        sung_frame = (~self.is_sp[tok][idx]).float()[None, None]
        near = torch.nn.functional.avg_pool1d(
            sung_frame, 2 * SP_FADE_FRAMES + 1, stride=1, padding=SP_FADE_FRAMES, count_include_pad=False
        )[:, 0]
        quiet = SP_ATTENUATION_DB * DB_TO_LOG * (1.0 - near) * (1.0 - sung_frame[:, 0])
        mel = (mel - quiet[:, None, :]).clamp(min=LOG_MEL_FLOOR)
        return torch.cat([mel, vuv[:, None, :]], dim=1).transpose(1, 2)


def _encode(model, ph_ids, consonant, ph_pitch, ph_note_dur, language, singer_vec, ph_mask):
    """`PhonemeEncoder.forward` with the singer given as a vector (mixable) and roles from the tokens."""
    enc = model.encoder
    role = torch.where(consonant[ph_ids], ROLE_IDS[ONSET], ROLE_IDS[NUCLEUS])
    rest = (ph_pitch <= 0).float()
    pitch = torch.where(rest > 0, torch.zeros_like(ph_pitch), (ph_pitch - PITCH_CENTER) / 12.0)
    note = torch.stack([pitch, rest, torch.log(ph_note_dur.clamp(min=0.0) + 0.05)], dim=-1)
    x = (
        enc.phoneme(ph_ids)
        + enc.role(role)
        + enc.slur(torch.zeros_like(ph_ids))
        + enc.language(torch.full_like(ph_ids, language))
        + singer_vec
        + enc.note(note)
    )
    x = x.transpose(1, 2) + sinusoidal(x.shape[1], enc.channels, x.device)[None] * 0.1
    for block in enc.blocks:
        x = _fft_block(block, x)
    return x


def _fft_block(block, x: torch.Tensor) -> torch.Tensor:
    """`FFTBlock.forward` for one unpadded phrase, attention written out: the traced
    ``nn.MultiheadAttention`` keeps the tracing phrase's length in a reshape. ``(1, C, N)``."""
    import torch.nn.functional as F

    attn = block.attn
    heads = attn.num_heads
    c = x.shape[1]
    h = block.norm1(x.transpose(1, 2))  # (1, N, C)
    qkv = F.linear(h, attn.in_proj_weight, attn.in_proj_bias)
    q, k, v = qkv.chunk(3, dim=-1)

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(1, -1, heads, c // heads).transpose(1, 2)  # (1, heads, N, d)

    q, k, v = split(q), split(k), split(v)
    w = torch.softmax(q @ k.transpose(2, 3) / float(c // heads) ** 0.5, dim=-1)
    a = (w @ v).transpose(1, 2).reshape(1, -1, c)
    a = attn.out_proj(a)
    x = x + a.transpose(1, 2)
    h = block.norm2(x.transpose(1, 2)).transpose(1, 2)
    h = block.conv2(F.gelu(block.conv1(h)))
    return x + h


def _pitch_vuv(model, hf, note_pitch, base, note_ctx, ph_pos, mask):
    """The V/UV logit of `PitchPredictor.forward` (its other outputs are OpenUtau's to give), ``(1, T)``."""
    p = model.pitch
    rest = (note_pitch <= 0).to(hf.dtype)
    features = torch.cat(
        [((base - PITCH_CENTER) / 12.0)[:, None], rest[:, None], note_ctx, ph_pos[:, None]], dim=1
    )
    x = p.stack(p.inp(hf) + p.note(features), mask)
    return p.out(x)[:, 1]


def _decode(model, hf, f0, energy_db, aperiodicity, ph_pos, singer_cond, mask):
    """`MelDecoder.forward` with the singer given as a ``(1, C, 1 or T)`` conditioning (mixable)."""
    from vocalsynth.models.acoustic.variance import energy_features

    d = model.decoder
    cond = torch.cat([f0, energy_features(energy_db), aperiodicity * 2 - 1, ph_pos[:, None]], dim=1)
    x = d.inp(hf) + d.cond(cond)
    x = d.stack(x, mask, singer_cond)
    return d.out(x) + energy_db[:, None, :] * DB_TO_LOG


def _refine(refiner, coarse, hf, mask, table):
    """`MelRefiner.sample` with its start noise from a fixed table (the graph has no random generator)."""
    n = coarse.shape[-1]
    idx = torch.arange(n, device=coarse.device) % table.shape[1]
    x = coarse + refiner.sigma * table[:, idx][None]
    steps = refiner.steps
    dt = 1.0 / steps
    for k in range(steps):
        t = torch.full((1,), k * dt, device=coarse.device)
        x = x + dt * refiner.velocity(x, coarse, hf, t, mask)
    return x


class LinguisticGraph(nn.Module):
    """dsdur's first graph: ``tokens`` ``(1, n)``, ``word_div``/``word_dur`` ``(1, W)`` -> ``encoder_out``
    ``(1, n, 2)`` (token id and the seconds of the phoneme's own note: its word's length, or for an onset
    consonant the next word's) and ``x_masks`` ``(1, n)``. The encoder itself runs in :class:`DurationGraph`,
    which also needs the notes' keys."""

    def __init__(self, model: AcousticModel):
        super().__init__()
        self.fps = float(model.fps)
        self.register_buffer("consonant", token_tables(model)["consonant"], persistent=False)

    def forward(self, tokens: torch.Tensor, word_div: torch.Tensor, word_dur: torch.Tensor):
        tok = tokens[0]
        n = tok.shape[0]
        ends = torch.cumsum(word_div[0], 0)
        k = torch.arange(n, device=tok.device)
        word = (ends[None, :] <= k[:, None]).long().sum(1)  # (n,) the word of each phoneme
        n_words = word_div.shape[1]
        own_note = (word + self.consonant[tok].long()).clamp(max=n_words - 1)
        note_dur = word_dur[0][own_note].float() / self.fps
        encoder_out = torch.stack([tok.float(), note_dur], dim=-1)[None]
        return encoder_out, torch.ones_like(tokens, dtype=torch.bool)


class DurationGraph(nn.Module):
    """dsdur's second graph: ``encoder_out`` (from :class:`LinguisticGraph`), ``x_masks``, ``ph_midi``
    ``(1, n)`` (OpenUtau gives an onset consonant the key of the note before it; the graph takes the next
    note's, as our model learned), optional ``spk_embed`` ``(1, n, n_singers)`` -> ``ph_dur_pred`` ``(1, n)``
    frames (relative lengths; OpenUtau fits them between the notes)."""

    def __init__(self, model: AcousticModel, singer: int = 0, mix_singers: bool = False):
        super().__init__()
        self.model = model.eval()
        self.singer = int(singer)
        self.mix_singers = mix_singers
        self.language = model.languages.index("ja") if "ja" in model.languages else 0
        tables = token_tables(model)
        self.register_buffer("consonant", tables["consonant"], persistent=False)
        self.register_buffer("rest", tables["rest"], persistent=False)

    def forward(
        self,
        encoder_out: torch.Tensor,
        x_masks: torch.Tensor,
        ph_midi: torch.Tensor,
        spk_embed: torch.Tensor | None = None,
    ) -> torch.Tensor:
        m = self.model
        tokens = torch.round(encoder_out[:, :, 0]).long()
        note_dur = encoder_out[:, :, 1]
        tok = tokens[0]
        is_start, start_idx, _own, note = _notes_of_phonemes(tok, self.consonant)
        n_groups = start_idx.shape[0]
        key = ph_midi[0].float()[start_idx]  # the key at each note's first phoneme
        key = torch.where(self.rest[tok[start_idx]], torch.zeros_like(key), key)
        ph_pitch = key[note.clamp(min=0, max=n_groups - 1)][None]
        if spk_embed is not None and self.mix_singers:
            singer_vec = spk_embed @ m.encoder.singer.weight
        else:
            sid = torch.full((1,), self.singer, dtype=torch.long, device=tokens.device)
            singer_vec = m.encoder.singer(sid)[:, None, :]
        mask = x_masks.bool()
        h = _encode(m, tokens, self.consonant, ph_pitch, note_dur, self.language, singer_vec, mask)
        # `predicted_frames` with exp - 1 for expm1, which has no ONNX form (same to float rounding)
        return (torch.exp(m.duration(h, mask)) - 1.0).clamp(min=0.5)
