"""EHR record QA items: the SQL family's questions, answered from the rendered record.

`build_qa_task(ctx)`:
1. takes the sql family's output over the same build (`ctx.output_of("sql")`: the one this build
   made, or built for qa when qa is asked alone — the same items either way: same release
   database, templates, hold-out, slot filling, phrasing, unanswerable share and verification,
   params `seed`, `sql_unanswerable_share`, `sql_max_per_patient`); keeps its patient-scoped
   questions only (a population-level template — `scope="population"`, or an item without a
   patient — asks about every patient of the release and cannot be answered from one patient's
   record: counted as `excluded_population_level`); and executes each kept answerable question's
   gold SQL once more on the sql output's own release database (threads=1, as the sql builder)
   for the raw rows;
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

import hashlib
import re
import shutil
from pathlib import Path
from typing import Any

import duckdb

from medbench.release import TaskOutput
from medbench.tasks.base import render_template
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
    return sum(1 for _ in _TOKEN.finditer(text))


def context_bucket(tokens: int) -> str:
    for bound, name in CONTEXT_BUCKETS:
        if bound is None or tokens <= bound:
            return name
    raise AssertionError("unreachable")


def render_context(packet: dict) -> str:
    """One admission's packet as text (prompts/qa_context.j2)."""
    return render_template(CONTEXT_TEMPLATE, p=packet).strip() + "\n"


def qa_item_id(sql_item_id: str) -> str:
    assert sql_item_id.startswith("sql-"), sql_item_id
    return f"{TASK}-{sql_item_id[len('sql-'):]}"


