"""`export_openutau`: a voice folder -> an OpenUtau DiffSinger-style voicebank folder.

Layout and every key follow what OpenUtau reads (the project's OPENUTAU_NOTES.md cites its source):
``character.txt``/``character.yaml``, ``dsconfig.yaml``, ``acoustic.onnx``, ``phonemes.json``, one ``.emb``
per singer for multi-singer voices, ``dsvocoder/`` (vocoder at 44.1 kHz, hop 441 = our 10 ms frame) and
``dsdur/`` (linguistic + duration graphs, ``dsdict-ja.yaml``). Each graph is checked against the torch
module it was traced from (onnxruntime vs PyTorch) before the folder is moved into place.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml

from vocalsynth.errors import InputError
from vocalsynth.export.graphs import AcousticGraph, DurationGraph, LinguisticGraph
from vocalsynth.export.ja_dict import bare, dictionary
from vocalsynth.export.vocoder_graph import OUT_RATE, VocoderGraph

OPSET = 17
PHONEMIZER = "OpenUtau.Core.DiffSinger.DiffSingerJapanesePhonemizer"
# OpenUtau always sends it (use_continuous_acceleration: true); our single-pass model ignores it
STEPS_INPUT = "steps"
TONES = "C1-B7"  # subbank tone range: every key OpenUtau offers a voice colour for
AI_NOTE = (
    "AI voice: audio made with this voicebank is synthesized by a neural network trained on recordings of "
    "real singers (see the licence). Label what you publish as AI-generated."
)


class ExportError(InputError):
    """A voice that can't be exported, or an output folder that is in the way."""


@dataclass
class ExportResult:
    """What :func:`export_openutau` wrote and how closely the ONNX graphs follow PyTorch (max abs diff)."""

    folder: Path
    voice: str
    speakers: list[str]
    checks: dict[str, float] = field(default_factory=dict)
    missing_graphemes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"wrote {self.folder} (voice {self.voice!r}, OpenUtau DiffSinger voicebank)"]
        if self.speakers:
            lines.append(f"singers (subbanks): {', '.join(self.speakers)}")
        lines.extend(f"check {k}: max |onnx - torch| = {v:.3g}" for k, v in self.checks.items())
        if self.missing_graphemes:
            lines.append(
                f"romaji this voice can't sing (left out of dsdict): {', '.join(self.missing_graphemes)}"
            )
        return "\n".join(lines)


def export_openutau(
    voice: str | os.PathLike = "default", output: str | os.PathLike = "openutau", *, overwrite: bool = False
) -> ExportResult:
    """Write ``voice`` (an installed name or a voice folder) as an OpenUtau voicebank folder ``output``.

    The folder is built beside ``output`` and renamed into place only once every graph passed its check,
    so a failed export leaves nothing half-written. An existing non-empty ``output`` is refused unless
    ``overwrite``. Raises `ExportError` (or `VoiceError` for a voice that doesn't load).
    """
    from vocalsynth.models.acoustic.model import AcousticModel
    from vocalsynth.models.vocoder import Vocoder
    from vocalsynth.models.vocoder.generator import SourceFilterVocoder
    from vocalsynth.voices import load_voice, resolve_voice

    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as e:
        raise ExportError(f"needs the openutau extra (pip install 'vocalsynth[openutau]'): {e}") from None
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise ExportError("is a file, not a folder", source=str(out))
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ExportError("exists and is not empty (pass overwrite to replace it)", source=str(out))
    folder = resolve_voice(voice)
    loaded = load_voice(folder)
    card = loaded.card
    acoustic = AcousticModel.load(loaded.acoustic_dir)
    vocoder = Vocoder.from_pretrained(loaded.vocoder_dir)
    if not isinstance(vocoder, SourceFilterVocoder):
        raise ExportError(
            f"only the neural source-filter vocoder exports, this voice has {vocoder.kind!r}",
            source=str(folder),
        )
    # OpenUtau's DIFFS JA phonemizer hands over Japanese phonemes and pads every phrase with SP
    needed = ["SP", *(f"ja/{p}" for p in ("a", "i", "u", "e", "o", "k", "s", "r"))]
    missing = [p for p in needed if p not in acoustic.phoneme_ids]
    if missing:
        raise ExportError(
            f"OpenUtau's Japanese DiffSinger phonemizer needs a voice that sings Japanese; this one lacks "
            f"{', '.join(missing)}",
            source=str(folder),
        )
    cfg = acoustic.audio_config
    if cfg.hop_length * OUT_RATE % cfg.sample_rate:
        raise ExportError(
            f"a frame of {cfg.hop_length} samples at {cfg.sample_rate} Hz is not whole at {OUT_RATE} Hz",
            source=str(folder),
        )
    singers = list(acoustic.singers)
    default = card.default_singer if card.default_singer in singers else singers[0]
    multi = len(singers) > 1
    # OpenUtau's default speaker is speakers[0] (and any phoneme whose subbank suffix names no speaker)
    speakers = [default] + [s for s in singers if s != default] if multi else []

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it 0700; the voicebank is shared like any folder
    try:
        result = _write(tmp, card, acoustic, vocoder, singers, speakers, default)
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result.folder = out
    result.voice = card.name
    return result


