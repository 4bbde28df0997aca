"""Gold facts a faithful conversation should cover, and the entity lexicon for invented ones.

Matching is lexical on normalised text (lower case, every non-alphanumeric run → one space): a
surface form is "mentioned" when it occurs between word boundaries. Surface forms are derived
deterministically from the packet's own strings (drug names without strengths and dosage forms,
lab labels and their abbreviations, ICD titles without qualifiers such as ", unspecified").

The lexicon is "entities known to the database": the most frequent medications, lab tests and
diagnosis titles of the whole store (not the build's patients, so a shard builds the same gold
as a full build), `LEXICON_SIZE` per kind. Per item it is split into `lexicon` (entries whose
forms do not occur anywhere in the packet's text: mentioning one is an invented entity) and
`grounded` (the packet's own entities: mentioning one is grounded). Only these are checked, which
keeps scoring fast; an invented entity outside the lexicon goes unseen (a documented limit).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable

FACT_TYPES = ("diagnosis", "medication", "abnormal_lab", "procedure", "microbiology", "disposition")
ENTITY_KINDS = ("medications", "labs", "diagnoses")
LEXICON_SIZE = 150
CAPS = {"diagnosis": 10, "medication": 15, "abnormal_lab": 10, "procedure": 5, "microbiology": 5}
MIN_FORM_LEN = 3

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_PAREN = re.compile(r"\([^)]*\)|\[[^\]]*\]")
# Strengths, units and dosage forms: not part of what a clinician says a drug is called.
_MED_NOISE = {
    "mg", "mcg", "g", "gm", "ml", "l", "meq", "unit", "units", "tab", "tablet", "tablets", "cap",
    "capsule", "capsules", "cream", "ointment", "gel", "lotion", "solution", "soln", "susp",
    "suspension", "syrup", "neb", "nebulizer", "inhaler", "inh", "patch", "vial", "bag", "flush",
    "injection", "inj", "iv", "po", "pr", "sc", "sq", "im", "ivpb", "oral", "liquid", "drops", "ophth",
    "ophthalmic", "nasal", "spray", "topical", "er", "sr", "xl", "dr", "ec", "premix", "pf", "in",
    "d5w", "ns", "protocol", "ciwa", "sliding", "scale", "enema", "powder", "chewable", "extended",
    "release", "delayed", "odt",
}
# Salt and ion words: dropped from a name ("metoprolol tartrate" -> "metoprolol") unless nothing
# else is left ("potassium chloride" stays whole).
_SALTS = {
    "sodium", "potassium", "calcium", "magnesium", "hcl", "hydrochloride", "tartrate", "succinate",
    "sulfate", "bromide", "propionate", "acetate", "chloride", "gluconate", "phosphate",
    "bicarbonate", "citrate", "carbonate", "oxide", "nacl",
}
# Vehicles and flushes: in almost every admission, never what a conversation is about.
_MED_SKIP = {"sodium chloride", "dextrose", "sterile water", "water", "lactated ringers", "heparin flush",
             "syringe", "bag", "vial", "", "neutra phos", "sw", "iso osmotic dextrose",
             "iso osmotic sodium chloride", "soln", "influenza vaccine"}
_DX_QUALIFIERS = re.compile(r"\b(?:unspecified|not elsewhere classified|nec|nos|initial encounter|"
                            r"subsequent encounter|without complication|uncomplicated)\b")
_LAB_SYNONYMS = {
    "white blood cells": ["wbc", "white count", "white blood cell"],
    "hemoglobin": ["hgb"], "hematocrit": ["hct"], "platelet count": ["platelets", "platelet"],
    "urea nitrogen": ["bun"], "creatinine": ["creat"], "glucose": ["blood sugar"],
    "potassium": ["potassium"], "sodium": ["sodium"], "lactate": ["lactic acid"],
    "troponin t": ["troponin"], "ntprobnp": ["bnp"],
}
_DISPOSITION = {
    "home": ["home"], "home health care": ["home health", "home with services", "visiting nurse"],
    "skilled nursing facility": ["skilled nursing", "nursing facility", "snf", "rehab"],
    "rehab": ["rehab", "rehabilitation"], "died": ["died", "passed away", "death"],
    "hospice": ["hospice"], "against advice": ["against medical advice"],
    "chronic long term acute care": ["long term acute care", "long term care", "ltach"],
    "acute hospital": ["another hospital", "transfer"], "psych facility": ["psychiatric"],
    "assisted living": ["assisted living"], "other facility": ["facility"],
    "healthcare facility": ["facility"],
}


def norm(text: str | None) -> str:
    return " ".join(_NON_ALNUM.split((text or "").lower())).strip()


def mention_text(text: str) -> str:
    """Padded normalised text: `f' {form} ' in mention_text(t)` is a whole-word match."""
    return f" {norm(text)} "


def mentioned(forms: Iterable[str], padded: str) -> bool:
    return any(f" {f} " in padded for f in forms if f)


def mentioned_in_words(forms: Iterable[str], padded: str, words: frozenset[str]) -> bool:
    """`mentioned(forms, padded)` for a long text, given `words = frozenset(padded.split())`:
    ' f ' can only occur in the padded text if every word of f is one of its words, so most
    forms are ruled out by set lookups before the substring scan (the whole record of an
    admission, notes included, is scanned once per lexicon form otherwise)."""
    return any(f" {f} " in padded for f in forms if f and words.issuperset(f.split()))


def _dedupe(forms: Iterable[str]) -> list[str]:
    out: list[str] = []
    for f in forms:
        if len(f) >= MIN_FORM_LEN and f not in out:
            out.append(f)
    return out


def _memo_forms(fn: Callable[[str | None], list[str]]) -> Callable[[str | None], list[str]]:
    """Memoise a surface-form function of one string (a packet repeats the same lab label or
    drug name hundreds of times); each call still returns a fresh list."""
    cached = functools.lru_cache(maxsize=1 << 16)(lambda text: tuple(fn(text)))

    @functools.wraps(fn)
    def forms(text: str | None) -> list[str]:
        return list(cached(text))

    return forms


def med_name(drug: str | None) -> str:
    """'Metoprolol Tartrate 25 mg Tab' -> 'metoprolol'; '' for vehicles and flushes."""
    toks = [t for t in norm(_PAREN.sub(" ", drug or "")).split()
            if t not in _MED_NOISE and not any(ch.isdigit() for ch in t)]
    core = [t for t in toks if t not in _SALTS]
    name = " ".join(core or toks)
    return "" if name in _MED_SKIP else name


@_memo_forms
def med_forms(drug: str | None) -> list[str]:
    name = med_name(drug)
    if not name:
        return []
    forms = [name]
    first = name.split()[0]
    if len(first) >= 5 and first not in _SALTS:  # the generic name alone ("insulin glargine" -> "insulin")
        forms.append(first)
    return _dedupe(forms)


@_memo_forms
def lab_forms(label: str | None) -> list[str]:
    base = norm(_PAREN.sub(" ", label or ""))
    abbrevs = [norm(m)[:20] for m in re.findall(r"\(([^)]*)\)", label or "")]
    head = norm((label or "").split(",")[0]) if "," in (label or "") else ""
    forms = [base, head, *(a for a in abbrevs if len(a) >= 3), *_LAB_SYNONYMS.get(base, [])]
    return _dedupe(forms)


_STOP = {"of", "the", "and", "with", "without", "to", "in", "on", "due", "or", "for", "by", "as", "at",
         "a", "an", "other", "unspecified", "specified", "mention", "into", "from", "not"}
# Words too generic to identify a condition or procedure on their own.
_GENERIC = {"disorder", "disorders", "disease", "diseases", "failure", "infection", "syndrome",
            "procedure", "procedures", "device", "status", "history", "use", "patient", "cause",
            "encounter", "condition", "conditions", "complication", "complications", "type", "site",
            "part", "organ", "structure", "system", "state", "stage", "external", "place",
            "occurrence", "approach", "percutaneous", "open", "left", "right", "acute", "chronic"}


def _strip_stop(words: list[str]) -> list[str]:
    while words and words[0] in _STOP:
        words = words[1:]
    while words and words[-1] in _STOP:
        words = words[:-1]
    return words


def _informative(form: str) -> bool:
    return any(w not in _STOP and w not in _GENERIC for w in form.split())


@_memo_forms
def dx_forms(title: str | None) -> list[str]:
    """'Hypothyroidism, unspecified' -> ['hypothyroidism']; 'Essential (primary) hypertension'
    -> ['essential hypertension', 'hypertension']: the title without qualifiers, its head (cut at
    'with'/'without'/'due to') and the head's last two words (or last word of a two-word head)."""
    t = _PAREN.sub(" ", (title or "").lower())
    core_words = _strip_stop(norm(_DX_QUALIFIERS.sub(" ", t.split(",")[0])).split())
    core = " ".join(core_words)
    head = re.split(r" (?:without|with|due to) ", core)[0]
    hw = _strip_stop(head.split())
    forms = [core, " ".join(hw)]
    if len(hw) >= 3 and not core.startswith(("personal history", "family history", "long term")):
        tail = _strip_stop(hw[-2:])
        if len(tail) == 2 and len(" ".join(tail)) >= 8:
            forms.append(" ".join(tail))
    if len(hw) == 2 and len(hw[-1]) >= 7:
        forms.append(hw[-1])
    return _dedupe(f for f in forms if _informative(f))


