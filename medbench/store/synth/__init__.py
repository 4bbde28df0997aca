"""Deterministic synthetic MIMIC-IV (hosp, icu, note) in PhysioNet's layout; see generator.py."""

from medbench.store.synth.generator import generate

__all__ = ["generate"]