def _write(root: Path, card, acoustic, vocoder, singers, speakers, default) -> ExportResult:
    cfg = acoustic.audio_config
    hop_out = cfg.hop_length * OUT_RATE // cfg.sample_rate
    multi = bool(speakers)
    singer_index = singers.index(default)
    order = [singers.index(s) for s in speakers]  # speakers[j] is model singer order[j]
    (root / "dsvocoder").mkdir()
    (root / "dsdur").mkdir()

    # phoneme table: OpenUtau's names -> our model's ids (0 = padding, as DiffSinger's <PAD>)
    table = {"<PAD>": 0}
    for symbol, i in acoustic.phoneme_ids.items():
        table.setdefault(bare(symbol), i)
        table.setdefault(symbol, i)
    _write_json(root / "phonemes.json", table)
    _write_json(root / "dsdur" / "phonemes.json", table)
    dsdict, missing = dictionary(acoustic.phonemes)
    _write_yaml(root / "dsdur" / "dsdict-ja.yaml", dsdict)

    checks: dict[str, float] = {}
    # traced on one phrase, checked on it and on a longer one: a length baked into the trace shows there
    probes = [_probe_phrase(acoustic, len(speakers), r) for r in (1, 3)]
    graph = AcousticGraph(acoustic, singer=singer_index, mix_singers=multi)
    if multi:
        graph = _SpeakerOrder(graph, order)
    names = ["tokens", "durations", "f0", "gender"] + (["spk_embed"] if multi else [])
    axes = {
        "tokens": {1: "n_tokens"},
        "durations": {1: "n_tokens"},
        "f0": {1: "n_frames"},
        "gender": {1: "n_frames"},
        "mel": {1: "n_frames"},
    }
    if multi:
        axes["spk_embed"] = {1: "n_frames"}
    inputs = [tuple(p[n] for n in names) for p in probes]
    checks["acoustic mel"] = _export(
        graph, inputs, names, ["mel"], axes, root / "acoustic.onnx", [STEPS_INPUT]
    )
    with torch.no_grad():
        mels = [graph(*i) for i in inputs]
    checks["vocoder waveform"] = _export(
        VocoderGraph(vocoder),
        [(m, p["f0"]) for m, p in zip(mels, probes, strict=True)],
        ["mel", "f0"],
        ["waveform"],
        {"mel": {1: "n_frames"}, "f0": {1: "n_frames"}, "waveform": {1: "n_samples"}},
        root / "dsvocoder" / "vocoder.onnx",
    )
    ling = LinguisticGraph(acoustic)
    words = [_probe_words(acoustic, r) for r in (1, 3)]
    checks["linguistic encoder_out"] = _export(
        ling,
        [(w["tokens"], w["word_div"], w["word_dur"]) for w in words],
        ["tokens", "word_div", "word_dur"],
        ["encoder_out", "x_masks"],
        {
            "tokens": {1: "n_tokens"},
            "word_div": {1: "n_words"},
            "word_dur": {1: "n_words"},
            "encoder_out": {1: "n_tokens"},
            "x_masks": {1: "n_tokens"},
        },
        root / "dsdur" / "linguistic.onnx",
    )
    dur = DurationGraph(acoustic, singer=singer_index, mix_singers=multi)
    if multi:
        dur = _SpeakerOrder(dur, order)
    dnames = ["encoder_out", "x_masks", "ph_midi"] + (["spk_embed"] if multi else [])
    dinputs = []
    for w in words:
        with torch.no_grad():
            enc, masks = ling(w["tokens"], w["word_div"], w["word_dur"])
        extra = (_one_hot(enc.shape[1], len(speakers)),) if multi else ()
        dinputs.append((enc, masks, w["ph_midi"], *extra))
    daxes = {
        "encoder_out": {1: "n_tokens"},
        "x_masks": {1: "n_tokens"},
        "ph_midi": {1: "n_tokens"},
        "ph_dur_pred": {1: "n_tokens"},
    }
    if multi:
        daxes["spk_embed"] = {1: "n_tokens"}
    checks["duration ph_dur_pred"] = _export(
        dur, dinputs, dnames, ["ph_dur_pred"], daxes, root / "dsdur" / "dur.onnx"
    )

    for j, name in enumerate(speakers):  # one-hot rows: the graph mixes our singer tables by these weights
        emb = np.zeros(len(speakers), dtype="<f4")
        emb[j] = 1.0
        for where in (root, root / "dsdur"):
            (where / f"{name}.emb").write_bytes(emb.tobytes())

    spec = {
        "sample_rate": OUT_RATE,
        "hop_size": hop_out,
        # only compared with the vocoder's; our analysis window and FFT (at 24 kHz) for the record
        "win_size": cfg.win_length,
        "fft_size": cfg.n_fft,
        # our 80 log-mel bands plus one row of voicing that the bundled vocoder reads
        "num_mel_bins": cfg.n_mels + 1,
        "mel_fmin": cfg.fmin,
        "mel_fmax": cfg.fmax,
        "mel_base": "e",
        "mel_scale": "slaney",
    }
    ds = {
        "phonemes": "phonemes.json",
        "acoustic": "acoustic.onnx",
        "vocoder": "dsvocoder",
        "use_continuous_acceleration": True,
        "use_variable_depth": False,
        # OpenUtau's gender (GENC) curve -> `gender` = -GENC/100 with this range; see graphs.GENDER_PER_UNIT
        "use_key_shift_embed": True,
        "augmentation_args": {"random_pitch_shifting": {"range": [-12.0, 12.0]}},
        "use_speed_embed": False,
        "use_energy_embed": False,
        "use_breathiness_embed": False,
        "use_voicing_embed": False,
        "use_tension_embed": False,
        "use_lang_id": False,
        **({"speakers": speakers, "hidden_size": len(speakers)} if multi else {}),
        **spec,
    }
    _write_yaml(root / "dsconfig.yaml", ds)
    _write_yaml(
        root / "dsvocoder" / "vocoder.yaml",
        {"name": f"vocalsynth-{card.name}", "model": "vocoder.onnx", "pitch_controllable": False, **spec},
    )
    _write_yaml(
        root / "dsdur" / "dsconfig.yaml",
        {
            "phonemes": "phonemes.json",
            "linguistic": "linguistic.onnx",
            "dur": "dur.onnx",
            "use_lang_id": False,
            "sample_rate": OUT_RATE,
            "hop_size": hop_out,
            **({"speakers": speakers, "hidden_size": len(speakers)} if multi else {}),
        },
    )
    _write_character(root, card, speakers, default)
    return ExportResult(
        folder=root, voice=card.name, speakers=speakers, checks=checks, missing_graphemes=missing
    )


