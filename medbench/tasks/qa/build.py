"""EHR record QA items: the SQL family's questions, answered from the rendered record.

`build_qa_task(ctx)`:
1. takes the sql family's output over the same build (`ctx.output_of("sql")`: the one this build
   made, or built for qa when qa is asked alone — the same items either way: same release
   database, templates, hold-out, slot filling, phrasing, unanswerable share and verification,
   params `seed`, `sql_unanswerable_share`, `sql_max_per_patient`, `sql_max_per_template`); keeps its patient-scoped
   questions only (a population-level template — `scope="population"`, or an item without a
   patient — asks about every patient of the release and cannot be answered from one patient's
   record: counted as `excluded_population_level`); and takes each kept answerable question's
   raw gold rows from the sql builder (`TaskOutput.internal["gold_rows"]`: what its gold query
   returned when the sql item was made), or, for an sql output without them, executes the gold
   SQL once more on the sql output's own release database (threads=1, as the sql builder);
2. keeps at most `QA_MAX_PER_PATIENT` (12; param `qa_max_per_patient`) of each patient's SQL
   questions, answerable and unanswerable alike: those first by sha256("medbench-qa|<sql item
   id>") — a deterministic sample that depends on the patient only, so the unanswerable share
   is the SQL task's in expectation. A qa item is ~15-50× an SQL item (its context; ≈ 26-53 KB on
   the synthetic data) and costs a model thousands of prompt tokens, so the family asks a sample
   of the questions, not all of them; every one still pairs with its sql item;
3. for every kept SQL question makes one qa item with `question_id` = the sql item's id (so the
   same question answered by SQL and by reading the record pairs up) and item id `qa-<same hex>`;
4. the context is the admission's packet rendered by `prompts/qa_context.j2` for a question that
   names an admission; for a patient-level question, every admission of the patient in the build,
   rendered and joined in hadm_id order. Each rendered packet is stored once, in the release's
   `qa/contexts.jsonl` keyed by hadm_id; the stored item names `context_hadm_ids` and the release
   reader joins them back (CONTEXT_RULE, release.py), so readers see the same `context`. A question whose patient has no admission in the build
   has no context and is not asked (counted as `dropped_no_context`; an answerable question whose
   gold first column is null, `dropped_null_answer`);
5. gold: the gold values (`answer.gold_values`) of the gold rows, the SQL canonical answer string,
   the expected answer type (`answer.answer_type`: declared per template, else inferred from the
   template's gold SQL or wording — every template has one, unanswerable ones too) and
   `answer_in_context` (`answer.answer_in_context`).

Context length: `context_chars` (characters) and `context_tokens` — the number of matches of the
regex `\\w+|[^\\w\\s]` (a word or one punctuation mark; no tokenizer download; English clinical
text gives roughly 1.0–1.3 such tokens per BPE token of GPT-style tokenizers — a stated
approximation, not a model's count), bucketed by `CONTEXT_BUCKETS`.

Like sql, the items depend on the whole build (the release database), so shards are rebuilt on
merge, not concatenated (no `shard_mergeable`).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
from jinja2 import Environment

from medbench.release import TaskOutput
from medbench.tasks.qa.answer import answer_in_context, answer_type, display, gold_values, norm_text

TASK = "qa"
QA_MAX_PER_PATIENT = 12
CONTEXT_TEMPLATE = "qa_context.j2"
CONTEXT_SEPARATOR = "\n\n"
#: how a stored item gets its context back (release.py, format 2): the rendered packets of its
#: `context_hadm_ids` (each without its final newline), joined by CONTEXT_SEPARATOR, plus "\n"
CONTEXT_RULE = {"field": "context", "key": "context_hadm_ids", "join": CONTEXT_SEPARATOR, "end": "\n"}
TOKEN_RULE = r"\w+|[^\w\s]"
_TOKEN = re.compile(TOKEN_RULE)
#: (upper bound in context_tokens inclusive or None, bucket name), in order
CONTEXT_BUCKETS: tuple[tuple[int | None, str], ...] = (
    (2000, "le2k"), (8000, "2k_8k"), (32000, "8k_32k"), (None, "gt32k"))


def count_tokens(text: str) -> int:
    """Approximate tokens of a context (module docstring)."""
    return _TOKEN.subn("", text)[1]  # the number of matches (~20% cheaper than a findall list)


def context_bucket(tokens: int) -> str:
    for bound, name in CONTEXT_BUCKETS:
        if bound is None or tokens <= bound:
            return name
    raise AssertionError("unreachable")


def _text_or_blank(x: Any) -> str:
    """The template's `x|v`: what `{{ x }}` writes, "" for a null (str() is Jinja's own
    conversion with autoescape off, so `x|v or "..."` tests the text, as the macro did)."""
    return "" if x is None else str(x)


class _RecordEnvironment(Environment):
    """prompt_env's settings; `p.field` looks a dict's key up first. Jinja's default tries the
    attribute first, and for a packet dict that is an AttributeError raised and caught per field
    (~1.8 M for 750 admissions): a dict method name would win over a key of that name there,
    here the key does — qa_context.j2 names no field after a dict method."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


