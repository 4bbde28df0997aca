"""Leaderboard rendering (Jinja2, autoescaped) and atomic publishing.

Everything shown comes from stored result files; every string in them is untrusted (model names,
predictions, header params) and reaches HTML only through Jinja2's autoescaping — no `|safe` on
submission data, no data interpolated into scripts. Pages are self-contained (inline CSS, JS and
SVG) and carry a Content-Security-Policy that forbids any network fetch, so they work from
file:// offline. The same results always give the same bytes (no render timestamps, explicit
sort orders, fixed number formatting).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from medbench.io import atomic_dir, canonical_json
from medbench.scoring.results import RESULTS_DIR, load_results, result_path
from medbench.scoring.stats import MIN_PATIENTS_TO_RANK, assign_ranks, paired_ranks

TEMPLATES = Path(__file__).resolve().parent / "templates"
GENERATED = ("index.html", "submissions")  # rebuilt on every publish; everything else is kept
PUBLISH_LOCK_TIMEOUT_S = 600.0  # how long a publisher waits for another to finish
MAX_SHOWN_CHARS = 3000  # per cell on item pages; the result file keeps the full value

_ENV: Environment | None = None


def env() -> Environment:
    global _ENV
    if _ENV is None:
        _ENV = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True,
                           undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                           keep_trailing_newline=True)
    return _ENV


# ---------------------------------------------------------------- formatting

def fmt_num(v: Any, digits: int = 3) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    try:
        return f"{float(v):.{digits}f}"
    except (TypeError, ValueError):
        return str(v)


def sort_key(v: Any) -> str:
    """data-sort attribute: a plain number for numeric cells, '' for unknown (sorted last)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (int, float)):
        return repr(float(v))
    return str(v)


def shown(v: Any) -> str:
    """A value as display text: strings verbatim, others as indented JSON; clipped for the page."""
    if v is None:
        return ""
    text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, sort_keys=True, indent=1)
    if len(text) > MAX_SHOWN_CHARS:
        text = text[:MAX_SHOWN_CHARS] + f"\n… [{len(text) - MAX_SHOWN_CHARS} more characters in the result file]"
    return text


# ---------------------------------------------------------------- view model

def group_key(r: dict) -> tuple[str, str, str, str]:
    return (r["task"], r["benchmark"]["name"], r["benchmark"]["sha256"], r["split"])


def _row_order(r: dict, rank: int | None) -> tuple:
    v = r["headline"]["value"]
    signed = -v if (v is not None and r["headline"]["higher_is_better"]) else v
    return (rank is None, rank or 0, signed is None, signed or 0.0, r["model"], r["result_id"])


def rank_groups(results: list[dict]) -> list[dict]:
    """Results grouped by (task, release, split) with ranks; rows and groups in a fixed order."""
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        groups.setdefault(group_key(r), []).append(r)
    out = []
    for key in sorted(groups):
        members = sorted(groups[key], key=lambda r: r["result_id"])
        n_patients = max((_patients(r) for r in members), default=0)
        too_few = n_patients < MIN_PATIENTS_TO_RANK
        # below MIN_PATIENTS_TO_RANK the table is marked "too few patients to rank"; its ranks are
        # still computed (shown as provisional), so a rank never silently disappears
        ranks = _ranks(key[0], members)
        rows = sorted(zip(members, ranks), key=lambda p: _row_order(*p))
        out.append({"key": key, "rows": rows, "n_patients": n_patients, "too_few": too_few})
    return out


def _patients(r: dict) -> int:
    """Patients (bootstrap clusters) of a result: recorded, or counted from its records."""
    n = (r.get("bootstrap") or {}).get("clusters")
    if isinstance(n, int):
        return n
    recs = r.get("records") or []
    return len({("s", x["subject_id"]) if x.get("subject_id") is not None else ("i", k) for k, x in enumerate(recs)})


def _ranks(task: str, members: list[dict]) -> list[int | None]:
    """Paired-bootstrap ranks (`stats.paired_ranks`) when the family's metrics are sums of
    per-item statistics; the interval-overlap rule otherwise."""
    try:
        from medbench.tasks import get_family

        family = get_family(task)
        sums = (family.item_sums, family.aggregate_sums)
    except Exception:  # an unknown task, or a family without the sum path
        sums = None
    head = members[0]["headline"]
    if sums is not None and all(r.get("records") for r in members):
        boot = members[0].get("bootstrap") or {}
        return paired_ranks(members, sums[0], sums[1], head["name"], bool(head["higher_is_better"]),
                            n_resamples=int(boot.get("resamples") or 1000), seed=int(boot.get("seed") or 0))
    return assign_ranks([{**r["headline"], "complete": r["complete"]} for r in members])


