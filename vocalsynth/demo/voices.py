"""The voices the demo offers: the installed ones plus folders named at launch, each shown with its card,
its singing range, and a `Synthesizer` loaded once and kept for every later render."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vocalsynth.demo.limits import DemoError
from vocalsynth.synthesis.voice_range import parse_pitch_name, voice_range  # noqa: F401 (the demo's API)
from vocalsynth.voices import DEFAULT_VOICE, VoiceCard, list_voices, read_card, resolve_voice

if TYPE_CHECKING:
    from vocalsynth.synth import Synthesizer


@dataclass
class VoiceOption:
    """A voice on offer: its name in the picker, its folder and its card."""

    name: str
    folder: Path
    card: VoiceCard


def available_voices(extra: Sequence[str | os.PathLike] = ()) -> dict[str, VoiceOption]:
    """The installed voices whose cards read, then the voice folders or names in ``extra`` (named by the
    person launching the demo, never by a visitor). Raises `VoiceError` for an ``extra`` that isn't a voice."""
    voices = {v.name: VoiceOption(v.name, v.folder, v.card) for v in list_voices() if v.card is not None}
    for item in extra:
        folder = resolve_voice(item)
        card = read_card(folder)
        if card.name in voices and voices[card.name].folder.resolve() == folder.resolve():
            continue
        name = card.name if card.name not in voices else f"{card.name} ({folder.name})"
        voices[name] = VoiceOption(name, folder, card)
    return voices


def default_voice_name(voices: dict[str, VoiceOption], wanted: str | os.PathLike | None = None) -> str:
    """The picker's first choice: the voice launched with (``wanted``), else the default, else the first."""
    if wanted is not None:
        folder = resolve_voice(wanted).resolve()
        for name, option in voices.items():
            if option.folder.resolve() == folder:
                return name
    if DEFAULT_VOICE in voices:
        return DEFAULT_VOICE
    if not voices:
        raise DemoError("no voice to offer: install one (vocalsynth voices) or pass --voice FOLDER")
    return next(iter(voices))


def card_markdown(card: VoiceCard) -> str:
    """The voice card as the page shows it: who and what, licence, consent, data sources, training cost."""
    from vocalsynth.score import pitch_name

    rng = voice_range(card)
    data = "\n".join(
        f"  - {d['corpus']} — {d['licence']} ({d['url']})"
        + (f"; {d['citation']}" if d.get("citation") else "")
        for d in card.training_data
    )
    t = card.training
    lines = [
        f"**{card.name}** {card.version}" + (f" — {card.description}" if card.description else ""),
        f"- **Sings natively:** {', '.join(card.languages)} (other languages through the nearest phonemes)",
    ]
    if rng is not None:
        lines.append(f"- **Range:** {pitch_name(rng[0])}–{pitch_name(rng[1])}")
    lines += [
        f"- **Licence:** {card.licence_note}",
        f"- **Consent:** {' '.join(card.consent.split())}",
        f"- **Data sources:**\n{data}",
        f"- **Training:** {t['hardware']}, {t['hours']:g} h, {t['energy_kwh']:g} kWh, {t['co2_kg']:g} kg CO₂",
    ]
    return "\n".join(lines)


def card_summary(card: VoiceCard) -> str:
    """The card in a few lines, always on the page: name, languages, range, licence, data sources."""
    from vocalsynth.score import pitch_name

    rng = voice_range(card)
    head = f"**{card.name}** {card.version} · sings {', '.join(card.languages)}"
    if rng is not None:
        head += f" · range {pitch_name(rng[0])}–{pitch_name(rng[1])}"
    if card.default_singer:
        head += f" · as {card.default_singer}"
    data = "; ".join(f"{d['corpus']} ({d['licence']})" for d in card.training_data)
    return f"{head}\n\n**Licence:** {card.licence_note}\n\n**Trained on:** {data}"


@dataclass
class SynthesizerPool:
    """One `Synthesizer` per voice, loaded on first use and kept: the default voice is read from disk
    once per server, not once per render. ``lock(name)`` serialises renders of one voice (its phrase
    cache is not thread-safe)."""

    voices: dict[str, VoiceOption]
    _synths: dict[str, Synthesizer] = field(default_factory=dict)
    _locks: dict[str, threading.Lock] = field(default_factory=dict)
    _loading: threading.Lock = field(default_factory=threading.Lock)

    def option(self, name: str) -> VoiceOption:
        if not isinstance(name, str) or name not in self.voices:
            raise DemoError(
                f"no voice {name!r} here; the demo offers: {', '.join(self.voices)}", source="voice"
            )
        return self.voices[name]

    def get(self, name: str) -> Synthesizer:
        option = self.option(name)
        with self._loading:
            if name not in self._synths:
                from vocalsynth.synth import Synthesizer

                self._synths[name] = Synthesizer.from_pretrained(option.folder)
                self._locks[name] = threading.Lock()
            return self._synths[name]

    def lock(self, name: str) -> threading.Lock:
        self.get(name)
        return self._locks[name]

    @property
    def loaded(self) -> list[str]:
        return list(self._synths)
