"""SQL scoring: per-item records (executed in the sandbox) and the aggregate metrics.

Per item (EHRSQL 2024's reliability score): +1 for the right answer to an answerable item or an
abstention on an unanswerable one; 0 for abstaining on an answerable item; −1 for a wrong answer
(including a query that fails: its answer is "error") or for any answer to an unanswerable item.
A prediction of None — or the string "null" (exactly, as in EHRSQL: "NULL" is SQL) — is an
abstention; "" is a wrong answer. Answers compare as canonical strings (`normalize.canonical_answer`).

Every metric is a percentage (0–100; RS may be negative):
- `rs0`, `rs5`, `rs10`, `rsN`: mean per-item score with every −1 multiplied by c (N = number of
  items scored). Headline `rs10`. Abstaining on everything scores the unanswerable share.
- `ex`: execution accuracy on answerable items (right answer / answerable items).
- `valid_sql_rate`: share of non-abstained predictions that pass the sandbox and execute.
- `abstention_precision` / `abstention_recall`: abstaining is the positive class, unanswerable
  items are the positives (0 when there is no abstention / no unanswerable item).
- `em`: exact match with the gold SQL after sqlglot normalisation, on answerable items.
- `token_f1`: multiset F1 of sqlglot tokens, predicted vs gold SQL, on answerable items
  (an abstention scores 0).
- `resource_limit_rate`: share of items whose query was stopped by a resource limit (the SQLite
  work budget, the row cap, or the wall-clock limit even when run again alone); such an item is
  a wrong answer, and `result_extras` counts them in the result (`counts.resource_limit`).
`aggregate` needs only the records, so it works on any subset (bootstrap replicates).

Gold answers come from the release's gold records (computed by executing the gold SQL when the
release was built or imported); a gold record without one is executed here. Per release, under
`$MEDBENCH_HOME/cache/` (`medbench.tasks.sql.cache`): the gold SQL's sqlglot features (computed
lazily, in the workers, only for items whose prediction needs them) and executed gold answers in
`gold/`, and every executed predicted query's outcome and features in `sql-results/`, so a
second submission runs only the queries no earlier submission predicted.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from pathlib import Path
from typing import Any

from medbench.tasks.sums import aggregate_from_sums
from medbench.tasks.sql.cache import GoldCache, ResultCache, deterministic_error, result_key, verified_release_file
from medbench.tasks.sql.execute import (
    DEFAULT_ROW_CAP,
    DEFAULT_TIMEOUT_S,
    DEFAULT_VM_STEPS,
    SqlPool,
    compact_answer,
    compare_with_gold,
    is_resource_limit,
    prepare_sql,
)
from medbench.tasks.sql.normalize import ERROR_ANSWER, is_abstention, recanonical

RS_PENALTIES = (0, 5, 10)
TOKEN_F1_GRID = float(1 << 24)
ANSWER_CHARS = 2000  # answers shown in records are clipped; comparison uses the whole answer


def _get(ctx: Any, name: str, default: Any = None) -> Any:
    if ctx is None:
        return default
    if isinstance(ctx, dict):
        value = ctx.get(name, default)
    else:
        value = getattr(ctx, name, default)
    return default if value is None else value


def release_database(release: Any) -> tuple[Path, str]:
    """(database file, engine) of a release's sql task, per its manifest."""
    info = release.manifest["tasks"]["sql"]
    engine = info.get("engine", "duckdb")
    try:  # the SQL builder may keep its DuckDB database in another form on disk
        from medbench.tasks.sql import build as _build

        resolver = getattr(_build, "release_db_path", None)
    except ImportError:
        resolver = None
    if resolver is not None and engine == "duckdb":
        return Path(resolver(release.path)), engine
    shipped = Path(release.path) / "sql" / info.get("database", f"database.{'sqlite' if engine == 'sqlite' else 'duckdb'}")
    return verified_release_file(release, shipped), engine  # damaged: one error line, never wrong scores


def _is_abstention(prediction: Any) -> bool:
    return is_abstention(prediction)