def _tokens(usage: dict) -> int | None:
    vals = [usage.get("prompt_tokens"), usage.get("completion_tokens")]
    return sum(v for v in vals if v is not None) if any(v is not None for v in vals) else None


def _chart(rows: list[dict], higher_is_better: bool) -> dict:
    """Coordinates for the inline SVG: a dot per headline value with its interval as a bar."""
    width, label_w, row_h, pad = 720, 230, 24, 16
    vals = [x for r in rows for x in (r["value"], r["ci_low"], r["ci_high"]) if x is not None]
    lo, hi = min([0.0, *vals]), max([0.0, *vals])
    if hi - lo < 1e-12:
        hi = lo + 1.0
    plot_w = width - label_w - 2 * pad

    def x(v: float) -> str:
        return f"{label_w + pad + (v - lo) / (hi - lo) * plot_w:.2f}"

    bars = []
    for i, r in enumerate(rows):
        y = pad + i * row_h + row_h / 2
        bars.append({
            "y": f"{y:.2f}", "ytop": f"{y - 5:.2f}", "ybot": f"{y + 5:.2f}", "label": r["model"] if len(r["model"]) <= 32 else r["model"][:31] + "…",
            "x": x(r["value"]) if r["value"] is not None else None,
            "x1": x(r["ci_low"]) if r["ci_low"] is not None else None,
            "x2": x(r["ci_high"]) if r["ci_high"] is not None else None,
            "complete": r["complete"], "value": fmt_num(r["value"]),
            "ci": f"[{fmt_num(r['ci_low'])}, {fmt_num(r['ci_high'])}]",
        })
    height = 2 * pad + max(1, len(rows)) * row_h + 20
    ticks = [{"x": x(lo + (hi - lo) * k / 4), "label": fmt_num(lo + (hi - lo) * k / 4, 2)} for k in range(5)]
    return {"width": width, "height": height, "bars": bars, "ticks": ticks,
            "axis_y": f"{height - 20:.2f}", "top": pad, "label_x": label_w,
            "direction": "higher is better" if higher_is_better else "lower is better"}


def _index_metrics(task: str, rows: list) -> list[str]:
    """The columns of a task's index table: the family's `leaderboard_metrics` when it declares
    them (ICD has 30+ metrics; every one stays on the submission page), else all of them."""
    present = {m for r, _ in rows for m in r["metrics"]} - {rows[0][0]["headline"]["name"]}
    try:
        from medbench.tasks import get_family

        wanted = getattr(get_family(task), "leaderboard_metrics", None)
    except Exception:  # a result of a task this install does not know: show everything
        wanted = None
    if not wanted:
        return sorted(present)
    return [m for m in wanted if m in present]


def index_view(results: list[dict]) -> tuple[list[dict], dict[str, int | None]]:
    tables, ranks_by_id = [], {}
    for g in rank_groups(results):
        task, name, sha, split = g["key"]
        metric_names = _index_metrics(task, g["rows"])
        rows = []
        for r, rank in g["rows"]:
            ranks_by_id[r["result_id"]] = rank
            h = r["headline"]
            rows.append({
                "result_id": r["result_id"], "rank": rank, "model": r["model"],
                "value": h["value"], "ci_low": h["ci_low"], "ci_high": h["ci_high"],
                "metrics": [(m, r["metrics"].get(m)) for m in metric_names],
                "n_items": r["n_items"], "n_scored": r["n_items"] - r["n_missing"],
                "complete": r["complete"], "cost": r["usage"].get("cost_usd"), "n_patients": _patients(r),
                "tokens": _tokens(r["usage"]), "date": (r.get("created") or "")[:19],
            })
        head = g["rows"][0][0]["headline"]
        tables.append({
            "id": f"t-{task}-{sha[:8]}-{split}", "task": task, "release": name, "sha": sha,
            "split": split, "headline": head["name"], "higher_is_better": head["higher_is_better"],
            "metric_names": metric_names, "rows": rows, "chart": _chart(rows, head["higher_is_better"]),
            "n_patients": g["n_patients"], "too_few": g["too_few"],
            "n_excluded": max(((r.get("excluded") or {}).get("n_excluded") or 0 for r, _ in g["rows"]), default=0),
            "excluded_reason": next(((r.get("excluded") or {}).get("reason") for r, _ in g["rows"]
                                     if (r.get("excluded") or {}).get("reason")), None),
        })
    return tables, ranks_by_id


