"""Import the EHRSQL 2024 shared task (one split) as a medbench release of task `sql` (SQLite).

Layout read (see `../shared/data/ehrsql-2024/README.md`): `<dir>/<split>/data.json`
(`{"version", "data": [{"id", "question"}]}`), `label.json` (`{id: SQL or "null"}`),
`answer.json` (`{id: answer string}`, used only to report agreement), `needs_chartevents.json`
(ids of answerable items whose gold reads the empty chartevents table: excluded, counted in the
manifest), `<dir>/tables.json` (Spider schema; derived from the database when absent).

Gold answers are computed by medbench: the normalised gold SQL runs on the given database in the
same sandbox that scores predictions, and the canonical answer is stored. Answerable items whose
gold SQL fails are excluded and counted too.

Split names: EHRSQL `train` → medbench `train`, `valid` → `dev`, `test` → `test` (the release's
items carry the medbench name; the manifest records the EHRSQL one).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from medbench.errors import UserError
from medbench.io import canonical_json, check_out_dir, scratch_dir, sha256_file
from medbench.release import TaskOutput, write_release
from medbench.tasks.base import make_item_id
from medbench.tasks.sql.execute import DEFAULT_ROW_CAP, DEFAULT_TIMEOUT_S, SqlPool

SPLIT_MAP = {"train": "train", "valid": "dev", "test": "test"}
SQLITE_MAGIC = b"SQLite format 3\x00"
DB_NAME = "database.sqlite"


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path}:{e.lineno}: invalid JSON: {e.msg}") from None


def _load_split(split_dir: Path) -> tuple[str, list[dict], dict[str, str], dict[str, str], set[str]]:
    data_path, label_path = split_dir / "data.json", split_dir / "label.json"
    data = _read_json(data_path)
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise UserError(f"{data_path}: data: expected an object with a 'data' list")
    rows, seen = [], set()
    for k, row in enumerate(data["data"]):
        if not isinstance(row, dict) or not isinstance(row.get("id"), str) or not row["id"]:
            raise UserError(f"{data_path}: data[{k}].id: expected a non-empty string")
        if not isinstance(row.get("question"), str) or not row["question"].strip():
            raise UserError(f"{data_path}: data[{k}].question: expected a non-empty string")
        if row["id"] in seen:
            raise UserError(f"{data_path}: data[{k}].id: duplicate id {row['id']}")
        seen.add(row["id"])
        rows.append({"id": row["id"], "question": row["question"]})
    labels = _read_json(label_path)
    if not isinstance(labels, dict):
        raise UserError(f"{label_path}: expected an object mapping id to SQL or \"null\"")
    for row in rows:
        lab = labels.get(row["id"])
        if not isinstance(lab, str) or not lab.strip():
            raise UserError(f"{label_path}: {row['id']}: expected a SQL string or \"null\"")
    answers: dict[str, str] = {}
    if (split_dir / "answer.json").is_file():
        raw = _read_json(split_dir / "answer.json")
        if not isinstance(raw, dict):
            raise UserError(f"{split_dir / 'answer.json'}: expected an object mapping id to answer")
        answers = {k: v for k, v in raw.items() if isinstance(v, str)}
    excluded: set[str] = set()
    if (split_dir / "needs_chartevents.json").is_file():
        raw = _read_json(split_dir / "needs_chartevents.json")
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            raise UserError(f"{split_dir / 'needs_chartevents.json'}: expected a list of id strings")
        excluded = set(raw)
    return str(data.get("version", "")), rows, {r["id"]: labels[r["id"]] for r in rows}, answers, excluded


def _source_answer(text: str) -> str:
    """An answer.json string in the canonical form (answer.json writes an integer count as '0',
    the comparison form is '0.0')."""
    from medbench.tasks.sql.normalize import recanonical

    return recanonical(text)


def _is_null(label: str) -> bool:
    return label.strip().lower() == "null"


def tables_in(sql: str) -> list[str]:
    """Sorted table names a query reads (sqlglot; CTE names left out)."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except Exception:
        return []
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    return sorted({t.name.lower() for t in tree.find_all(exp.Table) if t.name and t.name.lower() not in ctes})


def prepare_database(db: str | Path, workdir: Path) -> Path:
    """The SQLite file to ship: as given, or gunzipped into `workdir`; checked to be SQLite."""
    db = Path(db)
    if not db.is_file():
        raise UserError(f"--db: {db}: file not found")
    if db.name.endswith(".gz"):
        out = workdir / DB_NAME
        try:
            with gzip.open(db, "rb") as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            raise UserError(f"--db: {db}: cannot gunzip ({e})") from None
        db = out
    with open(db, "rb") as f:
        if f.read(16) != SQLITE_MAGIC:
            raise UserError(f"--db: {db}: not a SQLite database")
    return db


def derive_tables_json(db: Path) -> list[dict]:
    """A Spider-format schema from the database itself (used when tables.json is absent)."""
    con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        names = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        cols, types = [[-1, "*"]], ["text"]
        orig = [[-1, "*"]]
        for ti, name in enumerate(names):
            for _cid, col, ctype, *_ in con.execute(f'PRAGMA table_info("{name}")'):
                cols.append([ti, col.replace("_", " ").lower()])
                orig.append([ti, col])
                types.append("number" if any(t in (ctype or "").upper() for t in ("INT", "REAL", "NUM")) else "text")
    finally:
        con.close()
    return [{"db_id": db.stem, "table_names": [n.replace("_", " ") for n in names], "table_names_original": names,
             "column_names": cols, "column_names_original": orig, "column_types": types,
             "primary_keys": [], "foreign_keys": []}]


