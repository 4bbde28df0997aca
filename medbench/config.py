"""Paths and defaults, overridable through environment variables."""

from __future__ import annotations

import os
from pathlib import Path

#: Size and seed of the embedded synthetic dataset used when no MIMIC copy is named.
DEFAULT_SYNTH_PATIENTS = 300
DEFAULT_SYNTH_SEED = 0


def medbench_home() -> Path:
    """Cache root: `$MEDBENCH_HOME`, default `~/.cache/medbench`."""
    env = os.environ.get("MEDBENCH_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "medbench"


def env_mimic_dir() -> Path | None:
    env = os.environ.get("MEDBENCH_MIMIC_DIR")
    return Path(env).expanduser() if env else None


def default_synth_dir() -> Path:
    return medbench_home() / "synthetic" / f"p{DEFAULT_SYNTH_PATIENTS}-s{DEFAULT_SYNTH_SEED}"
