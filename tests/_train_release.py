"""A tiny synthetic release (sql + icd) for the reward and training tests, built via the CLI."""

from __future__ import annotations

from pathlib import Path

from conftest import run_cli


def build_tiny_release(root: Path, patients: int = 12, seed: int = 0, tasks: str = "sql,icd") -> Path:
    """`medbench synth` + `medbench build --tasks TASKS` into root; returns the release path."""
    env = {"MEDBENCH_HOME": str(root / "home")}
    synth, release = root / "synth", root / "release"
    proc = run_cli("synth", "--patients", str(patients), "--seed", str(seed), "--out", str(synth), env=env)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("build", "--mimic-dir", str(synth), "--tasks", tasks, "--seed", str(seed),
                   "--out", str(release), env=env)
    assert proc.returncode == 0, proc.stderr
    return release
