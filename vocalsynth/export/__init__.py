"""A voice in other tools' formats: `export_openutau` writes an OpenUtau DiffSinger-style voicebank (ONNX
graphs checked against PyTorch, configs, dictionary); `openutau_feed.Voicebank` replays OpenUtau's calls on
one with onnxruntime.

    from vocalsynth.export import export_openutau
    print(export_openutau("default", "voicebanks/default").summary())
"""

from __future__ import annotations

from vocalsynth.export.openutau import ExportError, ExportResult, export_openutau

__all__ = ["ExportError", "ExportResult", "export_openutau"]
