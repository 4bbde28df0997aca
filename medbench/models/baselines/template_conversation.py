"""The `template` baseline: a deterministic, offline conversation generator grounded in a packet.

It walks the stay in time order (admission, transfers and ICU, daily rounds with the day's
abnormal labs, new medications, administrations, microbiology, imaging and procedures, then the
discharge) and says only what the packet holds. Phrasing varies with a seeded RNG (per seed and
admission), so the same packet and seed always give the same bytes. It is a baseline, not a model.
"""

from __future__ import annotations

import datetime as _dt
import random
import re
from collections import Counter, defaultdict

NAME = "template"
MAX_ROUND_DAYS = 10
PER_DAY = 3

_FMT = "%Y-%m-%d %H:%M:%S"
_ACKS = ("Okay, thank you for explaining.", "I understand.", "Thanks, doctor.", "Alright, that makes sense.",
         "Okay. Is that something to worry about?", "Good to know, thank you.")
_NURSE_ACKS = ("Okay, thank you.", "Thanks.", "Alright.")


def _ts(s: str | None) -> _dt.datetime | None:
    if not s:
        return None
    try:
        return _dt.datetime.fromisoformat(s.replace("T", " "))
    except ValueError:
        return None


def _lc(s: str | None) -> str:
    return (s or "").strip().lower()


def _title(s: str | None) -> str:
    s = (s or "").strip()
    return s[:1].lower() + s[1:] if s and not s[:2].isupper() else s


