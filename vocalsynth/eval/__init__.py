"""Objective evaluation: metrics and benchmarks (phoneme-alignment accuracy in `alignment`, vocoder metrics)."""