def _record_categories(rec: dict, dimension: str | None) -> list[str]:
    """The groups one record falls in: its `category`, or (dimension given) the string or list of
    strings under `categories[dimension]` (an item that reads two tables counts under both)."""
    if dimension is None:
        return [str(rec.get("category") or "(none)")]
    cats = rec.get("categories")
    val = cats.get(dimension) if isinstance(cats, dict) else None
    vals = val if isinstance(val, list) else [val]
    out = sorted({str(v) for v in vals if v is not None and v != ""})
    return out or ["(none)"]


def breakdown(records: list[dict], dimension: str | None = None) -> list[dict]:
    """Per category: items, correct, wrong (sorted by most wrong, then name). `dimension`: one of
    the records' extra `categories` (e.g. SQL "table", "family") instead of `category`."""
    total, right, wrong = Counter(), Counter(), Counter()
    for rec in records:
        for cat in _record_categories(rec, dimension):
            total[cat] += 1
            if rec.get("correct") is True:
                right[cat] += 1
            elif rec.get("correct") is False:
                wrong[cat] += 1
    rows = [{"category": c, "n": total[c], "correct": right[c], "wrong": wrong[c],
             "rate": right[c] / total[c] if total[c] else None} for c in total]
    return sorted(rows, key=lambda x: (-x["wrong"], x["category"]))


#: headings of the extra breakdowns; a dimension not listed here is shown under its own name
BREAKDOWN_TITLES = {"family": "template family", "table": "table"}


def breakdowns(records: list[dict]) -> list[dict]:
    """Every error breakdown of a submission page: by `category` first (SQL template, ICD chapter,
    conversation fact type), then one per key of the records' `categories` (SQL: template family,
    table), in a fixed order."""
    dims = sorted({k for rec in records if isinstance(rec.get("categories"), dict)
                   for k in rec["categories"] if isinstance(k, str)},
                  key=lambda k: (k not in BREAKDOWN_TITLES, list(BREAKDOWN_TITLES).index(k)
                                 if k in BREAKDOWN_TITLES else 0, k))
    out = [{"id": "category", "title": "category", "rows": breakdown(records), "multi": False}]
    for d in dims:
        multi = any(isinstance(rec.get("categories"), dict) and isinstance(rec["categories"].get(d), list)
                    and len(rec["categories"][d]) > 1 for rec in records)
        out.append({"id": d, "title": BREAKDOWN_TITLES.get(d, d), "rows": breakdown(records, d), "multi": multi})
    return out


def submission_view(r: dict, rank: int | None) -> dict:
    metrics = [{"name": m, "value": v, "interval": r["intervals"].get(m),
                "headline": m == r["headline"]["name"]} for m, v in sorted(r["metrics"].items())]
    items = [{
        "item_id": rec["item_id"], "subject_id": rec.get("subject_id"), "category": rec.get("category"),
        "correct": rec.get("correct"), "score": rec.get("score"), "input": shown(rec.get("input")),
        "gold": shown(rec.get("gold")), "prediction": shown(rec.get("prediction")),
        "error": shown(rec.get("error")), "missing": bool(rec.get("missing")),
    } for rec in r["records"]]
    n_wrong = sum(1 for rec in r["records"] if rec.get("correct") is False)
    return {"r": r, "rank": rank, "metrics": metrics, "items": items, "n_wrong": n_wrong,
            "breakdowns": breakdowns(r["records"]),
            "tokens": _tokens(r["usage"]),
            "header_json": shown({k: v for k, v in r["header"].items() if k != "type"})}


# ---------------------------------------------------------------- rendering and publishing