def _answerable(gold: dict) -> bool:
    return bool(gold.get("answerable", gold.get("sql") is not None))


def _quantise(x: float) -> float:
    """A per-item fraction on a 2⁻²⁴ grid (error < 6e-8): sums of such values are exact in any
    order, so the bootstrap's vectorised sums equal aggregate()'s bit for bit."""
    return round(x * TOKEN_F1_GRID) / TOKEN_F1_GRID


def _clip(answer: str | None) -> str | None:
    if answer is None or len(answer) <= ANSWER_CHARS:
        return answer
    return answer[:ANSWER_CHARS] + f"… [{len(answer) - ANSWER_CHARS} more characters]"


# ---------------------------------------------------------------------------------------------
# Pools: a fresh one per batch; a long-lived one for single items (GRPO rewards call per item)

_SHARED: dict[tuple, SqlPool] = {}


def _shared_pool(db: Path, engine: Any, timeout_s: float, row_cap: int) -> SqlPool:
    key = (str(db), engine, timeout_s, row_cap)
    if key not in _SHARED:
        _SHARED[key] = SqlPool(db, engine, workers=1, timeout_s=timeout_s, row_cap=row_cap)
    return _SHARED[key]


@atexit.register
def _close_shared() -> None:
    for pool in _SHARED.values():
        pool.close()
    _SHARED.clear()


# ---------------------------------------------------------------------------------------------
# Gold side and executed predictions (cached per release: medbench.tasks.sql.cache)

def gold_answers(gold_by_id: dict, ids: list[str], gold_cache: GoldCache,
                 needed: set[str] | None = None) -> tuple[dict[str, dict], list[str]]:
    """({item_id: {"answer"}} known now, [item_ids whose gold SQL must run]) for the answerable
    items among `ids`.

    The answer is the gold record's (computed when the release was built or imported); only a
    gold record without one has its SQL executed (in the sandbox, by the caller), once per
    release, and only for the items in `needed` (those with a predicted query; default all): the
    answer is then cached unless the failure might not repeat (`_gold_executed`). An item whose
    gold answer is unknown and not needed is left out (its record shows no gold answer).
    """
    info: dict[str, dict] = {}
    run = []
    for i in ids:
        g = gold_by_id[i]
        if not _answerable(g):
            continue
        answer = recanonical(g["answer"]) if g.get("answer") is not None else gold_cache.get(i).get("answer")
        if answer is not None:
            info[i] = {"answer": answer}
        elif needed is None or i in needed:
            run.append(i)
    return info, run


def _gold_executed(i: str, res: dict, gold_cache: GoldCache) -> dict:
    info = {"answer": res.get("answer") or ERROR_ANSWER, "error": res.get("error")}
    if res.get("error") is None or deterministic_error(res.get("error")):
        gold_cache.update(i, answer=info["answer"])
    return info


def _gold_spec(gold: dict, cached: dict) -> dict:
    """The gold side a worker compares a prediction with (tokens None: compute them there)."""
    return {"sql": gold.get("sql") or "", "tokens": cached.get("tokens"), "content": cached.get("content"),
            "fingerprint": cached.get("fingerprint")}


def _features_from_cache(entry: dict, gold: dict, engine: Any) -> dict | None:
    """EM and token F1 of a cached executed query against one gold, or None when that needs a
    fingerprint or gold tokens nobody has computed yet (a worker does it)."""
    if gold.get("tokens") is None:
        return None
    tokens, content, parsed = entry.get("tokens") or [], entry.get("content"), bool(entry.get("parsed"))
    if tokens != gold["tokens"] and parsed and content is not None and content == gold.get("content") \
            and (entry.get("fingerprint") is None or gold.get("fingerprint") is None):
        return None
    res = compare_with_gold(tokens, content, parsed, lambda: entry.get("fingerprint"), gold, engine)
    return {"em": res["em"], "token_f1": res["token_f1"]}


# ---------------------------------------------------------------------------------------------
# Records

