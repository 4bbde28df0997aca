"""The split rule, below every layer that needs it (release, tasks, baselines): `SPLITS`,
`stable_bucket` and `split_for_subject` (a patient is in exactly one split)."""

from __future__ import annotations

import hashlib

SPLITS = ("train", "dev", "test")


def stable_bucket(namespace: str, key: object, n: int) -> int:
    """0..n-1 from sha256 of "<namespace>|<key>": the same on every machine and Python run.
    Each use (splits, shards, tuning folds) has its own namespace, so they are independent."""
    return int(hashlib.sha256(f"{namespace}|{key}".encode()).hexdigest()[:8], 16) % n


def split_for_subject(subject_id: int) -> str:
    """60/20/20 train/dev/test by a stable hash of subject_id: no patient is in two splits."""
    bucket = stable_bucket("medbench-split", int(subject_id), 100)
    return "train" if bucket < 60 else "dev" if bucket < 80 else "test"