@functools.cache
def _context_template():
    from medbench.tasks.base import prompt_env

    base = prompt_env()
    env = _RecordEnvironment(loader=base.loader, undefined=base.undefined,
                             keep_trailing_newline=base.keep_trailing_newline, trim_blocks=base.trim_blocks,
                             lstrip_blocks=base.lstrip_blocks, autoescape=base.autoescape)
    env.filters["v"] = _text_or_blank
    return env.get_template(CONTEXT_TEMPLATE)


def render_context(packet: dict) -> str:
    """One admission's packet as text (prompts/qa_context.j2)."""
    return _context_template().render(p=packet).strip() + "\n"


def qa_item_id(sql_item_id: str) -> str:
    assert sql_item_id.startswith("sql-"), sql_item_id
    return f"{TASK}-{sql_item_id[len('sql-'):]}"


def _patient_groups(sql: TaskOutput, counts: dict, with_rows: bool = True) -> Iterator[list[tuple[dict, dict, Any]]]:
    """The sql output's patient-scoped (item, gold, raw gold rows) triples, one list per patient
    (the sql builder adds a patient's records together, patients in subject_id order: checked),
    read from its spools. The raw rows are the sql builder's (`internal["gold_rows"]`), or None
    where it kept none (an output not built in this process). Population-level questions
    (counts/averages over every patient of the release) cannot be answered from one patient's
    record: not asked, counted in counts["population"]."""
    from medbench.tasks.sql.templates import TEMPLATES

    scope = {t.name: getattr(t, "scope", "patient") for t in TEMPLATES}
    group: list[tuple[dict, dict, Any]] = []
    done: set[int] = set()
    raw = (getattr(sql, "internal", None) or {}).get("gold_rows") if with_rows else None
    rows_of = iter(raw) if raw is not None else itertools.repeat(None)
    for it, g in zip(sql.items, sql.gold, strict=True):
        rows = next(rows_of)
        if it.get("subject_id") is None or scope.get(g["template"], "patient") != "patient":
            counts["population"] += 1
            continue
        sid = int(it["subject_id"])
        if group and int(group[0][0]["subject_id"]) != sid:
            done.add(int(group[0][0]["subject_id"]))
            yield group
            group = []
        if sid in done:
            raise ValueError(f"qa: the sql items of patient {sid} are not consecutive")
        group.append((it, g, rows))
    if group:
        yield group


def _release_db(ctx: Any, sql: TaskOutput, work: Path) -> duckdb.DuckDBPyConnection:
    """The sql output's own release database (its Parquet files, materialised in this workdir),
    threads=1 as the sql builder and the scorer's sandbox run, so aggregates sum in one order."""
    from medbench.config import duckdb_memory_settings
    from medbench.tasks.sql.schema import DB_DIR, materialise_db

    db_dir = work / DB_DIR
    db_dir.mkdir(parents=True, exist_ok=True)
    for rel, src in sorted((sql.files or {}).items()):
        if rel.startswith(f"{DB_DIR}/") and rel.endswith(".parquet"):
            dest = db_dir / rel[len(DB_DIR) + 1:]
            if isinstance(src, bytes):
                dest.write_bytes(src)
            else:
                shutil.copyfile(src, dest)
    db_path = materialise_db(db_dir, work / "release.duckdb")
    return duckdb.connect(str(db_path), read_only=True, config={"threads": 1, **duckdb_memory_settings()})