def _categories(gold: dict, seen: bool | None = None) -> dict[str, Any]:
    """The leaderboard's extra breakdowns: the gold query's tables (an item counts once under each
    table it reads; "(none)" for unanswerable items that read none) and, for medbench builds, the
    template family. EHRSQL imports have no family (their `template` is already the table set)."""
    out: dict[str, Any] = {"table": sorted({str(t) for t in gold.get("tables") or []}) or ["(none)"]}
    if gold.get("family"):
        out["family"] = str(gold["family"])
    if seen is not None:  # medbench builds: was the template in train (template hold-out)?
        out["template_seen_in_train"] = "seen" if seen else "unseen"
    return out


#: the groups every metric is also reported on: `<metric>_seen` / `<metric>_unseen`
SEEN_GROUPS = {True: "seen", False: "unseen"}


def make_record(item: dict, gold: dict, prediction: Any, pred: dict | None, gold_info: dict | None) -> dict:
    """One item's record from the prediction's execution result and the gold side."""
    answerable = _answerable(gold)
    abstained = _is_abstention(prediction)
    rec: dict[str, Any] = {
        "item_id": item["item_id"],
        "subject_id": item.get("subject_id"),
        # a population-level question (medbench builds: gold has a template family) is resampled
        # with its template's other slot fillings (scoring.stats.make_clusters)
        "cluster": (f"template:{gold.get('template')}" if item.get("subject_id") is None
                    and gold.get("family") is not None else None),
        "category": gold.get("template"),
        # further error-breakdown dimensions of the leaderboard: template family and table(s) read
        "categories": _categories(gold, item.get("template_seen_in_train")),
        "template_seen_in_train": item.get("template_seen_in_train"),
        "answerable": answerable,
        "abstained": abstained,
        "executed": False,
        "error": None,
        "pred_answer": None,
        "gold_answer": _clip(gold_info["answer"]) if (answerable and gold_info) else None,
        "em": None,
        "token_f1": None,
        "resource_limit": False,
    }
    if not abstained:
        if not isinstance(prediction, str):
            rec["error"] = f"prediction must be a SQL string or null, not {type(prediction).__name__}"
        elif pred is not None:
            rec["error"] = pred.get("error")
            rec["executed"] = pred.get("error") is None and pred.get("answer") is not None
            rec["pred_answer"] = _clip(pred.get("answer") if rec["executed"] else ERROR_ANSWER)
            rec["resource_limit"] = is_resource_limit(pred.get("error"))
    if answerable:
        if abstained:
            score, correct = 0, False
        else:
            correct = bool(rec["executed"] and gold_info is not None and gold_info["answer"] != ERROR_ANSWER
                           and pred is not None
                           and compact_answer(pred.get("answer")) == compact_answer(gold_info["answer"]))
            score = 1 if correct else -1
        rec["em"] = bool(not abstained and pred is not None and pred.get("em"))
        rec["token_f1"] = _quantise(float((pred or {}).get("token_f1") or 0.0)) if not abstained else 0.0
    else:
        correct = abstained
        score = 1 if abstained else -1
    rec["correct"] = correct
    rec["score"] = score
    for c in RS_PENALTIES:
        rec[f"rs{c}"] = 100.0 * (score * c if score < 0 else score)
    return rec


@contextlib.contextmanager
def _progress(show: bool):
    if show:
        from medbench.progress import progress_bar

        with progress_bar() as progress:
            yield progress
    else:
        from rich.progress import Progress

        yield Progress(disable=True)


