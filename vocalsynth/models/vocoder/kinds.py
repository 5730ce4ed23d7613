"""The fixed table of vocoder kinds: which class a vocoder folder's ``kind`` names.

It imports no vocoder module itself (each class is imported by name when asked for), so the `Vocoder` base can
dispatch ``from_pretrained`` on it without importing a subclass.
"""

from __future__ import annotations

import importlib

# kind -> "module:Class". A fixed table: a config file names a kind, never an importable path, so loading
# a vocoder someone sent you can't import arbitrary code.
KINDS: dict[str, str] = {
    "source_filter": "vocalsynth.models.vocoder.generator:SourceFilterVocoder",
    "world": "vocalsynth.models.vocoder.world:WorldVocoder",
}


def resolve_kind(kind: str) -> type | None:
    """The `Vocoder` subclass of ``kind``, None for a kind not in :data:`KINDS`."""
    target = KINDS.get(kind)
    if target is None:
        return None
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)