def _num(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _lab_sentence(lab: dict) -> str:
    raw = (lab.get("value") or "").strip()
    # MIMIC masks some values as '___'; the numeric value is the reliable one when present.
    value = _num(lab.get("valuenum")) if lab.get("valuenum") is not None else ("" if "___" in raw else raw)
    unit = f" {lab['unit']}" if lab.get("unit") else ""
    lo, hi, num = lab.get("ref_range_lower"), lab.get("ref_range_upper"), lab.get("valuenum")
    if num is not None and hi is not None and num > hi:
        judgement = f"which is above the normal range (up to {_num(hi)})"
    elif num is not None and lo is not None and num < lo:
        judgement = f"which is below the normal range (from {_num(lo)})"
    else:
        judgement = "which is flagged as abnormal"
    label = lab.get("label") or "a lab test"
    if value:
        return f"your {label} came back at {value}{unit}, {judgement}"
    return f"your {label} came back abnormal"


def _micro_sentence(m: dict) -> str:
    what = " ".join(x for x in (_lc(m.get("spec_type_desc")), _lc(m.get("test_name"))) if x) or "culture"
    if m.get("org_name"):
        return f"the {what} grew {m['org_name']}"
    comment = (m.get("comments") or "").strip().rstrip(".")
    if comment and len(comment) <= 120:
        return f"the {what} result says: {comment}"
    return f"the {what} did not report an organism"


_IMPRESSION = re.compile(r"IMPRESSION:\s*(.+?)(?:\n\s*\n|$)", re.DOTALL | re.IGNORECASE)
_CHIEF = re.compile(r"Chief Complaint:\s*\n?\s*(.+)", re.IGNORECASE)


def _impression(text: str | None) -> str:
    text = text or ""
    m = _IMPRESSION.search(text)
    body = " ".join((m.group(1) if m else text).split())
    return body[:200].rstrip() + ("…" if len(body) > 200 else "")


def _disposition(loc: str | None) -> str:
    loc_l = _lc(loc)
    if not loc_l:
        return "discharged"
    if loc_l == "home":
        return "going home"
    if "home health" in loc_l:
        return "going home with home health care"
    if "hospice" in loc_l:
        return f"going to {loc_l}"
    return f"being discharged to {loc_l}"


def _spread(days: list, k: int) -> list:
    """k of `days`, always the first and last, the rest evenly spaced (deterministic)."""
    if len(days) <= k:
        return days
    idx = sorted({round(i * (len(days) - 1) / (k - 1)) for i in range(k)})
    return [days[i] for i in idx]


def generate_conversation(packet: dict, seed: int = 0) -> dict:
    """A conversation dict ({"turns": [...]}) for the admission in `packet`."""
    rng = random.Random(f"medbench-template|{seed}|{packet.get('hadm_id')}")
    adm = packet["admission"]
    start = _ts(adm.get("admittime")) or _dt.datetime(2000, 1, 1)
    end = _ts(adm.get("dischtime")) or start
    end = max(end, start)
    death = _ts(adm.get("deathtime"))
    events: list[tuple[_dt.datetime, int, str, str]] = []
    seq = 0

    def say(t: _dt.datetime | None, speaker: str, text: str) -> None:
        nonlocal seq
        seq += 1
        events.append((t or start, seq, speaker, text))

    def ack(t: _dt.datetime, nurse: bool = False) -> None:
        say(t, "patient", rng.choice(_NURSE_ACKS if nurse else _ACKS))

    diagnoses = packet.get("diagnoses") or []
    primary = _title(diagnoses[0]["title"]) if diagnoses and diagnoses[0].get("title") else None
    services = [s["curr_service"] for s in packet.get("services") or [] if s.get("curr_service")]

    # --- admission
    t = start + _dt.timedelta(minutes=5)
    where = _lc(adm.get("admission_location"))
    say(t, "doctor", "Hello, I'm the doctor looking after you this admission."
        + (f" I see you came to us from the {where}." if where else "") + " What brought you in?")
    chief = None
    for note in packet.get("discharge_notes") or []:
        m = _CHIEF.search(note.get("text") or "")
        if m and m.group(1).strip():
            chief = m.group(1).strip().rstrip(".")
            break
    say(t + _dt.timedelta(minutes=1), "patient",
        f"Mainly {chief.lower()}." if chief else "I haven't been feeling right, so I came to the hospital.")
    kind = _lc(adm.get("admission_type"))
    kind = "as an emergency" if "emer" in kind else f"({kind})" if kind else "to the hospital"
    plan = f"We're admitting you {kind}"
    if services:
        plan += f" under the {services[0]} service"
    plan += "."
    if primary:
        plan += f" The main problem we're treating is {primary}."
    say(t + _dt.timedelta(minutes=2), "doctor", plan)
    ack(t + _dt.timedelta(minutes=3))

    # --- transfers and ICU
    last_unit = None
    for tr in packet.get("transfers") or []:
        ti = _ts(tr.get("intime"))
        unit = tr.get("careunit")
        moved = unit and unit != last_unit  # MIMIC repeats a unit on bed moves; say it once
        last_unit = unit or last_unit
        if tr.get("eventtype") == "transfer" and moved and ti and ti > start:
            say(ti, "nurse", f"We're moving you to {tr['careunit']} now.")
            ack(ti + _dt.timedelta(minutes=1), nurse=True)
    for icu in packet.get("icu_stays") or []:
        ti = _ts(icu.get("intime"))
        if ti and icu.get("first_careunit"):
            say(ti + _dt.timedelta(minutes=10), "doctor",
                f"You need closer monitoring, so you'll be cared for in the {icu['first_careunit']} for now.")
            ack(ti + _dt.timedelta(minutes=11))

    # --- daily rounds: what happened each day
    by_day: dict[_dt.date, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for lab in packet.get("labs") or []:
        tl = _ts(lab.get("charttime"))
        if tl and lab.get("flag"):
            by_day[tl.date()]["labs"].append(lab)
    seen_drugs: set[str] = set()
    for rx in packet.get("prescriptions") or []:
        tr_ = _ts(rx.get("starttime"))
        drug = (rx.get("drug") or "").strip()
        if tr_ and drug and drug.lower() not in seen_drugs:
            seen_drugs.add(drug.lower())
            by_day[tr_.date()]["rx"].append(rx)
    for e in packet.get("emar") or []:
        te = _ts(e.get("charttime"))
        if te and e.get("medication") and _lc(e.get("event_txt")) in ("administered", "started", "applied"):
            by_day[te.date()]["emar"].append(e)
    for m in packet.get("microbiology") or []:
        tm = _ts(m.get("charttime")) or _ts(m.get("chartdate"))
        if tm:
            by_day[tm.date()]["micro"].append(m)
    for p in packet.get("procedures") or []:
        tp = _ts(p.get("chartdate") + " 00:00:00" if p.get("chartdate") else None)
        if tp and p.get("title"):
            by_day[tp.date()]["proc"].append(p)
    for n in packet.get("radiology_notes") or []:
        tn = _ts(n.get("charttime"))
        if tn:
            by_day[tn.date()]["rad"].append(n)

    for day in _spread(sorted(by_day), MAX_ROUND_DAYS):
        ev = by_day[day]
        morning = _dt.datetime.combine(day, _dt.time(9, 0))
        for e in ev["emar"][:2]:
            te = _ts(e["charttime"])
            say(te, "nurse", f"I'm giving you your {e['medication']} now.")
            ack(te, nurse=True)
        for p in ev["proc"][:PER_DAY]:
            tp = _dt.datetime.combine(day, _dt.time(10, 0))
            say(tp, "doctor", f"Today you're having a procedure: {_title(p['title'])}.")
            ack(tp)
        lines = []
        labs_seen: set[str] = set()
        for lab in ev["labs"]:
            if lab.get("label") not in labs_seen and len(labs_seen) < PER_DAY:
                labs_seen.add(lab.get("label"))
                lines.append(_lab_sentence(lab))
        if lines:
            t_lab = max(morning, max(_ts(x["charttime"]) for x in ev["labs"][:1]))
            say(t_lab, "doctor", "Let's go over today's results: " + "; ".join(lines) + ".")
            ack(t_lab)
        for m in ev["micro"][:2]:
            tm = max(morning, _ts(m.get("charttime")) or morning)
            say(tm, "doctor", f"About your cultures: {_micro_sentence(m)}.")
            ack(tm)
        for n in ev["rad"][:2]:
            tn = _ts(n["charttime"])
            say(tn, "doctor", f"Your imaging report is back. It says: {_impression(n.get('text'))}")
            ack(tn)
        rx_day = ev["rx"][:PER_DAY]
        if rx_day:
            tr_ = max(_ts(r["starttime"]) for r in rx_day)
            meds = ", ".join(" ".join(x for x in (r["drug"], r.get("dose_val_rx"), r.get("dose_unit_rx"))
                                      if x) + (f" ({_lc(r['route'])})" if r.get("route") else "")
                             for r in rx_day)
            say(tr_, "doctor", f"We're starting you on {meds}.")
            ack(tr_)

    vitals = {v["vital"]: v for v in packet.get("vitals") or []}
    if "heart_rate" in vitals:
        hr = vitals["heart_rate"]
        t_v = _ts(hr.get("last_time")) or end
        say(t_v, "nurse", f"Your heart rate has ranged from {_num(hr['min'])} to {_num(hr['max'])} "
            f"beats per minute during your stay; the latest was {_num(hr['last'])}.")
        ack(t_v, nurse=True)

    # --- discharge (or the end of the stay)
    t_end = death or end
    t_d = max(start, t_end - _dt.timedelta(minutes=30))
    parts = []
    if diagnoses:
        names = [_title(d["title"]) for d in diagnoses[:3] if d.get("title")]
        if names:
            parts.append("the diagnoses for this stay were " + ", ".join(names))
    counts = Counter((r.get("drug") or "").strip() for r in packet.get("prescriptions") or [] if r.get("drug"))
    key_meds = [d for d, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].lower()))[:3]]
    if key_meds:
        parts.append("the main medications were " + ", ".join(key_meds))
    procs = [_title(p["title"]) for p in packet.get("procedures") or [] if p.get("title")][:3]
    if procs:
        parts.append("you had " + ", ".join(procs))
    micro_pos = sorted({m["org_name"] for m in packet.get("microbiology") or [] if m.get("org_name")})
    if micro_pos:
        parts.append("your cultures grew " + ", ".join(micro_pos[:3]))
    summary = ("To sum up, " + "; ".join(parts) + ".") if parts else "To sum up your stay."
    if death is not None:
        say(t_d, "doctor", summary.replace("you had", "the patient had").replace("your cultures", "the cultures")
            .replace("this stay", "this admission"))
        say(t_end, "nurse", f"The patient was pronounced dead at {death.strftime('%H:%M')}. "
            "I'll let the family know the doctor will speak with them.")
        say(t_end, "doctor", "Thank you. I'll document it and call the family now.")
    else:
        say(t_d, "doctor", summary)
        say(t_d + _dt.timedelta(minutes=1), "patient", "What happens now?")
        say(t_d + _dt.timedelta(minutes=2), "doctor",
            f"You're {_disposition(adm.get('discharge_location'))} today. Please keep taking your "
            "medications as prescribed and come back if anything gets worse.")
        say(t_d + _dt.timedelta(minutes=3), "patient", "Thank you for everything.")

    turns = []
    prev = start
    for t_e, _, speaker, text in sorted(events, key=lambda e: (e[0], e[1])):
        t_c = min(max(t_e, start, prev), end)  # inside the stay, never back in time
        prev = t_c
        turns.append({"timestamp": t_c.strftime(_FMT), "speaker": speaker, "text": text})
    return {"turns": turns}


def build_template(view, seed: int):
    """`baseline:template`: reads the packet only (no train data; `view` may be None)."""
    from medbench.io import canonical_json

    def predict(item: dict) -> str:
        return canonical_json(generate_conversation(item["packet"], seed=seed))

    return predict, {"name": "template", "seed": seed}


build_template.needs_release = False  # type: ignore[attr-defined]
