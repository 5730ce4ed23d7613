"""OpenUtau's side of an exported voicebank, replayed in Python with onnxruntime: its config checks, the
tensors its DIFFS JA phonemizer and DiffSinger renderer build for a phrase of notes, its exact input-name
check, and the render (acoustic -> vocoder at 44.1 kHz). Tests and ``vocalsynth bench --openutau`` use it to
check a voicebank without OpenUtau; it follows the C# code cited in ``OPENUTAU_NOTES.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from vocalsynth.export.ja_dict import OPENUTAU_ROMAJI

HEAD_FRAMES = TAIL_FRAMES = 8  # OpenUtau pads every phrase with 8 SP frames each side
STEPS = 20  # OpenUtau's default DiffSinger steps
LEADING_MS = 500.0  # the phonemizer's first group starts this long before the first note
SPEC_KEYS = (
    "sample_rate",
    "hop_size",
    "win_size",
    "fft_size",
    "num_mel_bins",
    "mel_fmin",
    "mel_fmax",
    "mel_scale",
)
_KANA_TO_ROMAJI = {kana: romaji for romaji, kana in OPENUTAU_ROMAJI.items()}
_KANA_TO_ROMAJI.setdefault("を", "o")
_KANA_TO_ROMAJI.setdefault("ぢ", "ji")
_KANA_TO_ROMAJI.setdefault("づ", "zu")


class VoicebankError(ValueError):
    """What OpenUtau would refuse: a config mismatch, a missing file, a missing or unexpected input."""


@dataclass
class Note:
    """One note as OpenUtau holds it: a kana lyric, a MIDI key, start and length in ms."""

    lyric: str
    key: int
    start_ms: float
    length_ms: float


@dataclass
class Phone:
    symbol: str
    start_ms: float
    note: int  # index of the note the phoneme belongs to (its syllable's)


@dataclass
class Render:
    """One phrase rendered the way OpenUtau renders it."""

    phones: list[Phone]
    feeds: dict[str, np.ndarray]  # the acoustic model's inputs
    mel: np.ndarray  # (1, T, bins)
    waveform: np.ndarray  # (n,) at sample_rate
    sample_rate: int
    frame_ms: float
    dur_feeds: dict[str, np.ndarray]
    ph_dur_pred: np.ndarray


def kana_to_romaji(lyric: str) -> str:
    """csharp-kana's conversion for one syllable (two-character kana first)."""
    if lyric in _KANA_TO_ROMAJI:
        return _KANA_TO_ROMAJI[lyric]
    if lyric[:2] in _KANA_TO_ROMAJI and len(lyric) == 2:
        return _KANA_TO_ROMAJI[lyric[:2]]
    return lyric


def frames_from_ms(ms: list[float], frame_ms: float) -> list[int]:
    """`DiffSingerUtils.DurationsMsToFrames`: cumulative ms -> ``round(cum / frameMs + 0.5)`` (to even), then
    differences."""
    out, prev, cum = [], 0, 0.0
    for d in ms:
        cum += d
        edge = int(round(cum / frame_ms + 0.5))  # Python rounds half to even, as Math.Round
        out.append(edge - prev)
        prev = edge
    return out


def verify_inputs(session, feeds: dict, what: str) -> None:
    """`Onnx.VerifyInputNames`: the feed's names must be exactly the graph's inputs."""
    names = {i.name for i in session.get_inputs()}
    missing = sorted(names - set(feeds))
    unexpected = sorted(set(feeds) - names)
    if missing:
        raise VoicebankError(f"{what}: Missing input(s): {missing}")
    if unexpected:
        raise VoicebankError(f"{what}: Unexpected input(s): {unexpected}")