class _Contexts:
    """Rendered packets (`render_context`) of the wanted admissions, rendered once in one pass
    over the build's packets and kept in a scratch file indexed by hadm_id (issue 12: not the
    whole release's text in memory)."""

    def __init__(self, ctx: Any, hadm_ids: set[int], path: Path):
        from medbench.io import IntKeyTable

        # hadm_id -> (offset, length, tokens), flat (io.IntKeyTable): ~24 bytes an admission
        self.path, self.index = path, IntKeyTable(3)
        with open(path, "wb") as f:
            for pk in ctx.iter_packet_dicts(sorted(hadm_ids)):
                text = render_context(pk)
                data = text.encode("utf-8")
                # no token spans the whitespace that joins admissions (CONTEXT_SEPARATOR, "\n"):
                # a joined context's count is the sum of its admissions' counts
                self.index.add(int(pk["hadm_id"]), f.tell(), len(data), count_tokens(text))
                f.write(data)
        self._f = open(path, "rb")  # noqa: SIM115 (closed by close())

    def __contains__(self, hadm: int) -> bool:
        return hadm in self.index

    def tokens(self, hadm: int) -> int:
        return self.index[hadm][2]

    def __getitem__(self, hadm: int) -> str:
        off, n, _ = self.index[hadm]
        self._f.seek(off)
        return self._f.read(n).decode("utf-8")

    def close(self) -> None:
        self._f.close()


def sample_per_patient(items: list[dict], cap: int) -> set[str]:
    """The item ids of at most `cap` questions per patient (module docstring, step 2)."""
    by_patient: dict[int, list[str]] = {}
    for it in items:
        by_patient.setdefault(int(it["subject_id"]), []).append(it["item_id"])
    keep: set[str] = set()
    for ids in by_patient.values():
        ids.sort(key=lambda i: (hashlib.sha256(f"medbench-qa|{i}".encode()).hexdigest(), i))
        keep.update(ids[:cap])
    return keep