def org_forms(org: str | None) -> list[str]:
    name = norm(_PAREN.sub(" ", org or ""))
    if not name or name.startswith(("no ", "negative")):
        return []
    forms = [name]
    words = name.split()
    if len(words) >= 2 and len(words[0]) >= 6:
        forms += [words[0], f"{words[0][0]} {words[1]}"]  # genus; 'e coli'
    return _dedupe(forms)


def disposition_forms(location: str | None, died: bool) -> list[str]:
    if died:
        return _DISPOSITION["died"]
    return _dedupe(_DISPOSITION.get(norm(location), [norm(location)] if location else []))


def _external_cause(code: str | None, version: int | None) -> bool:
    """External-cause and place-of-occurrence codes (ICD-10 V-Y, ICD-9 E): never conversation
    material."""
    c = (code or "").strip().upper()
    return bool(c) and (c[0] in "VWXY" if version == 10 else c[0] == "E")


def _cap(facts: list[dict], kind: str) -> list[dict]:
    return facts[:CAPS[kind]] if kind in CAPS else facts


def gold_facts(pk: dict) -> list[dict]:
    """Typed facts of one packet (dict), in FACT_TYPES order then packet order; capped per type."""
    facts: list[dict] = []
    seen: set[str] = set()

    def add(kind: str, fid: str, text: str, forms: list[str], bucket: list[dict]) -> None:
        if forms and fid not in seen:
            seen.add(fid)
            bucket.append({"type": kind, "id": fid, "text": text, "surface_forms": forms})

    dx: list[dict] = []
    for d in sorted(pk.get("diagnoses", []), key=lambda d: (d.get("seq_num") or 0, d.get("icd_code") or "")):
        if _external_cause(d.get("icd_code"), d.get("icd_version")):
            continue
        add("diagnosis", f"dx:{d.get('icd_version')}:{d.get('icd_code')}", d.get("title") or "",
            dx_forms(d.get("title")), dx)
    meds: list[dict] = []
    for r in pk.get("prescriptions", []):
        name = med_name(r.get("drug"))
        add("medication", f"med:{name}", r.get("drug") or "", med_forms(r.get("drug")), meds)
    labs: list[dict] = []
    for lab in pk.get("labs", []):
        if lab.get("flag"):
            add("abnormal_lab", f"lab:{lab.get('itemid')}", f"abnormal {lab.get('label')}",
                lab_forms(lab.get("label")), labs)
    procs: list[dict] = []
    for p in pk.get("procedures", []):
        add("procedure", f"proc:{p.get('icd_version')}:{p.get('icd_code')}", p.get("title") or "",
            dx_forms(p.get("title")), procs)
    micro: list[dict] = []
    for m in pk.get("microbiology", []):
        add("microbiology", f"micro:{norm(m.get('org_name'))}", f"{m.get('org_name')} in "
            f"{(m.get('spec_type_desc') or 'culture').lower()}", org_forms(m.get("org_name")), micro)
    dispo: list[dict] = []
    adm = pk.get("admission", {})
    died = bool(adm.get("deathtime")) or adm.get("hospital_expire_flag") == 1
    loc = adm.get("discharge_location")
    add("disposition", f"dispo:{norm(loc) if not died else 'died'}",
        "died in hospital" if died else f"discharged to {(loc or '').lower()}",
        disposition_forms(loc, died), dispo)
    for kind, bucket in zip(FACT_TYPES, (dx, meds, labs, procs, micro, dispo), strict=True):
        facts += _cap(bucket, kind)
    return facts