class _SpeakerOrder(torch.nn.Module):
    """Reorders ``spk_embed`` columns from OpenUtau's speaker order (default first) to the model's."""

    def __init__(self, graph: torch.nn.Module, order: list[int]):
        super().__init__()
        self.graph = graph
        inverse = [0] * len(order)
        for j, i in enumerate(order):
            inverse[i] = j
        self.register_buffer("inverse", torch.tensor(inverse), persistent=False)

    def forward(self, *args):
        *rest, spk = args
        return self.graph(*rest, spk[:, :, self.inverse])


def _one_hot(n: int, size: int, index: int = 0) -> torch.Tensor:
    w = torch.zeros(1, n, size)
    w[:, :, index] = 1.0
    return w


def _probe_phrase(model, n_speakers: int, repeat: int = 1) -> dict[str, torch.Tensor]:
    """A phrase shaped like OpenUtau's feed (SP + さくら x ``repeat`` + SP, rising notes)."""
    names = ["SP"] + ["ja/s", "ja/a", "ja/k", "ja/u", "ja/r", "ja/a"] * repeat + ["SP"]
    durations = [8] + [6, 46, 4, 46, 4, 50] * repeat + [8]
    notes = [np.full(46, 196.0), np.full(50, 220.0), np.full(54, 246.94)] * repeat
    f0 = np.concatenate([np.full(14, 196.0), *notes, np.full(8, 246.94)]).astype(np.float32)
    out = {
        "tokens": torch.tensor([[model.phoneme_ids[s] for s in names]]),
        "durations": torch.tensor([durations]),
        "f0": torch.from_numpy(f0)[None],
        # OpenUtau's gender curve: flat 0 on the tracing phrase, a sweep on the longer check phrase
        "gender": torch.zeros(1, len(f0)) if repeat == 1 else torch.linspace(-1.0, 1.0, len(f0))[None],
    }
    if n_speakers:
        out["spk_embed"] = _one_hot(len(f0), n_speakers)
    return out


