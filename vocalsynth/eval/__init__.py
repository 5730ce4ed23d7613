"""Objective evaluation: metrics and benchmarks (phoneme-alignment accuracy in `alignment`, vocoder metrics).

Quality of a voice on held-out songs (``vocalsynth eval``, `report`): `songs` (what to sing), `compare` (DTW
MCD / F0 RMSE / V/UV, timing), `mcep` (mel-cepstra, DTW), `pitch_judge` (PESTO conformance), `naturalness`
(DNSMOS, band periodicity), `loudness`, `intelligibility` (Whisper base CER), `plots`.
"""