# ----------------------------------------------------------------------------- lexicon


def store_lexicon(store, size: int = LEXICON_SIZE) -> dict[str, list[list[str]]]:
    """The `size` most frequent entities of each kind in the whole store, as lists of surface
    forms (ties broken by name, so the result is deterministic)."""
    con = store.connect()
    try:
        meds = con.execute("SELECT drug, count(*) n FROM prescriptions WHERE drug IS NOT NULL "
                           "GROUP BY drug ORDER BY n DESC, drug").fetchall()
        labs = con.execute("SELECT d.label, count(*) n FROM labevents l JOIN d_labitems d "
                           "ON d.itemid = l.itemid WHERE d.label IS NOT NULL "
                           "GROUP BY d.label ORDER BY n DESC, d.label LIMIT ?", [size * 2]).fetchall()
        dxs = con.execute("SELECT dd.long_title, count(*) n FROM diagnoses_icd d JOIN d_icd_diagnoses dd "
                          "ON dd.icd_code = d.icd_code AND dd.icd_version = d.icd_version "
                          "WHERE NOT ((d.icd_version = 10 AND upper(d.icd_code[1]) IN ('V','W','X','Y')) "
                          "OR (d.icd_version = 9 AND upper(d.icd_code[1]) = 'E')) "
                          "GROUP BY dd.long_title ORDER BY n DESC, dd.long_title LIMIT ?",
                          [size * 2]).fetchall()
    finally:
        con.close()
    out: dict[str, list[list[str]]] = {}
    for kind, rows, fn in (("medications", meds, med_forms), ("labs", labs, lab_forms),
                           ("diagnoses", dxs, dx_forms)):
        counts: dict[str, int] = {}
        forms_of: dict[str, list[str]] = {}
        for name, n in rows:  # several raw names collapse to one entity ('Furosemide 40mg Tab')
            forms = fn(name)
            if not forms:
                continue
            counts[forms[0]] = counts.get(forms[0], 0) + n
            forms_of.setdefault(forms[0], forms)
        top = sorted(counts, key=lambda k: (-counts[k], k))[:size]
        out[kind] = [forms_of[k] for k in top]
    return out