def _probe_words(model, repeat: int = 1) -> dict[str, torch.Tensor]:
    """dsdur's feed for the same phrase: groups [SP s | a k | u r | a ...]."""
    names = ["SP", "ja/s"] + ["ja/a", "ja/k", "ja/u", "ja/r", "ja/a", "ja/s"] * repeat
    names = names[:-1]
    n_words = 1 + 3 * repeat
    keys = [55, 57, 59] * repeat
    midi = [keys[0], keys[0]] + [k for j, k in enumerate(keys) for _ in range(2 if j < len(keys) - 1 else 1)]
    return {
        "tokens": torch.tensor([[model.phoneme_ids[s] for s in names]]),
        "word_div": torch.tensor([[2] * (n_words - 1) + [1]]),
        "word_dur": torch.tensor([[50] * n_words]),
        "ph_midi": torch.tensor([midi]),
    }


def _export(module, input_sets, input_names, output_names, axes, path: Path, extra_inputs=()) -> float:
    """Trace ``module`` on ``input_sets[0]`` to a single-file ONNX at ``path`` (opset 17), declare
    ``extra_inputs`` (int64 [1], unused), and return the largest |onnxruntime - torch| of the first output
    over all ``input_sets``."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    module = module.eval()
    _trace(module, input_sets[0], input_names, output_names, axes, path)
    proto = onnx.load(str(path))
    declared = [i.name for i in proto.graph.input]
    lost = [n for n in input_names if n not in declared]
    if lost:
        raise ExportError(f"the traced graph dropped input(s) {lost}: it does not use them", source=str(path))
    for name in extra_inputs:
        proto.graph.input.append(helper.make_tensor_value_info(name, TensorProto.INT64, [1]))
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))  # one file: our graphs are far below the 2 GB external-data limit
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for inputs in input_sets:
        with torch.no_grad():
            expected = module(*inputs)
        first = expected[0] if isinstance(expected, tuple) else expected
        feeds = {n: t.numpy() for n, t in zip(input_names, inputs, strict=True)}
        feeds.update({n: np.array([20], np.int64) for n in extra_inputs})
        try:
            got = sess.run(None, feeds)[0]
        except Exception as e:  # onnxruntime's own error types
            raise ExportError(
                f"the graph fails on a phrase it was not traced on: {e}", source=str(path)
            ) from e
        if got.shape != tuple(first.shape):
            raise ExportError(f"output shape {got.shape}, PyTorch {tuple(first.shape)}", source=str(path))
        worst = max(worst, float(np.abs(got.astype(np.float64) - first.numpy().astype(np.float64)).max()))
    return worst


def _trace(module, inputs, input_names, output_names, axes, path: Path) -> None:
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer warnings
        torch.onnx.export(
            module,
            inputs,
            str(path),
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


def _write_character(root: Path, card, speakers: list[str], default: str) -> None:
    """character.txt/.yaml, readme.txt and LICENSE.txt. OpenUtau keeps the character.txt lines it doesn't
    read as fields as the singer's info (``OtherInfo``, Classic/VoicebankLoader.cs), so the licence,
    consent and AI note go there too; no line may start with a field name (name, voice, author, ...)."""
    licence = " ".join(card.licence.split())
    consent = " ".join(card.consent.split())
    corpora = ", ".join(str(t.get("corpus", "")) for t in card.training_data if isinstance(t, dict))
    author = f"vocalsynth (trained on {corpora})"
    data = {s.get("name"): s.get("data", "") for s in card.singers}
    info_lines = [
        f"Licence: {licence}",
        f"Consent: {consent}",
        AI_NOTE,
    ]
    text = [f"name=vocalsynth {card.name}", f"author={author}", *info_lines, ""]
    (root / "character.txt").write_text("\n".join(text), encoding="utf-8")
    info = {
        "name": f"vocalsynth {card.name}",
        "singer_type": "diffsinger",
        "text_file_encoding": "utf-8",
        "author": author,
        "voice": f"{default}: {' '.join(str(data.get(default, '')).split())}".rstrip(": "),
        "version": card.version,
        "default_phonemizer": PHONEMIZER,
    }
    if speakers:
        # the first subbank (no suffix) sings as speakers[0], the default singer; the others by name, picked
        # by OpenUtau's voice colour. A subbank is only chosen for tones in its ranges (USinger.cs): all of
        # OpenUtau's C1-B7.
        info["subbanks"] = [{"color": "", "prefix": "", "suffix": "", "tone_ranges": [TONES]}] + [
            {"color": s, "prefix": "", "suffix": s, "tone_ranges": [TONES]} for s in speakers[1:]
        ]
    _write_yaml(root / "character.yaml", info)
    readme = [
        f"vocalsynth voice {card.name!r} {card.version}, exported as an OpenUtau DiffSinger voicebank.",
        " ".join(card.description.split()),
        "",
        f"Licence: {licence}",
        "",
        f"Consent: {consent}",
        "",
        AI_NOTE,
        "",
        "Training data:",
        *(
            f"- {t.get('corpus', '')} ({t.get('licence', '')}): {t.get('citation', '')}"
            for t in card.training_data
            if isinstance(t, dict)
        ),
        "",
        "Singers (subbanks):",
        *(f"- {s}: {' '.join(str(data.get(s, '')).split())}" for s in (speakers or [default])),
    ]
    (root / "readme.txt").write_text("\n".join(readme) + "\n", encoding="utf-8")
    (root / "LICENSE.txt").write_text(licence + "\n\n" + AI_NOTE + "\n", encoding="utf-8")


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_yaml(path: Path, data) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