def score_items(items: list[dict], gold_by_id: dict, predictions_by_id: dict, ctx: Any) -> list[dict]:
    """Score a batch: predicted SQL runs in parallel sandboxed workers; records in item order.

    ctx (object or dict) may carry: release (a `medbench.release.Release`), or db_path + engine;
    workers (default: CPU count), timeout_s (default 5), row_cap (default 100,000), show_progress,
    shared_pool (reuse one long-lived worker across calls, for many small batches).

    Each distinct predicted query (after preparation) runs once, however many items predict it;
    a prediction equal to the item's gold SQL takes the gold answer without running. With a
    release, executed queries and the gold side's sqlglot features are cached per release
    (`medbench.tasks.sql.cache`), so a later submission runs only queries never seen before.
    """
    from medbench.tasks.sql.engines import as_engine, release_engine

    release = _get(ctx, "release")
    if _get(ctx, "db_path") is not None:
        db, sql_engine = Path(_get(ctx, "db_path")), as_engine(_get(ctx, "engine", "duckdb"), _get(ctx, "profile"))
    elif release is not None:
        db, sql_engine = release_database(release)[0], release_engine(release)
    else:
        raise ValueError("SQL scoring needs ctx.release or ctx.db_path + ctx.engine")
    engine = sql_engine.name  # the dialect: the caches' keys name it
    timeout_s = float(_get(ctx, "timeout_s", DEFAULT_TIMEOUT_S))
    row_cap = int(_get(ctx, "row_cap", DEFAULT_ROW_CAP))
    workers = int(_get(ctx, "workers", os.cpu_count() or 1))
    show = bool(_get(ctx, "show_progress", False))

    ids = [it["item_id"] for it in items]
    to_run = [i for i in ids if not _is_abstention(predictions_by_id.get(i))
              and isinstance(predictions_by_id.get(i), str)]
    # One item, or a caller that scores many small batches (GRPO rewards): reuse one long-lived
    # worker instead of starting a pool per call.
    single = len(items) <= 1 or bool(_get(ctx, "shared_pool", False))
    own: list[SqlPool] = []

    def pool_factory() -> SqlPool:
        if single:
            return _shared_pool(db, sql_engine, timeout_s, row_cap)
        if not own:
            own.append(SqlPool(db, sql_engine, workers=workers, timeout_s=timeout_s, row_cap=row_cap))
        return own[0]

    gold_cache = GoldCache(release, engine)
    results_cache = ResultCache(release, engine)
    by_id: dict[str, dict] = {}
    try:
        with _progress(show) as progress:
            n_gold = sum(1 for i in ids if _answerable(gold_by_id[i]))
            gtask = progress.add_task("sql gold (cached per release)", total=n_gold)
            gold_info, gold_run = gold_answers(gold_by_id, ids, gold_cache, needed=set(to_run))
            progress.update(gtask, completed=n_gold - len(gold_run))
            pending = set(gold_run)
            ptask = progress.add_task("sql predictions (cached per release)", total=len(to_run))
            groups: dict[str, list[str]] = {}  # prepared query -> the items predicting it
            gold_equal = []  # predicting their gold query, whose answer is still to be computed
            for i in to_run:
                g, pred_sql = gold_info.get(i), predictions_by_id[i]
                gold_sql = gold_by_id[i].get("sql") or ""
                if (i in pending or (g is not None and g["answer"] != ERROR_ANSWER)) and \
                        (pred_sql == gold_sql or prepare_sql(pred_sql, sql_engine) == prepare_sql(gold_sql, sql_engine)):
                    # the gold query itself: its answer is the release's (run in the sandbox)
                    if i in pending:
                        gold_equal.append(i)
                    else:
                        by_id[i] = {"answer": g["answer"], "error": None, "em": True, "token_f1": 1.0}
                        progress.advance(ptask)
                    continue
                groups.setdefault(prepare_sql(pred_sql, sql_engine), []).append(i)
            # one batch: the gold queries to run (if any), then every prediction's query
            jobs: list[dict] = [{"sql": gold_by_id[i].get("sql") or "", "check": False} for i in gold_run]
            meta: list[tuple] = [("gold", i, None) for i in gold_run]
            for prepared, members in groups.items():
                key = result_key(prepared, engine, timeout_s, row_cap, DEFAULT_VM_STEPS)
                entry = results_cache.get(key)
                need = members
                if entry is not None:  # executed before: only features nobody computed yet remain
                    need = []
                    for i in members:
                        feats = {} if not _answerable(gold_by_id[i]) else \
                            _features_from_cache(entry, _gold_spec(gold_by_id[i], gold_cache.get(i)), sql_engine)
                        if feats is None:
                            need.append(i)
                        else:
                            by_id[i] = {"answer": entry.get("answer"), "error": entry.get("error"), **feats}
                            progress.advance(ptask)
                    if not need:
                        continue
                golds = [_gold_spec(gold_by_id[i], gold_cache.get(i)) if _answerable(gold_by_id[i]) else None
                         for i in need]
                jobs.append({"sql": predictions_by_id[need[0]], "execute": entry is None, "check": entry is None,
                             "golds": golds})
                meta.append((key, need, entry))

            def advance(k: int, _res: dict) -> None:
                if meta[k][0] == "gold":
                    progress.advance(gtask)
                else:
                    progress.advance(ptask, len(meta[k][1]))

            results = pool_factory().map(jobs, on_result=advance) if jobs else []
    finally:
        for p in own:
            p.close()
    for (key, need, entry), res in zip(meta, results):
        if key == "gold":
            gold_info[need] = _gold_executed(need, res, gold_cache)
            continue
        if entry is None:
            results_cache.put(key, res)
            entry = res
        else:
            results_cache.set_fingerprint(key, res.get("fingerprint"))
        golds = res.get("golds") or [None] * len(need)  # a crashed or killed worker: no features
        for i, gres in zip(need, golds):
            if gres is not None:
                gold_cache.update(i, tokens=gres.get("gold_tokens"), content=gres.get("gold_content"),
                                  fingerprint=gres.get("gold_fingerprint"))
            by_id[i] = {"answer": entry.get("answer"), "error": entry.get("error"),
                        "em": (gres or {}).get("em"), "token_f1": (gres or {}).get("token_f1")}
    for i in gold_equal:  # the same query as the gold one just run: the same outcome
        g = gold_info[i]
        by_id[i] = {"answer": None if g["answer"] == ERROR_ANSWER else g["answer"],
                    "error": (g.get("error") or "the query failed") if g["answer"] == ERROR_ANSWER else None,
                    "em": True, "token_f1": 1.0}
    for g in gold_info.values():
        g.pop("error", None)
    gold_cache.save()
    results_cache.save()
    return [make_record(it, gold_by_id[it["item_id"]], predictions_by_id.get(it["item_id"]),
                        by_id.get(it["item_id"]), gold_info.get(it["item_id"])) for it in items]