def import_ehrsql(ehrsql_dir: str | Path, db: str | Path | None, split: str, out: str | Path,
                  name: str | None = None, workers: int | None = None,
                  timeout_s: float = DEFAULT_TIMEOUT_S, show_progress: bool = True) -> dict:
    """Write the release; returns a summary (counts, excluded, answer agreement, manifest)."""
    ehrsql_dir = Path(ehrsql_dir)
    if split not in SPLIT_MAP:
        raise UserError(f"--split: unknown EHRSQL split '{split}' (expected one of: {', '.join(SPLIT_MAP)})")
    split_dir = ehrsql_dir / split
    if not split_dir.is_dir():
        raise UserError(f"--ehrsql-dir: {split_dir} is not a directory")
    if db is None:
        candidates = [ehrsql_dir / "mimic_iv.sqlite", ehrsql_dir / "mimic_iv.sqlite.gz"]
        db = next((c for c in candidates if c.is_file()), None)
        if db is None:
            raise UserError(f"--db: not given and no mimic_iv.sqlite[.gz] in {ehrsql_dir}")
    check_out_dir(out)  # before the gold queries run (with a progress bar)
    version, rows, labels, source_answers, needs_chart = _load_split(split_dir)
    mb_split = SPLIT_MAP[split]
    name = name or f"ehrsql2024-{split}"

    with scratch_dir("ehrsql") as tmp:
        db_path = prepare_database(db, Path(tmp))
        db_sha = sha256_file(db_path)
        tables_path = ehrsql_dir / "tables.json"
        if tables_path.is_file():
            tables_bytes = (canonical_json(_read_json(tables_path), indent=1) + "\n").encode("utf-8")
        else:
            tables_bytes = (canonical_json(derive_tables_json(db_path), indent=1) + "\n").encode("utf-8")

        kept = [r for r in rows if _is_null(labels[r["id"]]) or r["id"] not in needs_chart]
        answerable = [r for r in kept if not _is_null(labels[r["id"]])]
        jobs = [{"sql": labels[r["id"]], "check": True, "features": False} for r in answerable]
        results = _run_gold(db_path, jobs, workers, timeout_s, show_progress)
        gold_answer = {}
        failed: dict[str, str] = {}
        for r, res in zip(answerable, results):
            if res.get("error") or res.get("answer") is None:
                failed[r["id"]] = res.get("error") or "no answer"
            else:
                gold_answer[r["id"]] = res["answer"]

        items, gold = [], []
        agree = disagree = 0
        for r in kept:
            sid, label = r["id"], labels[r["id"]]
            if sid in failed:
                continue
            item_id = make_item_id("sql", "ehrsql2024", sid)
            items.append({"item_id": item_id, "task": "sql", "split": mb_split, "subject_id": None,
                          "question": r["question"]})
            if _is_null(label):
                gold.append({"item_id": item_id, "task": "sql", "answerable": False, "sql": None,
                             "answer": None, "template": "unanswerable", "tables": [], "slots": {},
                             "source_id": sid})
                continue
            tables = tables_in(label)
            answer = gold_answer[sid]
            if sid in source_answers:
                same = _source_answer(source_answers[sid]) == answer
                agree, disagree = (agree + 1, disagree) if same else (agree, disagree + 1)
            gold.append({"item_id": item_id, "task": "sql", "answerable": True, "sql": label, "answer": answer,
                         "template": "+".join(tables) or "other", "tables": tables, "slots": {},
                         "source_id": sid})
        n_excluded_chart = sum(1 for r in rows if not _is_null(labels[r["id"]]) and r["id"] in needs_chart)
        info = {
            "engine": "sqlite",
            "profile": "ehrsql-2024",
            "database": DB_NAME,
            "source": "ehrsql-2024",
            "source_version": version,
            "source_split": split,
            "excluded": {"needs_chartevents": n_excluded_chart, "gold_sql_failed": len(failed)},
            "answerable": sum(1 for g in gold if g["answerable"]),
            "unanswerable": sum(1 for g in gold if not g["answerable"]),
            "source_answers": {"agree": agree, "disagree": disagree},
        }
        h = hashlib.sha256()
        for p in sorted(split_dir.glob("*.json")):
            h.update(f"{p.name}:{sha256_file(p)}\n".encode())
        h.update(f"db:{db_sha}\n".encode())
        params = {"ehrsql_split": split, "split": mb_split, "database_sha256": db_sha,
                  "timeout_s": timeout_s, "row_cap": DEFAULT_ROW_CAP}
        manifest = write_release(out, name, {"sql": TaskOutput(
            items=items, gold=gold, info=info,
            files={DB_NAME: db_path, "tables.json": tables_bytes})}, params, h.hexdigest())
    return {"out": str(out), "name": name, "split": mb_split, "items": len(items), **info,
            "failed_examples": dict(sorted(failed.items())[:5]), "manifest": manifest}


def _run_gold(db_path: Path, jobs: list[dict], workers: int | None, timeout_s: float, show: bool) -> list[dict]:
    from medbench.tasks.sql.engines import SQLiteEngine
    from medbench.tasks.sql.metrics import _progress

    with _progress(show) as progress, SqlPool(db_path, SQLiteEngine("ehrsql-2024"), workers=workers or os.cpu_count(),
                                              timeout_s=timeout_s) as pool:
        task = progress.add_task("EHRSQL gold answers", total=len(jobs))
        return pool.map(jobs, on_result=lambda *_: progress.advance(task))
