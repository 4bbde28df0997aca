"""Extraction from the store: cohorts and per-admission packets."""