def build_qa_task(ctx: Any) -> TaskOutput:
    """The qa items (module docstring), streamed: one patient's sql questions at a time, records
    to the build's spools (memory does not grow with the release)."""
    work = Path(ctx.workdir)
    cap = int((getattr(ctx, "params", None) or {}).get("qa_max_per_patient", QA_MAX_PER_PATIENT))
    sql = ctx.output_of("sql")
    sql_info = {k: sql.info[k] for k in ("templates_available", "unanswerable_templates_available",
                                         "dropped_empty", "unanswerable_dropped_verified") if k in (sql.info or {})}
    admissions: dict[int, list[int]] = {}
    for sid, hadm, *_ in ctx.admissions():
        admissions.setdefault(int(sid), []).append(int(hadm))

    def kept(group: list[tuple[dict, dict, Any]]) -> list[tuple[dict, dict, Any]]:
        keep = sample_per_patient([it for it, _, _ in group], cap)
        return [x for x in group if x[0]["item_id"] in keep]

    def hadms_of(it: dict) -> list[int]:
        hadm = it.get("hadm_id")
        return [int(hadm)] if hadm is not None else sorted(admissions.get(int(it["subject_id"]), []))

    # pass 1: which admissions the kept questions need (a context is rendered once per admission)
    counts = {"population": 0}
    wanted: set[int] = set()
    n_questions = n_kept = 0
    for group in _patient_groups(sql, counts, with_rows=False):
        n_questions += len(group)
        chosen = kept(group)
        n_kept += len(chosen)
        for it, _, _ in chosen:
            wanted.update(hadms_of(it))
    sql_info["excluded_population_level"] = counts["population"]
    over_cap = n_questions - n_kept
    contexts = _Contexts(ctx, wanted, work / "contexts.txt")
    spool = getattr(ctx, "spool", None)
    items = spool("items", TASK) if spool else []
    gold = spool("gold") if spool else []
    add_item = items.append if isinstance(items, list) else items.add
    add_gold = gold.append if isinstance(gold, list) else gold.add
    # each admission's rendered record is stored once (the release's qa/contexts.jsonl, CONTEXT_RULE)
    stored = ctx.context_spool() if hasattr(ctx, "context_spool") else {}
    add_context = stored.setdefault if isinstance(stored, dict) else stored.add
    no_context = null_answer = n_items = n_un = max_tokens = 0
    by_type: dict[str, int] = {}
    by_bucket: dict[str, int] = {name: 0 for _, name in CONTEXT_BUCKETS}
    in_context = 0
    con = None
    try:
        # pass 2: one patient at a time; only the kept answerable questions' gold SQL is run
        for group in _patient_groups(sql, {"population": 0}):
            joined: dict[tuple, tuple] = {}  # hadm_ids -> (context, tokens, normalised or None)
            for it, g, rows in kept(group):
                hadm = it.get("hadm_id")
                hadms = [h for h in hadms_of(it) if h in contexts]
                if not hadms:
                    no_context += 1
                    continue
                # a patient's questions share contexts (every patient-level one has all of the
                # patient's admissions): joined, counted and normalised once per patient and set
                key = tuple(hadms)
                if key not in joined:
                    text = CONTEXT_SEPARATOR.join(contexts[h].rstrip("\n") for h in hadms) + "\n"
                    joined[key] = (text, sum(contexts.tokens(h) for h in hadms), None)
                context, tokens, normed = joined[key]
                typ = answer_type(g["template"])
                values = None
                if g["answerable"]:
                    if rows is None:  # no raw rows from the sql builder: run its gold SQL again
                        if con is None:
                            con = _release_db(ctx, sql, work)
                        rows = con.execute(g["sql"]).fetchall()
                    values = gold_values(rows, typ)
                if g["answerable"] and not values:  # a null first column: nothing a reader could say
                    null_answer += 1
                    continue
                if values and normed is None:
                    normed = norm_text(context)
                    joined[key] = (context, tokens, normed)
                found = bool(values) and answer_in_context(values, typ, normed)
                qid = qa_item_id(it["item_id"])
                add_item({"item_id": qid, "task": TASK, "split": it["split"], "subject_id": it["subject_id"],
                          "hadm_id": hadm, "question_id": it["item_id"], "question": it["question"],
                          "template_seen_in_train": bool(it["template_seen_in_train"]), "answer_type": typ,
                          "context_hadm_ids": hadms, "context_chars": len(context),
                          "context_tokens": tokens, "context_bucket": context_bucket(tokens)})
                add_gold({"item_id": qid, "task": TASK, "question_id": it["item_id"], "answerable": g["answerable"],
                          "answer": values, "answer_text": display(values) if values else None,
                          "sql_answer": g["answer"], "answer_type": typ, "answer_in_context": found,
                          "template": g["template"], "family": g["family"], "slots": g["slots"],
                          "question": it["question"]})
                for h in hadms:
                    add_context(h, contexts[h].rstrip("\n"))
                n_items += 1
                n_un += int(not g["answerable"])
                max_tokens = max(max_tokens, tokens)
                by_type[typ] = by_type.get(typ, 0) + 1
                by_bucket[context_bucket(tokens)] += 1
                in_context += int(found)
    finally:
        contexts.close()
        if con is not None:
            con.close()
    info = {
        **sql_info,
        "questions": "the sql task's (same templates, slots, phrasings and hold-out; question_id = sql item_id)",
        "context": "rendered packets (prompts/qa_context.j2): the admission's, or the patient's joined by hadm_id",
        "context_tokens_rule": f"regex {TOKEN_RULE} matches",
        "context_buckets": {name: bound for bound, name in CONTEXT_BUCKETS},
        "by_context_bucket": by_bucket,
        "by_answer_type": dict(sorted(by_type.items())),
        "answerable": n_items - n_un,
        "unanswerable": n_un,
        "answer_in_context": in_context,
        "max_per_patient": cap,
        "sql_questions_not_sampled": over_cap,
        "dropped_no_context": no_context,
        "dropped_null_answer": null_answer,
        "max_context_tokens": max_tokens,
    }
    return TaskOutput(items=items, gold=gold, info=info, contexts=stored, context=CONTEXT_RULE)