class Voicebank:
    """An exported voicebank folder loaded the way OpenUtau loads it (CPU sessions from bytes)."""

    def __init__(self, folder: str | Path, threads: int | None = None):
        import onnxruntime as ort

        self.root = Path(folder)
        self.config = _yaml(self.root / "dsconfig.yaml")
        self.vocoder_config = _yaml(self.root / "dsvocoder" / "vocoder.yaml")
        self.dur_config = _yaml(self.root / "dsdur" / "dsconfig.yaml")
        self.character = _yaml(self.root / "character.yaml")
        if not (self.root / "character.txt").is_file():
            raise VoicebankError("character.txt is missing: OpenUtau finds singers by it")
        for key in ("acoustic", "vocoder", "phonemes"):
            if not self.config.get(key):
                raise VoicebankError(f"dsconfig.yaml: {key!r} must be set")
        if self.config.get("mel_base") not in ("10", "e") or self.config.get("mel_scale") not in (
            "slaney",
            "htk",
        ):
            raise VoicebankError("dsconfig.yaml: mel_base must be 10 or e, mel_scale slaney or htk")
        for key in SPEC_KEYS:
            a, b = self.config.get(key), self.vocoder_config.get(key)
            if a != b:
                raise VoicebankError(f"{key} differs: dsconfig.yaml {a!r}, vocoder.yaml {b!r}")
        self.sample_rate = int(self.config["sample_rate"])
        self.frame_ms = float(np.float32(1000.0 * int(self.config["hop_size"]) / self.sample_rate))
        self.tokens = _phonemes(self.root / self.config["phonemes"])
        self.dur_tokens = _phonemes(self.root / "dsdur" / self.dur_config["phonemes"])
        self.dictionary = _dsdict(self.root / "dsdur")
        self.speakers = self.config.get("speakers")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1

        def session(path: Path):
            return ort.InferenceSession(path.read_bytes(), options, providers=["CPUExecutionProvider"])

        self.acoustic = session(self.root / self.config["acoustic"])
        self.vocoder = session(self.root / "dsvocoder" / self.vocoder_config["model"])
        self.linguistic = session(self.root / "dsdur" / self.dur_config["linguistic"])
        self.dur = session(self.root / "dsdur" / self.dur_config["dur"])

    # --- the phonemizer ----------------------------------------------------------------------------------

    def phonemes_of(self, lyric: str) -> list[str]:
        """Dictionary lookup of a kana lyric (as typed, then lower case), each symbol checked."""
        romaji = kana_to_romaji(lyric)
        entry = self.dictionary["entries"].get(romaji) or self.dictionary["entries"].get(romaji.lower())
        if entry is None:
            raise VoicebankError(f"lyric {lyric!r} ({romaji!r}): not in dsdict")
        for s in entry:
            if s not in self.dictionary["symbols"] or s not in self.dur_tokens:
                raise VoicebankError(f"Unrecognized phoneme {s!r} in lyric {lyric!r}")
        return entry

    def phonemize(self, notes: list[Note]) -> tuple[list[Phone], dict[str, np.ndarray], np.ndarray]:
        """Phonemes with start times for touching ``notes``, as `DiffSingerBasePhonemizer` places them:
        the first vowel on the note, consonants before it, lengths from ``dsdur``."""
        fm = self.frame_ms
        words = [self.phonemes_of(n.lyric) for n in notes]
        vowels = self.dictionary["vowels"]
        firsts = [next((i for i, s in enumerate(w) if s in vowels), len(w)) for w in words]
        # groups: [SP + leading consonants of word 0], then each word's vowel part + the next's consonants
        groups = [["SP"] + words[0][: firsts[0]]]
        group_notes = [0]
        for k, w in enumerate(words):
            tail = words[k + 1][: firsts[k + 1]] if k + 1 < len(words) else []
            groups.append(w[firsts[k] :] + tail)
            group_notes.append(k)
        starts = (
            [notes[0].start_ms - LEADING_MS]
            + [n.start_ms for n in notes]
            + [notes[-1].start_ms + notes[-1].length_ms]
        )
        word_dur = [int(b / fm) - int(a / fm) for a, b in zip(starts[:-1], starts[1:], strict=True)]
        tokens = [self.dur_tokens[s] for g in groups for s in g]
        ph_midi = [notes[group_notes[g]].key for g, grp in enumerate(groups) for _ in grp]
        feeds = {
            "tokens": np.array([tokens], np.int64),
            "word_div": np.array([[len(g) for g in groups]], np.int64),
            "word_dur": np.array([word_dur], np.int64),
        }
        verify_inputs(self.linguistic, feeds, "linguistic")
        names = [o.name for o in self.linguistic.get_outputs()]
        outs = dict(zip(names, self.linguistic.run(None, feeds), strict=True))
        dfeeds = {
            "encoder_out": outs["encoder_out"],
            "x_masks": outs["x_masks"],
            "ph_midi": np.array([ph_midi], np.int64),
        }
        if self.dur_config.get("speakers"):
            hidden = int(self.dur_config["hidden_size"])
            spk = np.zeros((1, len(tokens), hidden), np.float32)
            spk[:, :, 0] = 1.0  # every phoneme on the default subbank: speakers[0]
            dfeeds["spk_embed"] = spk
        verify_inputs(self.dur, dfeeds, "dur")
        pred = self.dur.run(None, dfeeds)[0][0]
        # place: leading consonants keep their predicted length; each vowel-to-vowel span is rescaled
        phones: list[Phone] = []
        lead = groups[0][1:]
        lead_pred = pred[1 : 1 + len(lead)]
        t = notes[0].start_ms - float(np.sum(lead_pred)) * fm
        for s, p in zip(lead, lead_pred, strict=True):
            phones.append(Phone(s, t, 0))
            t += float(p) * fm
        pos = 1 + len(lead)
        for k in range(len(notes)):
            grp = groups[k + 1]
            span_pred = pred[pos : pos + len(grp)]
            end = starts[k + 2]
            scale = (end - notes[k].start_ms) / max(float(np.sum(span_pred)), 1e-6)
            t = notes[k].start_ms
            n_own = len(words[k]) - firsts[k]
            for j, (s, p) in enumerate(zip(grp, span_pred, strict=True)):
                phones.append(Phone(s, t, k if j < n_own else k + 1))
                t += float(p) * scale
            pos += len(grp)
        return phones, {**feeds, **dfeeds}, pred

    # --- the renderer ------------------------------------------------------------------------------------

    def acoustic_feeds(
        self, phones: list[Phone], notes: list[Note], genc: float = 0.0
    ) -> dict[str, np.ndarray]:
        """The acoustic model's feed; ``genc``: OpenUtau's gender curve value (-100..100, + = formants down)."""
        fm = self.frame_ms
        end_ms = notes[-1].start_ms + notes[-1].length_ms
        names = ["SP"] + [p.symbol for p in phones] + ["SP"]
        ph_ms = [b.start_ms - a.start_ms for a, b in zip(phones, phones[1:], strict=False)] + [
            end_ms - phones[-1].start_ms
        ]
        durations = frames_from_ms([HEAD_FRAMES * fm, *ph_ms, TAIL_FRAMES * fm], fm)
        n_frames = sum(durations)
        t0 = phones[0].start_ms - HEAD_FRAMES * fm
        times = t0 + fm * np.arange(n_frames)
        f0 = np.empty(n_frames, np.float32)
        for j, t in enumerate(times):  # the note under each frame, held flat into the padding
            k = max([i for i, n in enumerate(notes) if n.start_ms <= t] or [0])
            f0[j] = 440.0 * 2 ** ((notes[k].key - 69) / 12)
        feeds = {
            "tokens": np.array([[self.tokens[s] for s in names]], np.int64),
            "durations": np.array([durations], np.int64),
            "f0": f0[None],
        }
        if self.config.get("use_key_shift_embed"):
            lo, hi = self.config["augmentation_args"]["random_pitch_shifting"]["range"]
            g = -genc * 12 / hi / 100 if genc < 0 else -genc * (-12 / lo) / 100
            feeds["gender"] = np.full((1, n_frames), g, np.float32)
        if self.config.get("use_continuous_acceleration"):
            feeds["steps"] = np.array([STEPS], np.int64)
        else:
            feeds["speedup"] = np.array([50], np.int64)
        if self.speakers:
            spk = np.zeros((1, n_frames, int(self.config["hidden_size"])), np.float32)
            for j, name in enumerate(self.speakers):
                emb = np.fromfile(self.root / f"{name}.emb", dtype="<f4")
                if j == 0:
                    spk[0] += emb  # OpenUtau: the default speaker's embedding on every frame
            feeds["spk_embed"] = spk
        return feeds

    def render(self, notes: list[Note], genc: float = 0.0) -> Render:
        phones, dur_feeds, pred = self.phonemize(notes)
        feeds = self.acoustic_feeds(phones, notes, genc)
        verify_inputs(self.acoustic, feeds, "acoustic")
        mel = self.acoustic.run(None, feeds)[0]
        wav = self.vocoder.run(None, {"mel": mel, "f0": feeds["f0"]})[0]
        if wav.ndim != 2 or wav.shape[0] != 1:
            raise VoicebankError(f"vocoder output must be (1, n), got {wav.shape}")
        return Render(phones, feeds, mel, wav[0], self.sample_rate, self.frame_ms, dur_feeds, pred)


def _yaml(path: Path) -> dict:
    if not path.is_file():
        raise VoicebankError(f"{path} is missing")
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def _phonemes(path: Path) -> dict[str, int]:
    if path.suffix == ".json":
        return json.loads(path.read_text(encoding="utf-8"))
    return {line.strip(): i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines())}


def _dsdict(folder: Path) -> dict:
    path = folder / "dsdict-ja.yaml"
    if not path.is_file():
        path = folder / "dsdict.yaml"
    data = _yaml(path)
    symbols = {s["symbol"]: s["type"] for s in data["symbols"]}
    symbols.setdefault("SP", "vowel")
    symbols.setdefault("AP", "vowel")
    return {
        "symbols": symbols,
        "vowels": {s for s, t in symbols.items() if t == "vowel"},
        "entries": {e["grapheme"]: list(e["phonemes"]) for e in data["entries"]},
    }


def semitones(hz: np.ndarray) -> np.ndarray:
    return 69 + 12 * np.log2(np.maximum(hz, 1e-9) / 440.0)


__all__ = ["Note", "Render", "Voicebank", "VoicebankError", "frames_from_ms", "kana_to_romaji", "semitones"]