def render_site(results: list[dict], out_dir: str | Path, show_progress: bool = False) -> dict[str, int | None]:
    """Write index.html and submissions/*.html for `results` into `out_dir`; returns ranks by id."""
    out_dir = Path(out_dir)
    tables, ranks = index_view(results)
    (out_dir / "submissions").mkdir(parents=True, exist_ok=True)
    _write(out_dir / "index.html", env().get_template("index.html").render(
        tables=tables, n_results=len(results), fmt=fmt_num, sort_key=sort_key, min_patients=MIN_PATIENTS_TO_RANK))
    page = env().get_template("submission.html")
    ordered = sorted(results, key=lambda r: r["result_id"])
    if show_progress and len(ordered) > 1:
        from medbench.progress import progress_bar

        with progress_bar() as bar:
            t = bar.add_task("rendering submission pages", total=len(ordered))
            for r in ordered:
                _render_submission(page, r, ranks.get(r["result_id"]), out_dir)
                bar.advance(t)
    else:
        for r in ordered:
            _render_submission(page, r, ranks.get(r["result_id"]), out_dir)
    return ranks


def _render_submission(page, r: dict, rank: int | None, out_dir: Path) -> None:
    html = page.render(fmt=fmt_num, sort_key=sort_key, **submission_view(r, rank))
    _write(out_dir / "submissions" / f"{r['result_id']}.html", html)


def _write(path: Path, text: str) -> None:
    # Plain writes: the folder as a whole is swapped in atomically, and plain files get the
    # umask's permissions (mkstemp's 0600 would hide the site from a web server).
    path.write_bytes(text.encode("utf-8"))


def _carry_over(old: Path, new: Path) -> None:
    """Bring everything but the generated pages into the new folder. Hard links, not copies:
    stored files are only ever replaced (new inode), never edited in place, so sharing is safe."""
    def link_or_copy(src, dst):
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    for entry in sorted(old.iterdir()):
        if entry.name in GENERATED or entry.name.startswith("."):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, new / entry.name, copy_function=link_or_copy, symlinks=True)
        else:
            link_or_copy(entry, new / entry.name)


def publish_results(leaderboard: str | Path, new_results: list[dict],
                    show_progress: bool = False) -> dict[str, int | None]:
    """Add `new_results` to the store and re-render the whole site, atomically; returns ranks."""
    lb = Path(leaderboard)
    if lb.exists() and not lb.is_dir():
        from medbench.errors import UserError

        raise UserError(f"leaderboard path is not a folder: {lb}")
    # One publisher at a time: each one rebuilds the folder from what it finds, so two at once
    # would each swap in a copy without the other's result. The whole read-write-render-swap
    # runs under an exclusive lock on the folder's parent directory (the folder itself is
    # swapped out, and a lock file would be litter beside it).
    with publish_lock(lb):
        return _publish_locked(lb, new_results, show_progress)


@contextlib.contextmanager
def publish_lock(leaderboard: str | Path, timeout_s: float = PUBLISH_LOCK_TIMEOUT_S):
    """Exclusive inter-process lock (fcntl.flock) for publishing to `leaderboard`.

    Taken on the leaderboard's parent directory (so publishers to sibling folders also take
    turns, which costs nothing). Waits up to `timeout_s` for another publisher to finish, then
    raises UserError. The kernel releases the lock if its holder dies, so a crashed publisher
    never blocks the next one.
    """
    lb = Path(leaderboard)
    parent = lb.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: no inter-process lock available
        yield parent
        return
    fd = os.open(parent, os.O_RDONLY)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    from medbench.errors import UserError

                    raise UserError(f"another medbench is publishing to {lb} (waited {timeout_s:g} s for "
                                    f"the lock on {parent})") from None
                time.sleep(0.05)
        try:
            yield parent
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _sweep_dead_copies(lb: Path) -> None:
    """Temp copies `.<name>.*.tmp` / `.old` beside the leaderboard left by a killed publish: the
    publish lock is held here, so no live publisher owns one."""
    import re
    import shutil

    rx = re.compile(rf"^\.{re.escape(lb.name)}\.[^/]*\.(tmp|old)$")
    try:
        entries = list(lb.parent.iterdir())
    except OSError:
        return
    for p in entries:
        if rx.match(p.name) and p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)


def _publish_locked(lb: Path, new_results: list[dict], show_progress: bool) -> dict[str, int | None]:
    _sweep_dead_copies(lb)
    with atomic_dir(lb) as tmp:  # atomic_dir gives the folder plain mkdir permissions
        if lb.is_dir():
            _carry_over(lb, tmp)
        (tmp / RESULTS_DIR).mkdir(exist_ok=True)
        for r in new_results:
            _write(result_path(tmp, r["result_id"]), canonical_json(r, indent=2) + "\n")
        ranks = render_site(load_results(tmp), tmp, show_progress=show_progress)
    return ranks