def packet_text(pk: dict) -> str:
    """All strings of the packet, padded-normalised (for 'is this entity in the packet?')."""
    parts: list[str] = []
    # depth-first, in document order (the order decides which words end up adjacent), with an
    # explicit stack: a packet holds ~5,000 values, one recursive call each was the cost
    stack = [v for k, v in reversed(pk.items()) if k not in ("provenance", "caps")]
    while stack:
        x = stack.pop()
        if isinstance(x, str):
            parts.append(x)
        elif isinstance(x, dict):
            stack.extend(reversed(x.values()))
        elif isinstance(x, list):
            stack.extend(reversed(x))
    return mention_text("\n".join(parts))


def packet_entities(pk: dict) -> dict[str, list[list[str]]]:
    """The packet's own medications, labs and diagnoses as surface-form lists."""
    meds = [med_forms(r.get("drug")) for r in pk.get("prescriptions", [])]
    meds += [med_forms(e.get("medication")) for e in pk.get("emar", [])]
    meds += [med_forms(p.get("medication")) for p in pk.get("pharmacy", [])]
    labs = [lab_forms(lab.get("label")) for lab in pk.get("labs", [])]
    dxs = [dx_forms(d.get("title")) for d in pk.get("diagnoses", [])]
    out = {}
    for kind, lists in (("medications", meds), ("labs", labs), ("diagnoses", dxs)):
        seen: dict[str, list[str]] = {}
        for forms in lists:
            if forms and forms[0] not in seen:
                seen[forms[0]] = forms
        out[kind] = [seen[k] for k in sorted(seen)]
    return out


