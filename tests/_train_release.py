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


def train_tiny_sql_recipe(root: Path, *extra: str, timeout: int = 1800) -> dict:
    """The learnable recipe (medbench/train/recipes.py) end to end through the CLI: synthetic
    release, tiny local model, `medbench train` with the recipe's options plus `extra`.
    Returns the paths and the run's output; one run serves every test that reads a trained run."""
    import time

    from medbench.train.recipes import TINY_SQL_PATIENTS, TINY_SQL_SEED, TINY_SQL_TRAIN_ARGS

    env = {"MEDBENCH_HOME": str(root / "home")}
    release = build_tiny_release(root, patients=TINY_SQL_PATIENTS, seed=TINY_SQL_SEED, tasks="sql")
    tiny = root / "tiny"
    proc = run_cli("make-tiny-model", "--benchmark", str(release), "--task", "sql", "--out", str(tiny),
                   "--seed", "0", env=env)
    assert proc.returncode == 0, proc.stderr
    out = root / "trained"
    t0 = time.perf_counter()
    proc = run_cli("train", "--benchmark", str(release), "--model", str(tiny), "--out", str(out),
                   *TINY_SQL_TRAIN_ARGS, *extra, env=env, timeout=timeout)
    wall = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    print(f"training wall time {wall:.0f} s")
    runs = sorted(out.iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("run_")  # --out/run_<timestamp>/
    return {"root": root, "release": release, "tiny": tiny, "out": runs[0], "env": env,
            "output": " ".join((proc.stdout + proc.stderr).split())}
