"""SQL engines as objects: one `SqlEngine` per (dialect, profile).

The dialect (`DuckDBEngine`, `SQLiteEngine`) says how to connect read-only and sandbox a query
(`execute.open_readonly`, `execute.parse_select`: the layers in `execute`'s docstring); the
profile (`release.SQL_PROFILES`, the release manifest's `tasks.sql.profile`) says which scoring
rules apply: "ehrsql-2024" (the EHRSQL 2024 shared task's: its query normalisation, its fixed
"now", an empty query runs and returns no rows) or "medbench" (queries run as written). No
module decides EHRSQL rules from the engine name: a release names its profile, and a manifest
written before the field existed gets it inferred once, on read, in `medbench.release`.

Engines are small frozen values: picklable into the sandbox's worker processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

from medbench.release import SQL_PROFILES, infer_sql_profile

#: the EHRSQL 2024 shared task's "now" (its gold SQL uses current_time as this instant)
EHRSQL_NOW = "2100-12-31 23:59:00"


@dataclass(frozen=True)
class SqlEngine:
    """One dialect under one scoring profile: connect read-only, sandbox, normalise, compare."""

    profile: str = "medbench"
    name: ClassVar[str]  # "duckdb" / "sqlite": the dialect (execute.ENGINES)
    dialect: ClassVar[str]  # sqlglot's dialect name
    display: ClassVar[str]  # the prompt's dialect name
    suffix: ClassVar[str]  # the shipped database file's suffix

    def __post_init__(self):
        if self.profile not in SQL_PROFILES:
            raise ValueError(f"unknown SQL profile {self.profile!r} (expected one of {', '.join(SQL_PROFILES)})")

    @property
    def ehrsql(self) -> bool:
        return self.profile == "ehrsql-2024"

    # ---- dialect
    def connect(self, db_path: Any) -> Any:
        """A read-only, locked-down connection (execute's layer 2)."""
        from medbench.tasks.sql.execute import open_readonly

        return open_readonly(db_path, self.name)

    def sandbox(self, sql: str) -> str | None:
        """Why the statement check (execute's layer 1) refuses `sql`, or None."""
        from medbench.tasks.sql.execute import parse_select

        return parse_select(sql, self.name)[1]

    # ---- profile
    def normalise(self, sql: str) -> str:
        """The text that runs: EHRSQL's query normalisation under its profile, else as written."""
        if not self.ehrsql:
            return sql
        from medbench.tasks.sql.normalize import normalize_ehrsql

        return normalize_ehrsql(sql)

    @property
    def runs_empty_query(self) -> bool:
        """EHRSQL parity: the shared task's scorer runs an empty query (only comments or ';') and
        gets no rows, right when the gold answer is empty; medbench refuses it."""
        return self.ehrsql

    @property
    def now(self) -> str | None:
        """The instant the prompt calls "now" (None: the data's own dates)."""
        return EHRSQL_NOW if self.ehrsql else None

    @staticmethod
    def compare(pred_answer: Any, gold_answer: Any) -> bool:
        """Whether two executed answers are the same answer (the one canonical form, order-free
        where the answer is a set: `execute.compact_answer`)."""
        from medbench.tasks.sql.execute import compact_answer

        return pred_answer is not None and compact_answer(pred_answer) == compact_answer(gold_answer)


@dataclass(frozen=True)
class DuckDBEngine(SqlEngine):
    name: ClassVar[str] = "duckdb"
    dialect: ClassVar[str] = "duckdb"
    display: ClassVar[str] = "DuckDB"
    suffix: ClassVar[str] = "duckdb"


@dataclass(frozen=True)
class SQLiteEngine(SqlEngine):
    name: ClassVar[str] = "sqlite"
    dialect: ClassVar[str] = "sqlite"
    display: ClassVar[str] = "SQLite"
    suffix: ClassVar[str] = "sqlite"


ENGINE_CLASSES: dict[str, type[SqlEngine]] = {"duckdb": DuckDBEngine, "sqlite": SQLiteEngine}


@lru_cache(maxsize=16)
def make_engine(name: str, profile: str) -> SqlEngine:
    try:
        cls = ENGINE_CLASSES[name]
    except KeyError:
        raise ValueError(f"unknown engine {name!r} (expected one of {', '.join(ENGINE_CLASSES)})") from None
    return cls(profile)


def as_engine(engine: SqlEngine | str, profile: str | None = None) -> SqlEngine:
    """`engine` itself, or the engine of that name under `profile` (a bare name, as the tests and
    `score_one` pass, takes the profile `release.infer_sql_profile` gives an old manifest)."""
    if isinstance(engine, SqlEngine):
        return engine
    return make_engine(engine, profile or infer_sql_profile(engine))


def release_engine(release: Any) -> SqlEngine:
    """The engine a release's sql task declares (`engine` + `profile` in its manifest)."""
    info = release.manifest["tasks"]["sql"]
    return make_engine(info.get("engine", "duckdb"), info.get("profile") or infer_sql_profile(info.get("engine")))
