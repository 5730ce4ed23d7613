"""Models: the acoustic model (score features -> mel, F0) and vocoders (mel + F0 -> audio).

Subpackages import torch; nothing here is imported eagerly so `import vocalsynth.models` stays cheap.
"""