def _sql_questions(ctx: Any, work: Path) -> tuple[list[dict], list[dict], dict[str, list], dict]:
    """The sql family's patient-level items and gold of this build (`ctx.output_of("sql")`), with
    each answerable gold query's raw rows, executed on the sql output's own release database."""
    from medbench.tasks.sql.schema import DB_DIR, materialise_db
    from medbench.tasks.sql.templates import TEMPLATES

    sql = ctx.output_of("sql")
    scope = {t.name: getattr(t, "scope", "patient") for t in TEMPLATES}
    pairs, population = [], 0
    for it, g in zip(sql.items, sql.gold):
        # population-level questions (counts/averages over every patient of the release) cannot
        # be answered from one patient's record: not asked (docs/METRICS.md, qa)
        if it.get("subject_id") is None or scope.get(g["template"], "patient") != "patient":
            population += 1
            continue
        pairs.append((it, g))
    db_dir = work / DB_DIR
    db_dir.mkdir(parents=True, exist_ok=True)
    for rel, src in sorted((sql.files or {}).items()):
        if rel.startswith(f"{DB_DIR}/") and rel.endswith(".parquet"):
            dest = db_dir / rel[len(DB_DIR) + 1:]
            if isinstance(src, bytes):
                dest.write_bytes(src)
            else:
                shutil.copyfile(src, dest)
    rows: dict[str, list] = {}
    if any(g["answerable"] for _, g in pairs):
        db_path = materialise_db(db_dir, work / "release.duckdb")
        # threads=1 as the sql builder and the scorer's sandbox run, so aggregates sum in one order
        con = duckdb.connect(str(db_path), read_only=True, config={"threads": 1})
        try:
            for it, g in pairs:
                if g["answerable"]:
                    rows[it["item_id"]] = con.execute(g["sql"]).fetchall()
        finally:
            con.close()
    info = {k: sql.info[k] for k in ("templates_available", "unanswerable_templates_available",
                                     "dropped_empty", "unanswerable_dropped_verified") if k in (sql.info or {})}
    info["excluded_population_level"] = population
    return [p[0] for p in pairs], [p[1] for p in pairs], rows, info


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
    work = Path(ctx.workdir)
    cap = int((getattr(ctx, "params", None) or {}).get("qa_max_per_patient", QA_MAX_PER_PATIENT))
    sql_items, sql_gold, rows, sql_info = _sql_questions(ctx, work)
    keep = sample_per_patient(sql_items, cap)
    over_cap = len(sql_items) - len(keep)
    pairs = [(it, g) for it, g in zip(sql_items, sql_gold) if it["item_id"] in keep]
    sql_items, sql_gold = [p[0] for p in pairs], [p[1] for p in pairs]
    admissions: dict[int, list[int]] = {}
    for sid, hadm, *_ in ctx.admissions():
        admissions.setdefault(int(sid), []).append(int(hadm))
    wanted: set[int] = set()
    for it in sql_items:
        wanted.update([int(it["hadm_id"])] if it.get("hadm_id") is not None
                      else admissions.get(int(it["subject_id"]), []))
    rendered: dict[int, str] = {int(pk["hadm_id"]): render_context(pk) for pk in ctx.iter_packet_dicts(sorted(wanted))}

    items, gold = [], []
    contexts: dict[int, str] = {}  # hadm_id -> rendered packet, stored once (CONTEXT_RULE)
    no_context = null_answer = 0
    by_type: dict[str, int] = {}
    by_bucket: dict[str, int] = {name: 0 for _, name in CONTEXT_BUCKETS}
    in_context = 0
    for it, g in zip(sql_items, sql_gold):
        hadm = it.get("hadm_id")
        hadms = [int(hadm)] if hadm is not None else sorted(admissions.get(int(it["subject_id"]), []))
        hadms = [h for h in hadms if h in rendered]
        if not hadms:
            no_context += 1
            continue
        context = CONTEXT_SEPARATOR.join(rendered[h].rstrip("\n") for h in hadms) + "\n"  # = CONTEXT_RULE's
        tokens = count_tokens(context)
        typ = answer_type(g["template"])
        values = gold_values(rows[it["item_id"]], typ) if g["answerable"] else None
        if g["answerable"] and not values:  # a null first column: nothing a reader could say
            null_answer += 1
            continue
        found = bool(values) and answer_in_context(values, typ, norm_text(context))
        qid = qa_item_id(it["item_id"])
        items.append({"item_id": qid, "task": TASK, "split": it["split"], "subject_id": it["subject_id"],
                      "hadm_id": hadm, "question_id": it["item_id"], "question": it["question"],
                      "template_seen_in_train": bool(it["template_seen_in_train"]), "answer_type": typ,
                      "context_hadm_ids": hadms, "context_chars": len(context),
                      "context_tokens": tokens, "context_bucket": context_bucket(tokens)})
        gold.append({"item_id": qid, "task": TASK, "question_id": it["item_id"], "answerable": g["answerable"],
                     "answer": values, "answer_text": display(values) if values else None,
                     "sql_answer": g["answer"], "answer_type": typ, "answer_in_context": found,
                     "template": g["template"], "family": g["family"], "slots": g["slots"],
                     "question": it["question"]})
        for h in hadms:
            contexts[h] = rendered[h].rstrip("\n")
        by_type[typ] = by_type.get(typ, 0) + 1
        by_bucket[context_bucket(tokens)] += 1
        in_context += int(found)
    n_un = sum(1 for x in gold if not x["answerable"])
    info = {
        **sql_info,
        "questions": "the sql task's (same templates, slots, phrasings and hold-out; question_id = sql item_id)",
        "context": "rendered packets (prompts/qa_context.j2): the admission's, or the patient's joined by hadm_id",
        "context_tokens_rule": f"regex {TOKEN_RULE} matches",
        "context_buckets": {name: bound for bound, name in CONTEXT_BUCKETS},
        "by_context_bucket": by_bucket,
        "by_answer_type": dict(sorted(by_type.items())),
        "answerable": len(gold) - n_un,
        "unanswerable": n_un,
        "answer_in_context": in_context,
        "max_per_patient": cap,
        "sql_questions_not_sampled": over_cap,
        "dropped_no_context": no_context,
        "dropped_null_answer": null_answer,
        "max_context_tokens": max((x["context_tokens"] for x in items), default=0),
    }
    return TaskOutput(items=items, gold=gold, info=info, contexts=contexts, context=CONTEXT_RULE)