def split_lexicon(lexicon: dict[str, list[list[str]]], pk: dict) -> tuple[dict, dict]:
    """(invented candidates, grounded entities) for one packet."""
    text = packet_text(pk)
    words = frozenset(text.split())
    own = packet_entities(pk)
    invented: dict[str, list[list[str]]] = {}
    grounded: dict[str, list[list[str]]] = {}
    for kind in ENTITY_KINDS:
        g = {forms[0]: forms for forms in own[kind]}
        own_forms = {f for forms in own[kind] for f in forms}
        inv = []
        for forms in lexicon.get(kind, []):
            if mentioned_in_words(forms, text, words) or own_forms.intersection(forms):
                g.setdefault(forms[0], forms)
            else:
                inv.append(forms)
        invented[kind] = inv
        grounded[kind] = [g[k] for k in sorted(g)]
    return invented, grounded


# ----------------------------------------------------------------------------- build

TEMPLATE_VERSION = "conversation-v1"


#: how a stored item gets its packet back (release.py, format 2)
CONTEXT_RULE = {"field": "packet", "key": "hadm_id"}


def build_conversation_task(ctx):
    """One item per admission with a packet; when the store has discharge notes, only admissions
    that have one (the conversation is meant to be grounded in a full record)."""
    from medbench.release import TaskOutput
    from medbench.tasks.base import make_item_id, split_for_subject

    adms = ctx.admissions()
    ctx.progress.start(len(adms))
    lexicon = store_lexicon(ctx.store)
    need_note = ctx.store.has("discharge")
    # Records stream to disk (flat memory at any scale); each packet is stored once, in the
    # release's conversation/contexts.jsonl, and the item names it by hadm_id (release.py).
    items, gold, packets = ctx.spool("items", "conversation"), ctx.spool("gold"), ctx.context_spool()
    skipped = 0
    fact_counts = {t: 0 for t in FACT_TYPES}
    for text, pk in ctx.iter_packet_dicts([a[1] for a in adms], with_text=True):
        ctx.progress.advance()
        if need_note and not pk.get("discharge_notes"):
            skipped += 1
            continue
        item_id = make_item_id("conversation", pk["hadm_id"], TEMPLATE_VERSION)
        facts = gold_facts(pk)
        for f in facts:
            fact_counts[f["type"]] += 1
        invented, grounded = split_lexicon(lexicon, pk)
        items.add({"item_id": item_id, "task": "conversation",
                   "split": split_for_subject(pk["subject_id"]), "subject_id": pk["subject_id"],
                   "hadm_id": pk["hadm_id"]})
        packets.add(pk["hadm_id"], pk, raw=text)
        gold.add({"item_id": item_id, "task": "conversation", "facts": facts, "lexicon": invented,
                     "grounded": grounded,
                     "admission_window": {"admittime": pk["admission"].get("admittime"),
                                          "dischtime": pk["admission"].get("dischtime")}})
    info = {"selection": "admissions_with_discharge_note" if need_note else "all_admissions",
            "admissions_without_note": skipped, "facts": fact_counts,
            "lexicon": f"top {LEXICON_SIZE} per kind, whole store"}
    return TaskOutput(items=items, gold=gold, info=info, contexts=packets, context=CONTEXT_RULE)