def score_one(pred_sql: str | None, gold: dict, db_path: str | os.PathLike, engine: Any,
              timeout_s: float = DEFAULT_TIMEOUT_S, row_cap: int = DEFAULT_ROW_CAP, profile: str | None = None) -> dict:
    """One prediction against one gold record (for rewards); runs in a long-lived sandbox worker.
    `engine`: an `engines.SqlEngine`, or a dialect name (with `profile`, else the old-manifest rule)."""
    item = {"item_id": gold.get("item_id", "item"), "subject_id": gold.get("subject_id")}
    ctx = {"db_path": db_path, "engine": engine, "profile": profile, "timeout_s": timeout_s, "row_cap": row_cap}
    return score_items([item], {item["item_id"]: gold}, {item["item_id"]: pred_sql}, ctx)[0]


# ---------------------------------------------------------------------------------------------
# Aggregate


def aggregate(records: list[dict]) -> dict[str, float]:
    """Every metric of the sample: `aggregate_sums` on the summed `item_sums` (one formula per
    metric, shared with the bootstrap; medbench.tasks.sums)."""
    return aggregate_from_sums(records, item_sums, aggregate_sums)


# ---------------------------------------------------------------------------------------------
# The bootstrap's vectorised path: per-item statistics, and every metric from their sums

