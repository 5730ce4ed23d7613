"""The vocal-creation demo: a Gradio page over the Python API (`vocalsynth demo`, `demo/app.py`).

- `limits`: what a visitor may send (upload size, song length, queue and concurrency bounds);
- `scoring`: notation text, the note table, uploads, example songs, fitting a melody to a voice's range;
- `voices`: the voices on offer, their cards and ranges, one cached `Synthesizer` each;
- `render`: one render: labelled WAV, score downloads, conformance report;
- `plots`: the piano roll and the spectrogram with the sung F0 over the notes;
- `handlers`: `Demo`, every page action as a plain function (tested without a browser);
- `app`: the gr.Blocks layout, the ``sing`` API endpoint and `launch`; `cli`: the ``demo`` verb.

Gradio, torch and matplotlib are imported only when used.
"""

from vocalsynth.demo.limits import DemoError, DemoLimits

__all__ = ["DemoError", "DemoLimits"]