def item_sums(r: dict) -> dict[str, float]:
    """One record's additive statistics (what `aggregate_sums` needs); all exact in float64."""
    s, answerable, abstained = r["score"], bool(r["answerable"]), bool(r["abstained"])
    base = {
        "right": 1 if s > 0 else 0, "wrong": 1 if s < 0 else 0,
        "answerable": 1 if answerable else 0,
        "correct_answerable": 1 if (answerable and r["correct"]) else 0,
        "em": 1.0 if (answerable and r.get("em")) else 0.0,
        "token_f1": (r.get("token_f1") or 0.0) if answerable else 0.0,
        "unanswerable": 0 if answerable else 1,
        "abstained": 1 if abstained else 0,
        "abstained_unanswerable": 1 if (abstained and not answerable) else 0,
        "answered": 0 if abstained else 1,
        "executed": 1 if (not abstained and r["executed"]) else 0,
        "resource_limit": 1 if r.get("resource_limit") else 0,
    }
    group = SEEN_GROUPS.get(r.get("template_seen_in_train"))  # type: ignore[arg-type]
    if group is None:
        return base
    out = dict(base)
    out.update({f"{group}:{k}": v for k, v in base.items()})
    out[f"{group}:n"] = 1
    return out


def aggregate_sums(S, n):
    """`aggregate` on summed statistics, for a batch of bootstrap replicates at once; with
    template hold-out flags on the items, every metric also as `<metric>_seen` / `_unseen` (NaN,
    i.e. left out, in a sample without such items)."""
    import numpy as np

    out = _metrics(S, n)
    for group in SEEN_GROUPS.values():
        if f"{group}:n" not in S:
            continue
        ng = S[f"{group}:n"]
        sub = _metrics(_Prefixed(S, f"{group}:"), ng)
        for k, v in sub.items():
            out[f"{k}_{group}"] = np.where(ng > 0, v, np.nan)
    return out


class _Prefixed:
    """A SumTable view of the statistics named `prefix + name`."""

    def __init__(self, table, prefix: str):
        self._t, self._p = table, prefix

    def __getitem__(self, name: str):
        return self._t[self._p + name]


def _metrics(S, n):
    import numpy as np

    def pct(num, den):
        return np.divide(100.0 * num, den, out=np.zeros(np.broadcast(num, den).shape), where=den != 0)

    right, wrong = S["right"], S["wrong"]
    out = {f"rs{c}": pct(right - c * wrong, n) for c in RS_PENALTIES}
    out.update({
        "rsN": pct(right - n * wrong, n),
        "ex": pct(S["correct_answerable"], S["answerable"]),
        "valid_sql_rate": pct(S["executed"], S["answered"]),
        "abstention_precision": pct(S["abstained_unanswerable"], S["abstained"]),
        "abstention_recall": pct(S["abstained_unanswerable"], S["unanswerable"]),
        "em": pct(S["em"], S["answerable"]),
        "token_f1": pct(S["token_f1"], S["answerable"]),
        "answerable_share": pct(S["answerable"], n),
        "resource_limit_rate": pct(S["resource_limit"], n),
    })
    return out


def result_extras(records: list[dict], release: Any, split: str, official_denominator: bool = False) -> dict:
    """What the result records beside the metrics: `counts` (items stopped by a resource limit)
    and `excluded` (items of the source left out of the release, with the reason; with
    `official_denominator`, RS(c) as if each excluded item were in the denominator scoring 0)."""
    out: dict[str, Any] = {"counts": {"resource_limit": sum(1 for r in records if r.get("resource_limit"))}}
    info = ((getattr(release, "manifest", None) or {}).get("tasks") or {}).get("sql") or {}
    excluded = {k: int(v) for k, v in sorted((info.get("excluded") or {}).items()) if isinstance(v, int) and v}
    if excluded:
        reasons = {"needs_chartevents": "gold SQL reads the chartevents table, empty in this database",
                   "gold_sql_failed": "gold SQL failed on this database"}
        n_ex = sum(excluded.values())
        block: dict[str, Any] = {"n_excluded": n_ex, "by_reason": excluded,
                                 "reason": "; ".join(f"{n} {reasons.get(k, k)}" for k, n in excluded.items())}
        if official_denominator:
            n = len(records)
            right = sum(1 for r in records if (r.get("score") or 0) > 0)
            wrong = sum(1 for r in records if (r.get("score") or 0) < 0)
            total = n + n_ex
            block["official_denominator"] = {
                "n": total, **{f"rs{c}": 100.0 * (right - c * wrong) / total for c in RS_PENALTIES},
                "rsN": 100.0 * (right - total * wrong) / total}
        out["excluded"] = block
    return out
